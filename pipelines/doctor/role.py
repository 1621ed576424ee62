"""The execution role: SageMaker may assume it, and its policies allow what the pipeline's jobs do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import unquote

from pipelines.doctor.result import AWS_ERRORS, FAIL, PASS, CheckResult, error_code, unknown
from pipelines.doctor.simulate import Need, denied

TRUST = "execution role trust"
PERMISSIONS = "execution role permissions"
SERVICE = "sagemaker.amazonaws.com"
NO_ROLE_FIX = "run mlops bootstrap --backend sagemaker, or set sagemaker.role_arn in mlops.yaml"


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def trusts_sagemaker(document: dict | str) -> bool:
    """Whether a trust policy lets sagemaker.amazonaws.com call sts:AssumeRole."""
    policy = json.loads(unquote(document)) if isinstance(document, str) else document
    for statement in _listed(policy.get("Statement", [])):
        principal = statement.get("Principal", {})
        services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        actions = _listed(statement.get("Action", []))
        if (
            statement.get("Effect") == "Allow"
            and SERVICE in services
            and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions)
        ):
            return True
    return False


def check_trust(iam, role_arn: str | None) -> CheckResult:
    """The role exists and SageMaker may assume it."""
    if not role_arn:
        return CheckResult(TRUST, FAIL, "no execution role configured (sagemaker.role_arn)", NO_ROLE_FIX)
    name = role_arn.rsplit("/", 1)[1]
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except AWS_ERRORS as exc:
        if error_code(exc) == "NoSuchEntity":
            return CheckResult(TRUST, FAIL, f"role {name} does not exist", NO_ROLE_FIX)
        return unknown(TRUST, f"iam get-role {name}", exc, "grant the caller iam:GetRole on the role")
    if not trusts_sagemaker(role["AssumeRolePolicyDocument"]):
        fix = f"add a trust statement: Allow sts:AssumeRole to Service {SERVICE} on role {name}"
        return CheckResult(TRUST, FAIL, f"{SERVICE} may not assume {name}", fix)
    return CheckResult(TRUST, PASS, f"{SERVICE} may assume {name}")


def check_permissions(iam, role_arn: str | None, needs: Sequence[Need]) -> CheckResult:
    """The role's policies allow every action the jobs make on their resources (iam:SimulatePrincipalPolicy)."""
    if not role_arn:
        return CheckResult(PERMISSIONS, FAIL, "no execution role configured (sagemaker.role_arn)", NO_ROLE_FIX)
    try:
        missing = denied(iam, role_arn, needs)
    except AWS_ERRORS as exc:
        if error_code(exc) == "NoSuchEntity":
            return CheckResult(PERMISSIONS, FAIL, f"role {role_arn} does not exist", NO_ROLE_FIX)
        fix = "grant the caller iam:SimulatePrincipalPolicy on the role, or check its policies by hand"
        return unknown(PERMISSIONS, "iam simulate-principal-policy", exc, fix)
    checked = ", ".join(need.what for need in needs)
    if missing:
        shown = "; ".join(missing[:4]) + (f"; and {len(missing) - 4} more" if len(missing) > 4 else "")
        fix = "grant these to the role (infrastructure/bootstrap.yaml's execution role has them)"
        return CheckResult(PERMISSIONS, FAIL, f"not allowed: {shown}", fix)
    return CheckResult(PERMISSIONS, PASS, f"allowed: {checked}")
