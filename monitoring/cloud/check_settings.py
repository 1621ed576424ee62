"""Settings of the scheduled data-quality check: the check Lambda's environment, set by the stack's parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from monitoring.cloud.s3util import split_s3_uri

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
PREFIX_MAX = 63 - len("-yyyymmddhh-12345678")  # room for the checked hour and the execution id's digest


@dataclass(frozen=True)
class CheckSettings:
    """What every check of this endpoint shares; the Lambda's environment, set by the stack's parameters."""

    job_name_prefix: str
    endpoint_name: str
    schedule_name: str
    capture_uri: str  # <capture destination>/<endpoint>/<variant>
    reports_uri: str  # the reports destination; jobs write <it>/<endpoint>/<schedule>/yyyy/mm/dd/hh
    lib_uri: str  # the staged lib/ prefix (monitoring/*.py), put on PYTHONPATH
    image_uri: str
    role_arn: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    baseline_statistics_uri: str
    baseline_constraints_uri: str
    region: str
    kms_key_id: str = ""
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    network_isolation: bool = False
    inter_container_encryption: bool = False
    serving_model_package_arn: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CheckSettings:
        """Read and check the environment; ValueError naming the variable and what it must be."""

        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ValueError(f"environment variable {name} is not set (it comes from the monitoring stack)")
            return value

        def integer(name: str) -> int:
            value = need(name)
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"environment variable {name} must be a positive integer, got {value!r}")
            return int(value)

        def flag(name: str) -> bool:
            value = env.get(name, "false").strip().lower()
            if value not in ("true", "false"):
                raise ValueError(f"environment variable {name} must be true or false, got {value!r}")
            return value == "true"

        def items(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())

        baseline_statistics = env.get("BASELINE_STATISTICS_URI", "").strip()
        baseline_constraints = env.get("BASELINE_CONSTRAINTS_URI", "").strip()
        if not (baseline_statistics and baseline_constraints):
            raise ValueError(
                "BASELINE_STATISTICS_URI and BASELINE_CONSTRAINTS_URI are not set: no model version with drift-check "
                "baselines has been deployed yet (deploy one, then repoint the monitoring at it)"
            )
        settings = cls(
            job_name_prefix=need("JOB_NAME_PREFIX"),
            endpoint_name=need("ENDPOINT_NAME"),
            schedule_name=need("MONITORING_SCHEDULE_NAME"),
            capture_uri=need("CAPTURE_S3_URI").rstrip("/"),
            reports_uri=need("REPORTS_S3_URI").rstrip("/"),
            lib_uri=need("LIB_S3_URI").rstrip("/"),
            image_uri=need("IMAGE_URI"),
            role_arn=need("ROLE_ARN"),
            instance_type=need("INSTANCE_TYPE"),
            instance_count=integer("INSTANCE_COUNT"),
            volume_size_gb=integer("VOLUME_SIZE_GB"),
            max_runtime_seconds=integer("MAX_RUNTIME_SECONDS"),
            baseline_statistics_uri=baseline_statistics,
            baseline_constraints_uri=baseline_constraints,
            region=need("AWS_REGION"),
            kms_key_id=env.get("KMS_KEY_ID", "").strip(),
            subnets=items("SUBNET_IDS"),
            security_group_ids=items("SECURITY_GROUP_IDS"),
            network_isolation=flag("ENABLE_NETWORK_ISOLATION"),
            inter_container_encryption=flag("ENABLE_INTER_CONTAINER_ENCRYPTION"),
            serving_model_package_arn=env.get("SERVING_MODEL_PACKAGE_ARN", "").strip(),
        )
        if len(settings.job_name_prefix) > PREFIX_MAX or not JOB_NAME.match(settings.job_name_prefix):
            raise ValueError(
                f"JOB_NAME_PREFIX must be 1-{PREFIX_MAX} letters, digits or hyphens, got {settings.job_name_prefix!r}"
            )
        if bool(settings.subnets) != bool(settings.security_group_ids):
            raise ValueError("SUBNET_IDS and SECURITY_GROUP_IDS must be both set or both empty")
        for name, uri in (
            ("CAPTURE_S3_URI", settings.capture_uri),
            ("REPORTS_S3_URI", settings.reports_uri),
            ("LIB_S3_URI", settings.lib_uri),
            ("BASELINE_STATISTICS_URI", settings.baseline_statistics_uri),
            ("BASELINE_CONSTRAINTS_URI", settings.baseline_constraints_uri),
        ):
            split_s3_uri(uri, name)
        return settings
