"""The HTML report of one local monitoring execution, as ``mlops monitor report`` and ``mlops demo`` write it.

The report compares the execution's statistics with the drift-check baseline of the model version it checked
against, lists its violations and read counts, and plots the drift trend of the endpoint's recent executions.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from monitoring.local.html_report import write_report
from pipelines.config import Config
from pipelines.invocation import command
from pipelines.monitor.executions import FAILED, NO_DATA, ExecutionLog, MonitoringExecution
from pipelines.objectstore import local_path
from pipelines.registry.factory import open_registry
from pipelines.registry.model import parse_reference

HISTORY = 24  # executions of the same endpoint in the drift trend, newest last
REPORT_FILE = "report.html"


def select_execution(state_dir: Path, execution_id: str | None = None) -> MonitoringExecution:
    """The execution to report on: ``execution_id``, else the latest; it must have produced check results."""
    log = ExecutionLog(state_dir)
    executions = log.all()
    if not executions:
        first = command("monitor", "run", "--state-dir", shlex.quote(str(state_dir)))
        raise ValueError(f"No monitoring executions under {state_dir}: run `{first}` first")
    execution = log.get(execution_id) if execution_id else executions[-1]
    if execution.status in (FAILED, NO_DATA):
        raise ValueError(f"Execution {execution.execution_id} is {execution.status}: {execution.message}")
    return execution


def drift_history(state_dir: Path, endpoint: str, limit: int = HISTORY) -> list[tuple[str, dict[str, float]]]:
    """``(window start, {feature: distance})`` of the endpoint's latest ``limit`` executions that measured drift."""
    executions = ExecutionLog(state_dir).all(endpoint)
    history = [(e.window_start, {d["feature"]: d["distance"] for d in e.drift}) for e in executions if e.drift]
    return history[-limit:] if limit > 0 else []


def write_execution_report(
    config: Config, state_dir: Path, execution_id: str | None = None, output: Path | None = None
) -> Path:
    """Write the report of ``execution_id`` (default: the latest execution) and return its path.

    ``output`` defaults to ``report.html`` beside the execution's check files (its ``report_uri``)."""
    execution = select_execution(state_dir, execution_id)
    folder = local_path(execution.report_uri, state_dir)
    version = open_registry("local", config, state_dir).get(*parse_reference(execution.model_version))
    if "statistics" not in version.drift_baselines:
        raise ValueError(f"{version.reference} has no drift-check baseline statistics to compare with")
    return write_report(
        Path(output) if output else folder / REPORT_FILE,
        baseline_statistics=local_path(version.drift_baselines["statistics"], state_dir),
        current_statistics=folder / "statistics.json",
        violations=folder / "constraint_violations.json",
        summary=folder / "analysis_summary.json",
        history=drift_history(state_dir, execution.endpoint),
        title=f"Data quality of {execution.endpoint}",
        context={
            "endpoint": execution.endpoint,
            "model version": execution.model_version,
            "window": f"{execution.window_start} .. {execution.window_end}",
            "execution": execution.execution_id,
            "status": execution.status,
        },
    )
