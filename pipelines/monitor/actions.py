"""What an alarm's state change does, for both alarm families (drift and model quality): one alert through the
configured sinks, and on ALARM one retraining decision in the one decision log, so the cool-down and the
no-new-data rule hold across both families (a model-quality alarm within the cool-down of a drift-triggered run
starts nothing, and the reverse)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.monitor.retrain import STARTED, DecisionLog, RetrainDecision, content_hash, decide
from pipelines.objectstore import local_path

if TYPE_CHECKING:
    from monitoring.local.alarm_state import Transition
    from monitoring.local.alert_message import QualityMetric
    from pipelines.monitor.loop import MonitorEnvironment

log = logging.getLogger(__name__)


def sinks(env: MonitorEnvironment) -> list:
    """The alert sinks of ``monitoring.alerts``: the log, a JSON-lines file (relative to the state), a webhook."""
    from monitoring.local.alerts import JsonLinesSink, LogSink, WebhookSink

    alerts = env.config.monitoring.alerts
    found: list = [LogSink()] if alerts.log else []
    if alerts.jsonl:
        path = Path(alerts.jsonl)
        found.append(JsonLinesSink(path if path.is_absolute() else Path(env.state_dir) / path))
    if alerts.webhook_url:
        found.append(
            WebhookSink(alerts.webhook_url, timeout=alerts.webhook_timeout_seconds, retries=alerts.webhook_retries)
        )
    return found


def _training_data_hash(env: MonitorEnvironment, version: Any) -> str | None:
    """Content hash of the data the serving version was trained on (from its pipeline execution's record)."""
    from pipelines.local.record import ExecutionRecord

    if not version.source:
        return None
    try:
        record = ExecutionRecord.load(env.state_dir, version.source)
    except ValueError:
        return None
    uri = record.data["parameters"].get("InputDataUrl")
    path = local_path(uri, env.state_dir) if uri else None
    return content_hash(path) if path is not None and path.exists() else None


def retrain(env: MonitorEnvironment, version: Any, trigger: str = "drift alarm") -> RetrainDecision:
    """Decide (and maybe start) a retraining run after ``trigger`` went to ALARM; the decision is logged with it."""
    config = env.config
    data_uri = config.retrain_data_uri
    data = local_path(data_uri, env.state_dir)
    has_data = data.is_file() or (data.is_dir() and any(p.is_file() for p in data.rglob("*")))
    decision = decide(
        env.clock(),
        config.monitoring.retrain.enabled,
        timedelta(hours=config.monitoring.retrain.cooldown_hours),
        DecisionLog(env.state_dir).last_started(),
        content_hash(data) if has_data else None,
        _training_data_hash(env, version),
    )
    reason = decision.reason.replace("drift alarm with new data", f"{trigger} with new data")
    if decision.action != STARTED or not decision.reason.startswith("drift alarm"):
        reason = f"{trigger}: {reason}"
    decision = RetrainDecision(decision.action, reason, decision.at, decision.data_hash)
    if decision.action == STARTED:
        if env.start_retraining is None:
            decision = RetrainDecision(
                "disabled",
                f"{trigger}: no pipeline runner available to start retraining",
                decision.at,
                decision.data_hash,
            )
        else:
            execution_id, status = env.start_retraining(data_uri)
            decision = RetrainDecision(
                STARTED,
                f"{decision.reason}; retraining execution {execution_id}: {status}",
                decision.at,
                decision.data_hash,
                execution_id,
            )
    DecisionLog(env.state_dir).append(decision)
    log.info("retraining decision: %s (%s)", decision.action, decision.reason)
    return decision


def alert_and_retrain(
    env: MonitorEnvironment,
    change: Transition | None,
    execution: Any,
    version: Any,
    report_dir: Path,
    *,
    trigger: str,
    drift_summary: dict | None = None,
    model_quality: Sequence[QualityMetric] | None = None,
) -> tuple[list[dict], dict]:
    """For a composite alarm's change to or from ALARM: the alert (delivered to every sink) and, on ALARM, the
    retraining decision. Returns (alerts as recorded in the execution, the decision or {})."""
    from monitoring.local.alarm_rule import ALARM
    from monitoring.local.alerts import alert_from_transition, deliver

    if change is None or ALARM not in (change.new_state, change.old_state):
        return [], {}
    alert = alert_from_transition(
        change,
        execution.endpoint,
        version.reference,
        drift_summary,
        report=str(report_dir),
        details={"execution": execution.execution_id},
        model_quality=model_quality,
    )
    results = deliver(alert, sinks(env), env.sleep)
    alerts = [
        {
            "alarm": alert.alarm_name,
            "state": alert.new_state,
            "summary": alert.summary,
            "delivered": {r.sink: r.ok for r in results},
        }
    ]
    decision = retrain(env, version, trigger).__dict__ if change.new_state == ALARM else {}
    return alerts, decision
