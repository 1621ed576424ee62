"""The HTML report of one local monitoring execution, as ``mlops monitor report`` and ``mlops demo`` write it.

The report compares the execution's statistics with the drift-check baseline of the model version it checked
against, lists its violations and read counts, and plots the drift trend of the endpoint's recent executions.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from monitoring.local.html_report import write_report
from monitoring.local.residuals import read_residuals
from pipelines.config import Config
from pipelines.invocation import command
from pipelines.monitor.executions import (
    FAILED,
    MODEL_QUALITY,
    NO_DATA,
    ExecutionLog,
    MonitorError,
    MonitoringExecution,
)
from pipelines.objectstore import local_path
from pipelines.registry.factory import open_registry
from pipelines.registry.model import parse_reference

HISTORY = 24  # executions of the same endpoint in the drift trend, newest last
REPORT_FILE = "report.html"


def select_execution(state_dir: Path, execution_id: str | None = None) -> MonitoringExecution:
    """The execution to report on: ``execution_id``, else the latest data-quality one; it must have produced check
    results."""
    log = ExecutionLog(state_dir)
    executions = log.all()
    if not executions:
        first = command("monitor", "run", "--state-dir", shlex.quote(str(state_dir)))
        raise MonitorError(f"No monitoring executions under {state_dir}: run `{first}` first")
    data_quality = [e for e in executions if e.kind != MODEL_QUALITY]
    if not execution_id and not data_quality:
        raise MonitorError(f"No data-quality executions under {state_dir} to report on")
    execution = log.get(execution_id) if execution_id else data_quality[-1]
    if execution.kind == MODEL_QUALITY:
        raise MonitorError(
            f"Execution {execution.execution_id} is a model-quality check: its metrics are in the model-quality "
            "section of the report of a data-quality check of the same endpoint"
        )
    if execution.status in (FAILED, NO_DATA):
        raise MonitorError(f"Execution {execution.execution_id} is {execution.status}: {execution.message}")
    return execution


def drift_history(state_dir: Path, endpoint: str, limit: int = HISTORY) -> list[tuple[str, dict[str, float]]]:
    """``(window start, {feature: distance})`` of the endpoint's latest ``limit`` executions that measured drift."""
    executions = ExecutionLog(state_dir).all(endpoint)
    history = [(e.window_start, {d["feature"]: d["distance"] for d in e.drift}) for e in executions if e.drift]
    return history[-limit:] if limit > 0 else []


def write_execution_report(
    config: Config, state_dir: Path, execution_id: str | None = None, output: Path | None = None
) -> Path:
    """Write the report of ``execution_id`` (default: the latest execution) and return its path; it carries the
    endpoint's model-quality section (``model_quality_history``) when there are model-quality checks.

    ``output`` defaults to ``report.html`` beside the execution's check files (its ``report_uri``)."""
    execution = select_execution(state_dir, execution_id)
    folder = local_path(execution.report_uri, state_dir)
    version = open_registry("local", config, state_dir).get(*parse_reference(execution.model_version))
    if "statistics" not in version.drift_baselines:
        raise MonitorError(f"{version.reference} has no drift-check baseline statistics to compare with")
    quality = model_quality_history(state_dir, execution.endpoint)
    with_metrics = [q for q in quality if q["statistics"]]
    residuals = read_residuals(local_path(with_metrics[-1]["report_uri"], state_dir)) if with_metrics else None
    return write_report(
        Path(output) if output else folder / REPORT_FILE,
        model_quality=quality,
        residuals=residuals,
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


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def model_quality_history(
    state_dir: Path, endpoint: str | None = None, limit: int = HISTORY, include_no_data: bool = True
) -> list[dict]:
    """The endpoint's latest ``limit`` model-quality executions, oldest first (Failed ones left out), for the
    report's model-quality section. Each: ``execution_id``, ``time`` (the check's time T), ``window`` (capture
    start, end), ``status``, ``model_version``, ``statistics`` (statistics.json: Model Monitor's regression_metrics
    or binary_classification_metrics, with confusion matrix and curves for binary; {} for NoData),
    ``constraints`` (constraints.json), ``violations`` (constraint_violations.json's list), ``metrics``
    {name: value}, ``counts`` (the merge's counts) and ``report_uri``."""
    history = []
    for execution in ExecutionLog(state_dir).all(endpoint):
        if execution.kind != MODEL_QUALITY or execution.status == FAILED:
            continue
        if execution.status == NO_DATA and not include_no_data:
            continue
        folder = local_path(execution.report_uri, state_dir)
        quality = execution.model_quality
        no_data = execution.status == NO_DATA
        history.append(
            {
                "execution_id": execution.execution_id,
                "time": quality.get("at", execution.window_end),
                "window": (execution.window_start, execution.window_end),
                "status": execution.status,
                "model_version": execution.model_version,
                "statistics": {} if no_data else _read_json(folder / "statistics.json"),
                "constraints": _read_json(folder / "constraints.json"),
                "violations": []
                if no_data
                else _read_json(folder / "constraint_violations.json").get("violations", []),
                "metrics": dict(quality.get("metrics", {})),
                "counts": dict(quality.get("counts", {})),
                "report_uri": execution.report_uri,
            }
        )
    return history[-limit:] if limit > 0 else []


def model_quality_lines(execution: MonitoringExecution) -> list[str]:
    """What a model-quality execution found, for people: its status, then each constrained metric's value against
    its threshold (alarmed or not), or why there is nothing to show (NoData: too few matched pairs)."""
    quality = execution.model_quality
    lines = [
        f"Model quality of {execution.endpoint} at {quality.get('at', execution.window_end)}: {execution.status}",
        f"  capture {execution.window_start} .. {execution.window_end}; labels from folders "
        + " .. ".join(quality.get("labels_window", [])),
    ]
    counts = quality.get("counts", {})
    if counts:
        lines.append(
            f"  matched pairs {counts.get('matched', execution.item_count)}, predictions without a label "
            f"{counts.get('unmatched_capture', 0)}, labels without a prediction "
            f"{counts.get('unmatched_ground_truth', 0)}"
        )
    if execution.status == FAILED:
        return [*lines, f"  failed: {execution.message}"]
    if execution.status == NO_DATA:
        reason = (execution.message or "too few matched pairs").removeprefix("NoData: ")  # the job's exit message
        return [*lines, f"  NoData: {reason}; no metric was published"]
    violated = {v.get("metric_name") for v in quality.get("violations", [])}
    for name, rule in quality.get("constraints", {}).items():
        value = quality.get("metrics", {}).get(name)
        sign = ">" if rule["comparison_operator"].startswith("Greater") else "<"
        shown = "n/a" if value is None else f"{value:.6g}"
        flag = "VIOLATION" if name in violated else "ok"
        lines.append(f"  {name:<10} {shown:>12}  violated when {sign} {rule['threshold']:.6g}  {flag}")
    return lines


def model_quality_report(
    config: Config, state_dir: Path, execution: MonitoringExecution
) -> tuple[list[str], Path | None]:
    """What ``mlops monitor report`` shows for a model-quality execution: its lines (``model_quality_lines``) and
    the HTML report of the endpoint's latest data-quality check with results, whose model-quality section has
    every model-quality check (None when there is no such check yet)."""
    lines = model_quality_lines(execution)
    checked = [
        e
        for e in ExecutionLog(state_dir).all(execution.endpoint)
        if e.kind != MODEL_QUALITY and e.status not in (FAILED, NO_DATA)
    ]
    if not checked:
        return lines, None
    return lines, write_execution_report(config, state_dir, checked[-1].execution_id)
