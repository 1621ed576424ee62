"""SageMaker service quotas (Service Quotas API, service code "sagemaker") against the instances the config asks for.

Quota names follow the documented pattern "<instance type> for <usage>", e.g. "ml.m5.xlarge for processing job usage";
the applied value comes from list_service_quotas, else the default from list_aws_default_service_quotas.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.doctor.result import AWS_ERRORS, FAIL, PASS, CheckResult, unknown

SERVICE_CODE = "sagemaker"


@dataclass(frozen=True)
class Want:
    """Instances of one type that one usage needs at once."""

    instance_type: str
    usage: str  # "processing job usage" | "training job usage" | "endpoint usage"
    count: int

    @property
    def quota_name(self) -> str:
        return f"{self.instance_type} for {self.usage}"


def wanted(sm, serving) -> list[Want]:
    """Each configured instance type and usage with its instance count (``sm``: SageMakerConfig; ``serving``); an
    autoscaled endpoint asks for its ``max_instances``, what it may scale out to."""
    wants = [
        Want(sm.processing_instance_type, "processing job usage", sm.processing_instance_count),
        Want(sm.training_instance_type, "training job usage", sm.training_instance_count),
    ]
    endpoint_types = dict.fromkeys([serving.instance_type, *sm.inference_instance_types])
    scaling = serving.autoscaling
    most = max(serving.instance_count, (scaling.max_instances or 0) if scaling.enabled else 0)
    wants.extend(Want(t, "endpoint usage", most) for t in endpoint_types)
    return wants


def quota_values(client) -> tuple[dict[str, tuple[float, str]], dict[str, tuple[float, str]]]:
    """(applied, default) quota values by name: (value, quota code)."""
    found: list[dict[str, tuple[float, str]]] = []
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        values: dict[str, tuple[float, str]] = {}
        for page in client.get_paginator(operation).paginate(ServiceCode=SERVICE_CODE):
            for quota in page["Quotas"]:
                values[quota["QuotaName"]] = (float(quota["Value"]), quota["QuotaCode"])
        found.append(values)
    return found[0], found[1]


def check_quotas(client, wants: list[Want], region: str) -> list[CheckResult]:
    """One row per instance type and usage: its quota is at least the count the config asks for."""
    try:
        applied, defaults = quota_values(client)
    except AWS_ERRORS as exc:
        fix = "grant the caller servicequotas:ListServiceQuotas and ListAWSDefaultServiceQuotas"
        return [unknown(f"quota: {w.quota_name}", "service-quotas list-service-quotas", exc, fix) for w in wants]
    return [_row(w, applied, defaults, region) for w in wants]


def _row(want: Want, applied: dict, defaults: dict, region: str) -> CheckResult:
    name = f"quota: {want.quota_name}"
    value, code = applied.get(want.quota_name) or defaults.get(want.quota_name) or (None, "")
    if value is None:
        fix = f"choose an instance type SageMaker offers in {region} for {want.usage}"
        return CheckResult(name, FAIL, f"no quota named '{want.quota_name}' in {region}", fix)
    if value < want.count:
        fix = (
            f"aws service-quotas request-service-quota-increase --service-code {SERVICE_CODE} "
            f"--quota-code {code} --desired-value {want.count} --region {region}"
        )
        return CheckResult(name, FAIL, f"quota {value:g}, the config asks for {want.count}", fix)
    return CheckResult(name, PASS, f"quota {value:g} >= {want.count} asked for")
