"""One model-quality check at time T, as Model Monitor runs it: the live version's captured predictions joined with
the ground truth that has arrived, measured against its model-quality constraints, then metrics, alarms, alerts
and the retraining decision. Every check is recorded (kind ``model-quality``), NoData and failures included.

Windows (Model Monitor's): capture with inferenceTime in [T + start_time_offset, T + end_time_offset] and labels
from the ground-truth hour folders in [T + start_time_offset, T] (``monitoring.model_quality``). They overlap
from one check to the next (a day of capture every hour), so no window is ever skipped as "already checked".
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from pipelines.monitor.executions import (
    FAILED,
    MODEL_QUALITY,
    NO_DATA,
    ExecutionLog,
    MonitoringExecution,
)
from pipelines.monitor.loop import (
    ON_DEMAND,
    MonitorEnvironment,
    after_failure,
    claim_report,
    live_version,
    report_prefix,
)
from pipelines.monitor.model_quality_windows import (
    CheckWindow,
    ModelQualityError,
    check_kinds,
    model_quality_schedule,
    parse_offset,
    window_at,
    window_from_capture,
)
from pipelines.objectstore import local_path

__all__ = [
    "CheckWindow",
    "ModelQualityError",
    "check_kinds",
    "check_model_quality",
    "model_quality_schedule",
    "parse_offset",
    "window_at",
    "window_from_capture",
]

log = logging.getLogger(__name__)


def _constraints(env: MonitorEnvironment, version: Any) -> tuple[Path, dict]:
    uri = version.drift_baselines.get("model_constraints")
    if not uri:
        raise ModelQualityError(
            f"{version.reference} has no model-quality baseline (drift-check baselines model_constraints): it was "
            "registered without a model-quality baseline; deploy a version registered with one"
        )
    path = local_path(uri, Path(env.state_dir))
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelQualityError(f"{version.reference}: cannot read its model-quality constraints {uri}: {exc}") from exc


def _alarms(env: MonitorEnvironment, constraints: dict, endpoint: str, schedule: str) -> tuple[list, Any]:
    from monitoring.local.alarms import model_quality_alarms

    config = env.config
    quality = config.monitoring.model_quality
    try:
        return model_quality_alarms(
            constraints,
            config.model_quality_alarmed_metrics,
            endpoint,
            schedule,
            period=config.monitoring.alarm.period_seconds,
            evaluation_periods=quality.evaluation_periods,
            datapoints_to_alarm=quality.datapoints_to_alarm,
            treat_missing_data=config.monitoring.alarm.treat_missing_data,
        )
    except ValueError as exc:
        raise ModelQualityError(str(exc)) from exc


def _merge(env: MonitorEnvironment, endpoint: str, variant: str, window: CheckWindow) -> tuple[Any, list[dict]]:
    """The join of the capture files and ground-truth files of the window, and the hosts it ran on: in this process
    with one instance or nothing to join, else the profile stage on ``sagemaker.processing_instance_count`` local hosts
    and the merge stage here (``pipelines.monitor.model_quality_hosts``)."""
    from monitoring.capture import capture_files
    from monitoring.ground_truth import ground_truth_files
    from monitoring.model_quality_merge import merge_capture_with_ground_truth
    from pipelines.monitor.hosts import instance_count

    config, state = env.config, Path(env.state_dir)
    quality = config.monitoring.model_quality
    capture = local_path(f"{config.capture_destination.rstrip('/')}/{endpoint}/{variant}", state)
    labels = local_path(config.ground_truth_destination, state)
    # hour folders overlapping [start, end]: the end is inclusive, as the merge's inferenceTime filter
    end = window.capture_end + timedelta(microseconds=1)
    captured = capture_files(capture, window.capture_start, end) if capture.is_dir() else []  # no call yet: none
    truth = ground_truth_files(labels, window.labels_start, window.labels_end) if labels.is_dir() else []
    count = instance_count(config)
    if count > 1 and captured and truth:  # else NoData without hosts, as the AWS check answers NoData without a job
        from pipelines.monitor.model_quality_hosts import merge_on_hosts

        return merge_on_hosts(config, count, window, (capture, captured), (labels, truth), env.directory / "jobs")
    merged = merge_capture_with_ground_truth(
        captured,
        truth,
        problem_type=config.data.problem_type,
        inference_attribute=quality.inference_attribute,
        probability_attribute=quality.probability_attribute,
        probability_threshold=quality.probability_threshold,
        start=window.capture_start,
        end=window.capture_end,
    )
    return merged, []


def _record(env: MonitorEnvironment, execution: MonitoringExecution) -> MonitoringExecution:
    ExecutionLog(Path(env.state_dir)).append(execution)
    return execution


@dataclass(frozen=True)
class _Checked:
    """What a check that ran found: the constraints it judged by, the alarms on them, the merge and the result."""

    constraints: dict
    alarms: tuple[list, Any]
    merged: Any  # monitoring.model_quality_merge.MergeResult
    result: Any  # monitoring.model_quality_job.ModelQualityResult
    hosts: list[dict]  # with sagemaker.processing_instance_count > 1: each host's timing and log


def _merge_and_check(
    env: MonitorEnvironment, deployed: Any, version: Any, window: CheckWindow, schedule: str, report_dir: Path
) -> _Checked:
    """The merge of the window and the check against the live version's constraints; files in ``report_dir``."""
    from monitoring.model_quality_job import run_model_quality_check

    config = env.config
    constraints_path, constraints = _constraints(env, version)
    alarms = _alarms(env, constraints, deployed.endpoint, schedule)
    merged, hosts = _merge(env, deployed.endpoint, deployed.variant, window)
    result = run_model_quality_check(
        merged.pairs,
        constraints,
        report_dir,
        problem_type=config.data.problem_type,
        min_pairs=config.monitoring.model_quality.min_pairs,
        evaluation_time=window.at.isoformat(),
        merge_counts=merged.counts,
    )
    report_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(constraints_path, report_dir / "constraints.json")  # Model Monitor's report layout
    if result.status != NO_DATA and config.data.problem_type == "regression":
        from monitoring.local.residuals import write_residuals  # for the HTML report's residual histogram

        write_residuals(report_dir, merged.pairs.labels, merged.pairs.predictions)
    return _Checked(constraints, alarms, merged, result, hosts)


