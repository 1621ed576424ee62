"""Every doctor check in order over one set of boto3 clients; a check that needs credentials waits for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.doctor import identity, image, model_monitor, network, quotas, role, storage
from pipelines.doctor.result import CANNOT_TELL, CheckResult
from pipelines.doctor.simulate import Target, pipeline_needs

# the image account of the us-east-1 XGBoost image, used for the ECR row when the image check fails
DEFAULT_IMAGE_ACCOUNT = "683313688378"


@dataclass(frozen=True)
class DoctorClients:
    """The boto3 clients the checks call (one region)."""

    sts: Any
    iam: Any
    s3: Any
    kms: Any
    ec2: Any
    service_quotas: Any
    sagemaker: Any

    @classmethod
    def from_session(cls, session) -> DoctorClients:
        """Clients of a ``boto3.Session``."""
        names = ("sts", "iam", "s3", "kms", "ec2", "service-quotas", "sagemaker")
        return cls(*(session.client(name) for name in names))


def run_checks(config, clients: DoctorClients) -> list[CheckResult]:
    """All rows for ``config`` (a ``pipelines.config.Config``); checks not applicable to it are left out."""
    sm, region = config.sagemaker, config.project.region
    first, caller = identity.check_credentials(clients.sts, region)
    image_row, uri = image.check_image(region, sm.framework_version) if region else (None, None)
    rows = [first] + ([image_row] if image_row else [])
    if caller is None:
        return rows + [
            CheckResult(n, CANNOT_TELL, "needs credentials", "fix the first row") for n in _aws_names(config)
        ]
    key_arn, key_row = storage.resolve_key(clients.kms, sm.kms_key_id) if sm.kms_key_id else (None, None)
    account = image.image_account(uri) if uri else DEFAULT_IMAGE_ACCOUNT
    partition = caller.arn.split(":")[1]
    target = Target(caller.account, region, sm.bucket, account, key_arn, tuple(sm.subnets), partition)
    needs = pipeline_needs(target)
    rows += [
        role.check_trust(clients.iam, sm.role_arn),
        role.check_permissions(clients.iam, sm.role_arn, needs),
        identity.check_pass_role(clients.iam, caller, sm.role_arn),
    ]
    rows.append(bucket_row := storage.check_bucket(clients.s3, sm.bucket, region))
    if sm.bucket and bucket_row.status != "fail":
        rows.append(storage.check_encryption(clients.s3, sm.bucket, key_arn, clients.kms))
        rows.append(storage.check_versioning(clients.s3, sm.bucket))
    if sm.kms_key_id:
        rows.append(key_row or storage.check_key_policy(clients.kms, key_arn or "", sm.role_arn, caller.account))
    rows += quotas.check_quotas(clients.service_quotas, quotas.wanted(sm, config.serving), region)
    if sm.subnets:
        rows.append(network.check_endpoints(clients.ec2, sm.subnets, region))
    if config.monitoring.engine == "model-monitor":
        rows.append(model_monitor.check_model_monitor(clients.sagemaker))
    return rows


def _aws_names(config) -> list[str]:
    """The rows that need credentials, named as when they run."""
    sm = config.sagemaker
    names = [role.TRUST, role.PERMISSIONS, identity.PASS_ROLE, storage.BUCKET]
    names += [storage.KEY_POLICY] if sm.kms_key_id else []
    names += [f"quota: {w.quota_name}" for w in quotas.wanted(sm, config.serving)]
    names += [network.ENDPOINTS] if sm.subnets else []
    names += [model_monitor.MODEL_MONITOR] if config.monitoring.engine == "model-monitor" else []
    return names
