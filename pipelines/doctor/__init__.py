"""``mlops doctor``: checks an AWS account and the configuration before the first pipeline run (see runner)."""

from pipelines.doctor.result import CANNOT_TELL, FAIL, PASS, CheckResult, Status
from pipelines.doctor.runner import DoctorClients, run_checks
from pipelines.doctor.table import exit_code, render_json, render_table

__all__ = [
    "CANNOT_TELL",
    "FAIL",
    "PASS",
    "CheckResult",
    "DoctorClients",
    "Status",
    "exit_code",
    "render_json",
    "render_table",
    "run_checks",
]
