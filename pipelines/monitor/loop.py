"""One monitoring check, end to end: captured traffic of a window against the deployed version's baseline,
then metrics, alarms, alerts and the retraining decision. Every check is recorded, whatever happens."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlops_errors import MlopsError
from pipelines.config import Config
from pipelines.errors import StateError
from pipelines.monitor.executions import (
    COMPLETED,
    FAILED,
    NO_DATA,
    WITH_VIOLATIONS,
    ExecutionLog,
    MonitorError,
    MonitoringExecution,
)
from pipelines.objectstore import local_path

log = logging.getLogger(__name__)
ON_DEMAND = "on-demand"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class MonitorEnvironment:
    """What a check needs besides its window: configuration, state, a clock, and how to start a retraining run."""

    config: Config
    state_dir: Path
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = field(default=lambda seconds: None)
    start_retraining: Callable[[str], tuple[str, str]] | None = None  # data URI -> (execution id, status)

    @property
    def directory(self) -> Path:
        return Path(self.state_dir) / "monitoring"


def report_prefix(config: Config, endpoint: str, schedule: str, start: datetime) -> str:
    """SageMaker's layout: ``<output>/<endpoint>/<schedule>/yyyy/mm/dd/hh``."""
    return f"{config.reports_destination.rstrip('/')}/{endpoint}/{schedule}/{start:%Y/%m/%d/%H}"


def claim_report(prefix: str, state_dir: Path, execution_id: str) -> tuple[str, Path]:
    """The report folder of a new execution (its URI and local path), created by it: ``prefix`` (SageMaker's hour
    folder) for the first execution of that hour, else ``<prefix>/<execution id>``. A later check of the same hour
    (an on-demand window starting in it, a re-run) so never overwrites an earlier execution's report; the folder is
    claimed by creating it, which only one of two checks at once can do."""
    folder = local_path(prefix, state_dir)
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        prefix = f"{prefix}/{execution_id}"
        folder = local_path(prefix, state_dir)
        folder.mkdir(parents=True)
    return prefix, folder


def live_version(env: MonitorEnvironment, endpoint: str) -> tuple[Any, Any]:
    """(endpoint state, registry version) of the version ``endpoint`` serves: the live pointer both checks follow."""
    from inference.endpoint_state import read_state
    from pipelines.registry.factory import open_registry

    deployed = read_state(Path(env.state_dir), endpoint)
    if deployed is None:
        raise StateError(f"endpoint {endpoint!r} has no deployed model version: deploy one first (mlops deploy)")
    return deployed, open_registry("local", env.config, Path(env.state_dir)).get(deployed.group, deployed.version)


def _data_quality(
    env: MonitorEnvironment,
    deployed: Any,
    version: Any,
    window: tuple[datetime, datetime],
    schedule: str,
    report_dir: Path,
    execution_id: str,
) -> tuple[Any, Path, list[dict]]:
    """The analyzer's check of the capture of the window against the version's data baseline; (result, the
    baseline statistics' path, the hosts of a multi-instance check). With ``sagemaker.processing_instance_count``
    N > 1 (what the AWS check jobs run with) N local hosts profile the capture and this process merges."""
    from pipelines.monitor.hosts import instance_count
    from pipelines.monitor.sharded_check import CheckInputs, data_quality_check

    config, state = env.config, Path(env.state_dir)
    if not {"statistics", "constraints"} <= set(version.drift_baselines):
        raise StateError(f"{version.reference} has no drift-check baselines (statistics and constraints)")
    statistics = local_path(version.drift_baselines["statistics"], state)
    constraints = local_path(version.drift_baselines["constraints"], state)
    capture = local_path(f"{config.capture_destination.rstrip('/')}/{deployed.endpoint}/{deployed.variant}", state)
    if not capture.is_dir():
        capture.mkdir(parents=True, exist_ok=True)  # an endpoint that has not been called yet: no data
    check = CheckInputs(capture, statistics, constraints, report_dir, window, deployed.endpoint, schedule, env.clock())
    count, runtime = instance_count(config), config.sagemaker.max_runtime_seconds
    result, hosts = data_quality_check(check, count, env.directory / "jobs", execution_id, runtime)
    shutil.copyfile(constraints, report_dir / "constraints.json")  # Model Monitor's report layout
    return result, statistics, hosts


