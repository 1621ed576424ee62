"""What one doctor check returns, and the helpers every check shares to turn an AWS error into a result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

Status = Literal["pass", "fail", "cannot-tell"]
PASS: Status = "pass"
FAIL: Status = "fail"
CANNOT_TELL: Status = "cannot-tell"
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError")


@dataclass(frozen=True)
class CheckResult:
    """One row of the doctor's table: what was checked, its outcome, what was found and the one-line fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        """The row as JSON-ready text."""
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def error_code(exc: Exception) -> str:
    """The AWS error code of a ``ClientError`` ("" for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_denied(exc: Exception) -> bool:
    """Whether the caller was refused the call (its own permissions, not the thing checked)."""
    return error_code(exc) in DENIED_CODES


def unknown(name: str, what: str, exc: Exception, fix: str = "") -> CheckResult:
    """A cannot-tell row for a call that failed for a reason other than the checked thing's state."""
    if isinstance(exc, NoCredentialsError):
        return CheckResult(name, CANNOT_TELL, f"{what}: no AWS credentials", "configure a profile or role first")
    if is_denied(exc):
        return CheckResult(name, CANNOT_TELL, f"{what}: refused to the caller ({error_code(exc)})", fix)
    reason = f"{error_code(exc)}: {exc}" if isinstance(exc, ClientError) else str(exc)
    return CheckResult(name, CANNOT_TELL, f"{what} failed: {reason}", fix or "rerun; check the network and region")


AWS_ERRORS = (ClientError, BotoCoreError)
