"""What an alarm's state change does, for both alarm families (drift and model quality): one alert through the
configured sinks, and on ALARM one retraining decision in the one decision log, so the cool-down and the
no-new-data rule hold across both families (a model-quality alarm within the cool-down of a drift-triggered run
starts nothing, and the reverse)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_errors import MlopsError
from pipelines.atomic_files import replace_file
from pipelines.monitor.records import exclusive
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


RUNNING = "retrain-running.json"  # a started run whose decision is not logged yet (running, or its process died)
START_FAILED = "failed"  # the decision was to start, but the run could not start: no cool-down begins


def _running_since(env: MonitorEnvironment) -> datetime | None:
    """When the run of ``RUNNING`` started, if there is one: it counts for the cool-down as a logged start does."""
    path = env.directory / RUNNING
    try:
        return datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["at"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s is unreadable (%s): ignored", path, exc)
        return None


def _last_started(env: MonitorEnvironment) -> datetime | None:
    """The latest start: the decision log's, or that of a run still going (or cut off) without a logged decision."""
    starts = [t for t in (DecisionLog(env.state_dir).last_started(), _running_since(env)) if t is not None]
    return max(starts) if starts else None


def _decide(env: MonitorEnvironment, version: Any, trigger: str) -> RetrainDecision:
    """The shared rule's decision (with ``trigger`` in its reason); "disabled" when no runner can start a run."""
    config = env.config
    data = local_path(config.retrain_data_uri, env.state_dir)
    has_data = data.is_file() or (data.is_dir() and any(p.is_file() for p in data.rglob("*")))
    decision = decide(
        env.clock(),
        config.monitoring.retrain.enabled,
        timedelta(hours=config.monitoring.retrain.cooldown_hours),
        _last_started(env),
        content_hash(data) if has_data else None,
        _training_data_hash(env, version),
    )
    reason = decision.reason.replace("drift alarm with new data", f"{trigger} with new data")
    if decision.action != STARTED or not decision.reason.startswith("drift alarm"):
        reason = f"{trigger}: {reason}"
    if decision.action == STARTED and env.start_retraining is None:
        return RetrainDecision(
            "disabled", f"{trigger}: no pipeline runner available to start retraining", decision.at, decision.data_hash
        )
    return RetrainDecision(decision.action, reason, decision.at, decision.data_hash)


def _start(env: MonitorEnvironment, decision: RetrainDecision) -> RetrainDecision:
    """Start the run ``decision`` decided; the decision as logged: with the run's id and status, or why it failed
    to start. An interrupt is logged (the run started: the cool-down holds; it resumes) and propagates."""
    assert env.start_retraining is not None  # _decide says "disabled" otherwise
    try:
        execution_id, status = env.start_retraining(env.config.retrain_data_uri)
    except KeyboardInterrupt as exc:
        from pipelines.invocation import command

        stopped = getattr(getattr(exc, "result", None), "execution_id", "")
        how = f"resume it with {command('run', '--resume', stopped)}" if stopped else "it did not finish"
        reason = f"{decision.reason}; retraining execution {stopped or '(unknown)'}: interrupted ({how})"
        DecisionLog(env.state_dir).append(RetrainDecision(STARTED, reason, decision.at, decision.data_hash, stopped))
        (env.directory / RUNNING).unlink(missing_ok=True)
        raise
    except Exception as exc:  # recorded with the check, which goes on; no cool-down starts
        log.error("the retraining run could not start: %s", exc, exc_info=not isinstance(exc, MlopsError))
        reason = f"{decision.reason}; but the retraining run could not start: {exc}"
        return RetrainDecision(START_FAILED, reason, decision.at, decision.data_hash)
    reason = f"{decision.reason}; retraining execution {execution_id}: {status}"
    return RetrainDecision(STARTED, reason, decision.at, decision.data_hash, execution_id)


def retrain(env: MonitorEnvironment, version: Any, trigger: str = "drift alarm") -> RetrainDecision:
    """Decide (and maybe start) a retraining run after ``trigger`` went to ALARM; the decision is logged with it.

    One decision at a time across processes (a lock), and a started run counts for the cool-down from the moment
    it starts (``RUNNING``), though a local run only ends, and its decision is logged, minutes later."""
    marker = env.directory / RUNNING
    with exclusive(env.directory / "retrain.lock"):
        decision = _decide(env, version, trigger)
        if decision.action == STARTED:
            running = {"at": decision.at, "data_hash": decision.data_hash, "pid": os.getpid()}
            replace_file(marker, json.dumps(running), sync=True)
    if decision.action == STARTED:
        decision = _start(env, decision)
    DecisionLog(env.state_dir).append(decision)
    marker.unlink(missing_ok=True)  # only once the decision is logged: until then the marker holds the cool-down
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