def check_window(
    env: MonitorEnvironment, endpoint: str, start: datetime, end: datetime, schedule: str = ON_DEMAND
) -> MonitoringExecution:
    """Check the capture of [start, end) on ``endpoint``; record and return what happened."""
    state = Path(env.state_dir)
    prefix = report_prefix(env.config, endpoint, schedule, start)
    base: dict[str, Any] = {
        "execution_id": f"{start:%Y%m%d%H%M}-{uuid.uuid4().hex[:8]}",
        "endpoint": endpoint,
        "schedule": schedule,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "started": env.clock().isoformat(),
        "report_uri": prefix,
    }
    version = None
    try:
        base["report_uri"], report_dir = claim_report(prefix, state, base["execution_id"])
        deployed, version = live_version(env, endpoint)
        result, statistics, hosts = _data_quality(
            env, deployed, version, (start, end), schedule, report_dir, base["execution_id"]
        )
    except Exception as exc:  # a failing check is recorded, and the schedule goes on
        bug = not isinstance(exc, MlopsError)  # a user error is its message; anything else keeps its traceback
        log.error("monitoring check of %s %s..%s failed: %s", endpoint, start, end, exc, exc_info=bug)
        execution = MonitoringExecution(
            **base,
            status=FAILED,
            ended=env.clock().isoformat(),
            model_version=version.reference if version else "",
            message=str(exc),
        )
        execution = after_failure(env, execution)
        ExecutionLog(state).append(execution)
        return execution
    status = {"NoData": NO_DATA, "CompletedWithViolations": WITH_VIOLATIONS}.get(result.status, COMPLETED)
    drift = [
        {"feature": d.feature_name, "distance": d.distance, "threshold": d.threshold, "method": d.method}
        for d in result.drifts
    ]
    execution = MonitoringExecution(
        **base,
        status=status,
        ended=env.clock().isoformat(),
        model_version=version.reference,
        message=result.message,
        item_count=result.item_count,
        violations=len(result.violations),
        drift=drift,
        hosts=hosts,
    )
    try:
        features = [f.name for f in _baseline_features(statistics)]
        execution = _alarms_alerts_retrain(env, execution, version, features, result.metrics, report_dir)
    except Exception as exc:  # recorded as Failed (so the schedule checks the window again), alerted, never lost
        log.error("alarms of the check of %s %s..%s failed: %s", endpoint, start, end, exc, exc_info=True)
        reason = f"the check ended {status}, but its alarms, alerts and retraining decision failed: {exc}"
        execution = after_failure(env, replace(execution, status=FAILED, message=reason))
    ExecutionLog(state).append(execution)
    return execution


def _baseline_features(path: Path):
    from monitoring.statistics import read_statistics

    return read_statistics(path).features


def _alarms_alerts_retrain(
    env: MonitorEnvironment,
    execution: MonitoringExecution,
    version,
    features: list[str],
    metrics: tuple[dict, ...],
    report_dir: Path,
) -> MonitoringExecution:
    from monitoring.local.alarms import AlarmStore, evaluate_alarms, feature_drift_alarms
    from monitoring.local.metrics_store import MetricsStore
    from monitoring.metrics import NAMESPACE
    from pipelines.monitor.actions import alert_and_retrain

    alarm = env.config.monitoring.alarm
    store = MetricsStore(env.directory)
    if metrics:
        store.put_metric_data(NAMESPACE, list(metrics))
    # the threshold each feature's drift is judged by in constraints.json, so alarms and violations agree;
    # the configured alarm threshold for features the check could not compare
    thresholds = {f: alarm.threshold for f in features}
    thresholds.update({d["feature"]: d["threshold"] for d in execution.drift if d["feature"] in thresholds})
    alarms, composite = feature_drift_alarms(
        thresholds,
        execution.endpoint,
        execution.schedule,
        period=alarm.period_seconds,
        evaluation_periods=alarm.evaluation_periods,
        datapoints_to_alarm=alarm.datapoints_to_alarm,
        treat_missing_data=alarm.treat_missing_data,
    )
    evaluation = evaluate_alarms(alarms, [composite], store, AlarmStore(env.directory), env.clock)
    alerts, retrain = alert_and_retrain(
        env,
        evaluation.transition_of(composite.name),
        execution,
        version,
        report_dir,
        trigger="drift alarm",
        drift_summary={"drift": execution.drift},
    )
    transitions = [t.to_json() for t in evaluation.transitions]
    return replace(execution, alarm_transitions=transitions, alerts=alerts, retrain=retrain)


def after_failure(env: MonitorEnvironment, execution: MonitoringExecution) -> MonitoringExecution:
    """A failed check alerts (as the AWS rule on failed monitoring jobs does); it never raises."""
    from monitoring.local.alerts import Alert, deliver
    from pipelines.monitor.actions import sinks

    alert = Alert(
        endpoint=execution.endpoint,
        model_version=execution.model_version or "unknown",
        alarm_name=f"{execution.endpoint}-{execution.schedule}-check-failed",
        new_state="FAILED",
        old_state="-",
        reason=execution.message,
        report=execution.report_uri,
        time=env.clock(),
        details={"execution": execution.execution_id},
    )
    results = deliver(alert, sinks(env), env.sleep)
    return replace(
        execution,
        alerts=[
            {
                "alarm": alert.alarm_name,
                "state": "FAILED",
                "summary": alert.summary,
                "delivered": {r.sink: r.ok for r in results},
            }
        ],
    )


def last_complete_window(now: datetime, hours: int = 1) -> tuple[datetime, datetime]:
    end = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=hours), end


# CloudWatch refuses metric data timestamped more than 2 hours after its clock (PutMetricData)
FUTURE_LIMIT = timedelta(hours=2)


def parse_window(text: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``START..END`` (ISO-8601) to a window, with a clear error otherwise; with ``now``, a window ending more than
    ``FUTURE_LIMIT`` after it is refused (its metrics would be refused, and no capture exists for it yet)."""
    from monitoring.iso_time import parse_time

    first, sep, second = text.partition("..")
    if not sep:
        raise MonitorError(
            f"--window must be START..END in ISO-8601, e.g. 2026-11-25T10:00Z..2026-11-25T11:00Z, got {text!r}"
        )
    start, end = parse_time(first, "window start"), parse_time(second, "window end")
    if start >= end:
        raise MonitorError(f"--window start {first} must be before its end {second}")
    if now is not None and end > now + FUTURE_LIMIT:
        raise MonitorError(
            f"--window end {second} is more than 2 hours after now ({now.astimezone(timezone.utc):%Y-%m-%dT%H:%MZ}): "
            "no capture exists for it yet, and CloudWatch refuses metrics timestamped that far ahead"
        )
    return start, end


def execution_json(execution: MonitoringExecution) -> str:
    return json.dumps(execution.__dict__, indent=2, default=str)