def _found(checked: _Checked) -> dict:
    """The execution record's ``model_quality`` entries of a check that ran."""
    from monitoring.local.endpoint_alarms import constraint_thresholds

    rules = constraint_thresholds(checked.constraints)
    return {
        "metrics": dict(checked.result.metrics),
        "constraints": {m: {"threshold": t, "comparison_operator": op} for m, (t, op) in rules.items()},
        "violations": list(checked.result.violations),
        "counts": dict(checked.merged.counts),
        **({"hosts": checked.hosts} if checked.hosts else {}),
    }


def check_model_quality(
    env: MonitorEnvironment, endpoint: str, window: CheckWindow, schedule: str = ON_DEMAND
) -> MonitoringExecution:
    """Run one model-quality check of ``endpoint`` at ``window.at``; record and return what happened. Never raises
    for a check that cannot run: it is recorded as Failed, with an alert, as a failed data-quality check is."""
    schedule = model_quality_schedule(schedule)
    prefix = report_prefix(env.config, endpoint, schedule, window.at)
    base: dict[str, Any] = {
        "execution_id": f"{window.at:%Y%m%d%H%M}-{uuid.uuid4().hex[:8]}",
        "endpoint": endpoint,
        "schedule": schedule,
        "window_start": window.capture_start.isoformat(),
        "window_end": window.capture_end.isoformat(),
        "started": env.clock().isoformat(),
        "report_uri": prefix,
        "kind": MODEL_QUALITY,
    }
    where = {"at": window.at.isoformat(), "labels_window": [window.labels_start.isoformat(), window.at.isoformat()]}
    version = None
    try:
        base["report_uri"], report_dir = claim_report(prefix, Path(env.state_dir), base["execution_id"])
        deployed, version = live_version(env, endpoint)
        checked = _merge_and_check(env, deployed, version, window, schedule, report_dir)
    except Exception as exc:  # a failing check is recorded, and the schedule goes on
        log.error("model-quality check of %s at %s failed: %s", endpoint, window.at, exc)
        failed = MonitoringExecution(
            **base,
            status=FAILED,
            ended=env.clock().isoformat(),
            model_version=version.reference if version is not None else "",
            message=str(exc),
            model_quality=where,
        )
        return _record(env, after_failure(env, failed))
    execution = MonitoringExecution(
        **base,
        status=checked.result.status,
        ended=env.clock().isoformat(),
        model_version=version.reference,
        message=checked.result.exit_message,
        item_count=len(checked.merged.pairs),
        violations=len(checked.result.violations),
        model_quality={**where, **_found(checked)},
    )
    published = _publish_alarm_alert(env, execution, version, checked.alarms, checked.result.metrics, report_dir)
    return _record(env, published)


def _publish_alarm_alert(
    env: MonitorEnvironment,
    execution: MonitoringExecution,
    version: Any,
    alarms: tuple[list, Any],
    metrics: dict[str, float],
    report_dir: Path,
) -> MonitoringExecution:
    """Store the metrics (none for NoData), evaluate the model-quality alarms, alert and maybe retrain."""
    from monitoring.local.alarms import AlarmStore, evaluate_alarms
    from monitoring.local.alerts import QualityMetric
    from monitoring.local.endpoint_alarms import MODEL_METRICS_NAMESPACE
    from monitoring.local.metrics_store import MetricsStore
    from pipelines.monitor.actions import alert_and_retrain

    store = MetricsStore(env.directory)
    dimensions = [
        {"Name": "Endpoint", "Value": execution.endpoint},
        {"Name": "MonitoringSchedule", "Value": execution.schedule},
    ]
    now = env.clock()
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Timestamp": now, "Value": float(value)}
        for name, value in metrics.items()
    ]
    if data and execution.status != "NoData":
        store.put_metric_data(MODEL_METRICS_NAMESPACE, data)
    metric_alarms, composite = alarms
    evaluation = evaluate_alarms(metric_alarms, [composite], store, AlarmStore(env.directory), env.clock)
    shown = [
        QualityMetric(a.metric_name, float(metrics[a.metric_name]), a.threshold, a.comparison_operator)
        for a in metric_alarms
        if a.metric_name in metrics
    ]
    alerts, decision = alert_and_retrain(
        env,
        evaluation.transition_of(composite.name),
        execution,
        version,
        report_dir,
        trigger=f"model-quality alarm {composite.name}",
        model_quality=shown,
    )
    transitions = [t.to_json() for t in evaluation.transitions]
    return replace(execution, alarm_transitions=transitions, alerts=alerts, retrain=decision)
