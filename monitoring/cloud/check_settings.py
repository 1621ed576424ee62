"""Settings of the scheduled data-quality check: the check Lambda's environment, set by the stack's parameters, and
the live pointer that says which model version (and so which baselines) each check compares with.

The pointer is one JSON object, ``s3://<bucket>/<pipeline>/monitoring/<endpoint>/live.json``, written whole by
``mlops deploy --backend sagemaker`` (and ``mlops monitor repoint`` / ``mlops monitor deploy``) with one PutObject, so
a check reads either the previous version's statistics *and* constraints or the new version's, never a mix; a deploy
repoints monitoring without a stack update.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from monitoring.cloud.s3util import split_s3_uri

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
PREFIX_MAX = 63 - len("-yyyymmddhh-12345678")  # room for the checked hour and the execution id's digest
STAGED_PREFIX_MAX = PREFIX_MAX - len("-p")  # with several instances: the stage's mark too (<prefix>-p-, <prefix>-m-)
OPTIONAL_URIS = ("BASELINE_STATISTICS_URI", "BASELINE_CONSTRAINTS_URI", "LIVE_POINTER_URI")
POINTER_NAME = "live.json"
POINTER_SCHEMA = 1


def pointer_uri(bucket: str, pipeline: str, endpoint: str) -> str:
    """Where the live pointer of ``endpoint`` lives: ``s3://<bucket>/<pipeline>/monitoring/<endpoint>/live.json``."""
    if not (bucket and pipeline and endpoint):
        raise ValueError(
            f"the live pointer needs a bucket, a pipeline and an endpoint, got {(bucket, pipeline, endpoint)}"
        )
    return f"s3://{bucket}/{pipeline}/monitoring/{endpoint}/{POINTER_NAME}"


