"""Whether SageMaker Model Monitor is usable by this account (it is closed to new customers)."""

from __future__ import annotations

from pipelines.doctor.result import AWS_ERRORS, CANNOT_TELL, FAIL, PASS, CheckResult, is_denied, unknown

MODEL_MONITOR = "Model Monitor"
PROCESSING_FIX = "set monitoring.engine: processing (the same analyzer as a plain Processing job, any account)"
CLOSED_WORDS = ("new customers", "not available", "not enabled", "not subscribed", "opt in", "opted in")


def check_model_monitor(sagemaker) -> CheckResult:
    """Pass when the account already has monitoring schedules; fail when SageMaker refuses the account; otherwise
    cannot-tell: Model Monitor is closed to new customers, and only creating a schedule would show it."""
    try:
        schedules = sagemaker.list_monitoring_schedules(MaxResults=1)["MonitoringScheduleSummaries"]
    except AWS_ERRORS as exc:
        message = str(exc).lower()
        if any(word in message for word in CLOSED_WORDS):
            return CheckResult(MODEL_MONITOR, FAIL, f"SageMaker refuses Model Monitor here: {exc}", PROCESSING_FIX)
        if is_denied(exc):
            return unknown(MODEL_MONITOR, "sagemaker list-monitoring-schedules", exc, PROCESSING_FIX)
        return unknown(MODEL_MONITOR, "sagemaker list-monitoring-schedules", exc)
    if schedules:
        return CheckResult(MODEL_MONITOR, PASS, "the account has monitoring schedules: it can use Model Monitor")
    detail = "no monitoring schedule yet; Model Monitor is closed to new customers, an account new to it is refused"
    return CheckResult(MODEL_MONITOR, CANNOT_TELL, detail, PROCESSING_FIX + ", or ask AWS to enable it")
