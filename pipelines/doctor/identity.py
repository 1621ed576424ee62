"""Who is calling: credentials and region (sts get-caller-identity), and whether the caller may pass the role."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.doctor.result import AWS_ERRORS, CANNOT_TELL, FAIL, PASS, CheckResult, unknown
from pipelines.doctor.simulate import Need, denied

CREDENTIALS = "credentials and region"
PASS_ROLE = "iam:PassRole for the caller"
SIMULATE_FIX = "grant the caller iam:SimulatePrincipalPolicy, or check the policies by hand"


@dataclass(frozen=True)
class Caller:
    """The caller's account, its ARN as STS says it, and the IAM principal its policies belong to."""

    account: str
    arn: str
    principal_arn: str | None  # None: no IAM principal to simulate (root, federated user)


def principal_of(arn: str) -> str | None:
    """The IAM principal ARN of a caller ARN: an assumed-role session maps to its role; root and federated to None."""
    partition_account = arn.split(":")[1], arn.split(":")[4]
    resource = arn.split(":", 5)[5]
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return f"arn:{partition_account[0]}:iam::{partition_account[1]}:role/{role}"
    if resource.startswith(("user/", "role/")):
        return arn
    return None


def check_credentials(sts, region: str | None) -> tuple[CheckResult, Caller | None]:
    """Credentials that STS accepts, in a configured region."""
    if not region:
        fix = "set project.region in mlops.yaml, or AWS_REGION"
        return CheckResult(CREDENTIALS, FAIL, "no region configured", fix), None
    try:
        identity = sts.get_caller_identity()
    except AWS_ERRORS as exc:
        fix = "configure credentials: aws configure / AWS_PROFILE / aws sso login"
        return CheckResult(CREDENTIALS, FAIL, f"sts get-caller-identity failed: {exc}", fix), None
    caller = Caller(identity["Account"], identity["Arn"], principal_of(identity["Arn"]))
    return CheckResult(CREDENTIALS, PASS, f"{caller.arn} in account {caller.account}, region {region}"), caller


def _resolve_role(iam, principal_arn: str) -> str:
    """A role ARN with its path (an assumed-role ARN loses it); unchanged when the role cannot be read."""
    if ":role/" not in principal_arn:
        return principal_arn
    try:
        return str(iam.get_role(RoleName=principal_arn.rsplit("/", 1)[1])["Role"]["Arn"])
    except AWS_ERRORS:
        return principal_arn


def check_pass_role(iam, caller: Caller, role_arn: str | None) -> CheckResult:
    """The caller may pass the execution role to SageMaker (run-pipeline and deploy do)."""
    if not role_arn:
        return CheckResult(PASS_ROLE, FAIL, "no execution role configured", "run mlops bootstrap, or set role_arn")
    if caller.principal_arn is None:
        kind = "the account root (may pass any role)" if caller.arn.endswith(":root") else caller.arn
        return CheckResult(PASS_ROLE, CANNOT_TELL, f"no IAM principal to simulate for {kind}", "use an IAM role")
    principal = _resolve_role(iam, caller.principal_arn)
    need = Need(
        "pass to SageMaker", ("iam:PassRole",), (role_arn,), (("iam:PassedToService", "sagemaker.amazonaws.com"),)
    )
    try:
        missing = denied(iam, principal, [need])
    except AWS_ERRORS as exc:
        return unknown(PASS_ROLE, f"simulating {principal}", exc, SIMULATE_FIX)
    if missing:
        fix = f"allow iam:PassRole on {role_arn} (iam:PassedToService sagemaker.amazonaws.com) to {principal}"
        return CheckResult(PASS_ROLE, FAIL, f"{principal} may not pass {role_arn}", fix)
    return CheckResult(PASS_ROLE, PASS, f"{principal} may pass {role_arn} to SageMaker")