@dataclass(frozen=True)
class LivePointer:
    """The model version live on an endpoint and the drift-check baselines its monitoring compares with."""

    endpoint_name: str
    model_package_group: str
    model_package_version: int
    model_package_arn: str
    baseline_statistics_uri: str
    baseline_constraints_uri: str
    updated_at: str  # ISO-8601 UTC time of the write
    # the version's model-quality baseline (DriftCheckBaselines.ModelQuality); empty when it has none. Optional, so
    # a pointer written before model-quality monitoring still reads (schema 1 either way)
    model_quality_statistics_uri: str = ""
    model_quality_constraints_uri: str = ""
    schema: int = POINTER_SCHEMA

    @property
    def reference(self) -> str:
        return f"{self.model_package_group}/{self.model_package_version}"

    def to_json(self) -> bytes:
        """The object's body (indented, sorted keys)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes, where: str) -> LivePointer:
        """Parse and check a pointer's body; ValueError naming ``where``, the field and what it must be."""
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValueError(f"live pointer {where} is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"live pointer {where} must be a JSON object, got {type(data).__name__}")
        if data.get("schema") != POINTER_SCHEMA:
            raise ValueError(f"live pointer {where}: schema must be {POINTER_SCHEMA}, got {data.get('schema')!r}")
        fields: dict[str, Any] = {}
        for name in ("endpoint_name", "model_package_group", "model_package_arn", "updated_at"):
            value = data.get(name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"live pointer {where}: {name} must be a non-empty string, got {value!r}")
            fields[name] = value
        for name in ("baseline_statistics_uri", "baseline_constraints_uri"):
            fields[name] = data.get(name)
            split_s3_uri(fields[name], f"live pointer {where}: {name}")
        for name in ("model_quality_statistics_uri", "model_quality_constraints_uri"):
            value = data.get(name) or ""
            if value:
                split_s3_uri(value, f"live pointer {where}: {name}")
            fields[name] = value
        version = data.get("model_package_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"live pointer {where}: model_package_version must be a positive integer, got {version!r}")
        return cls(model_package_version=version, **fields)


def read_pointer(s3, uri: str) -> LivePointer | None:
    """The live pointer at ``uri``, or None when there is none yet. It is listed first (ListObjectsV2 of exactly its
    key), so a missing pointer is told from a denied one without listing anything else."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3_uri(uri, "LIVE_POINTER_URI")
    operation = "ListObjectsV2"
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
        if not any(item.get("Key") == key for item in listed):
            return None
        operation = "GetObject"
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if operation == "GetObject" and error.get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise RuntimeError(
            f"{operation} {uri} (the live pointer) failed ({error.get('Code', 'unknown')}): {error.get('Message', exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise RuntimeError(f"{operation} {uri} (the live pointer) failed ({type(exc).__name__}): {exc}") from exc
    return LivePointer.from_json(body, uri)


@dataclass(frozen=True)
class EnvReader:
    """Typed reads of a Lambda function's environment; ValueError naming the variable and what it must be."""

    env: Mapping[str, str]

    def need(self, name: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            raise ValueError(f"environment variable {name} is not set (it comes from the monitoring stack)")
        return value

    def integer(self, name: str) -> int:
        value = self.need(name)
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"environment variable {name} must be a positive integer, got {value!r}")
        return int(value)

    def flag(self, name: str) -> bool:
        value = self.env.get(name, "false").strip().lower()
        if value not in ("true", "false"):
            raise ValueError(f"environment variable {name} must be true or false, got {value!r}")
        return value == "true"

    def items(self, name: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.env.get(name, "").split(",") if v.strip())


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
    live_pointer_uri: str = ""  # where the deploy writes the live version and its baselines (preferred when present)

    @property
    def has_baselines(self) -> bool:
        return bool(self.baseline_statistics_uri and self.baseline_constraints_uri)

    def with_pointer(self, pointer: LivePointer) -> CheckSettings:
        """These settings checking against ``pointer``'s baselines; ValueError if it names another endpoint."""
        if pointer.endpoint_name != self.endpoint_name:
            raise ValueError(
                f"live pointer {self.live_pointer_uri} is for endpoint {pointer.endpoint_name!r}, "
                f"expected {self.endpoint_name!r}"
            )
        return replace(
            self,
            baseline_statistics_uri=pointer.baseline_statistics_uri,
            baseline_constraints_uri=pointer.baseline_constraints_uri,
            serving_model_package_arn=pointer.model_package_arn,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CheckSettings:
        """Read and check the environment; ValueError naming the variable and what it must be."""

        read = EnvReader(env)
        need, integer, flag, items = read.need, read.integer, read.flag, read.items
        baseline_statistics = env.get("BASELINE_STATISTICS_URI", "").strip()
        baseline_constraints = env.get("BASELINE_CONSTRAINTS_URI", "").strip()
        if bool(baseline_statistics) != bool(baseline_constraints):
            raise ValueError("BASELINE_STATISTICS_URI and BASELINE_CONSTRAINTS_URI must be both set or both empty")
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
            live_pointer_uri=env.get("LIVE_POINTER_URI", "").strip(),
        )
        if len(settings.job_name_prefix) > PREFIX_MAX or not JOB_NAME.match(settings.job_name_prefix):
            raise ValueError(
                f"JOB_NAME_PREFIX must be 1-{PREFIX_MAX} letters, digits or hyphens, got {settings.job_name_prefix!r}"
            )
        if settings.instance_count > 1 and len(settings.job_name_prefix) > STAGED_PREFIX_MAX:
            raise ValueError(
                f"JOB_NAME_PREFIX must be at most {STAGED_PREFIX_MAX} characters with INSTANCE_COUNT "
                f"{settings.instance_count} (the profile and merge jobs add -p- / -m-), "
                f"got {settings.job_name_prefix!r}"
            )
        if bool(settings.subnets) != bool(settings.security_group_ids):
            raise ValueError("SUBNET_IDS and SECURITY_GROUP_IDS must be both set or both empty")
        settings.check_uris()
        return settings

    def check_uris(self) -> None:
        """Every URI is an s3:// URI (the optional ones when set); ValueError naming the variable."""
        for name, uri in (
            ("CAPTURE_S3_URI", self.capture_uri),
            ("REPORTS_S3_URI", self.reports_uri),
            ("LIB_S3_URI", self.lib_uri),
            ("BASELINE_STATISTICS_URI", self.baseline_statistics_uri),
            ("BASELINE_CONSTRAINTS_URI", self.baseline_constraints_uri),
            ("LIVE_POINTER_URI", self.live_pointer_uri),
        ):
            if uri or name not in OPTIONAL_URIS:
                split_s3_uri(uri, name)


def live_settings(settings: CheckSettings, s3) -> tuple[CheckSettings, str]:
    """``settings`` with the baselines of the live pointer when there is one; and where the baselines came from."""
    if settings.live_pointer_uri:
        pointer = read_pointer(s3, settings.live_pointer_uri)
        if pointer is not None:
            return settings.with_pointer(pointer), f"{pointer.reference} (live pointer {settings.live_pointer_uri})"
    if settings.has_baselines:
        return settings, "the monitoring stack's baseline parameters"
    return settings, ""
