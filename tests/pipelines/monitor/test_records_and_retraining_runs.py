"""The loop's records survive interrupted writes, and a retraining run is decided once: while it runs, when it
cannot start, when it is interrupted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines.errors import StateError
from pipelines.monitor.actions import RUNNING, START_FAILED, retrain
from pipelines.monitor.executions import FAILED, WITH_VIOLATIONS, ExecutionLog
from pipelines.monitor.loop import check_window
from pipelines.monitor.retrain import COOLDOWN, STARTED, DecisionLog
from pipelines.registry.sqlite import SQLiteRegistry
from tests.pipelines.monitor.model_quality_state import ENDPOINT, ROWS, T, rings, serve

HOUR = timedelta(hours=1)


def _drifted(tmp_path):
    """A served version, retraining data, and an hour of drifted traffic at T-3h (its check trips the alarm)."""
    served = serve(tmp_path)
    served.retraining_data()
    rows = ROWS[200:300]
    served.traffic(T - 3 * HOUR, rows, rings(rows), "drift", scale=1.6)
    return served


def _check(served):
    return check_window(served.env, ENDPOINT, T - 3 * HOUR, T - 2 * HOUR)


def test_a_decision_line_cut_short_neither_fails_the_check_nor_swallows_the_next_decision(tmp_path):
    served = _drifted(tmp_path)
    log = DecisionLog(served.state)
    log.path.parent.mkdir(parents=True)
    log.path.write_text('{"action": "started", "reason": "x", "at": "2026-11-2')  # a write cut off
    execution = _check(served)
    assert execution.status == WITH_VIOLATIONS and execution.retrain["action"] == STARTED
    assert [d.execution_id for d in log.all()] == ["retrain-1"]
    assert ExecutionLog(served.state).get(execution.execution_id).retrain == execution.retrain


def test_an_execution_line_cut_short_does_not_swallow_the_next_execution(tmp_path):
    served = _drifted(tmp_path)
    log = ExecutionLog(served.state)
    log.path.parent.mkdir(parents=True)
    log.path.write_text('{"execution_id": "cut", "endp')
    execution = _check(served)
    assert [e.execution_id for e in log.all()] == [execution.execution_id]


def test_a_retraining_run_that_cannot_start_is_recorded_and_starts_no_cool_down(tmp_path):
    served = _drifted(tmp_path)

    def cannot_start(data_uri: str) -> tuple[str, str]:
        raise StateError("the local registry is locked")

    served.env.start_retraining = cannot_start
    execution = _check(served)
    assert execution.status == WITH_VIOLATIONS and execution.alerts
    assert execution.retrain["action"] == START_FAILED and "the local registry is locked" in execution.retrain["reason"]
    assert ExecutionLog(served.state).get(execution.execution_id).retrain == execution.retrain
    assert not (served.env.directory / RUNNING).exists()
    served.env.start_retraining = lambda uri: ("retrain-2", "Succeeded")
    version = SQLiteRegistry(served.state / "registry.db").get("abalone", 1)
    assert retrain(served.env, version, "model-quality alarm").action == STARTED


def test_a_decision_taken_while_a_run_is_running_is_within_its_cool_down(tmp_path):
    served = _drifted(tmp_path)
    version = SQLiteRegistry(served.state / "registry.db").get("abalone", 1)
    during = []

    def long_run(data_uri: str) -> tuple[str, str]:  # another check decides while this run goes on
        during.append(retrain(served.env, version, "model-quality alarm"))
        return "retrain-1", "Succeeded"

    served.env.start_retraining = long_run
    assert _check(served).retrain["action"] == STARTED
    assert during[0].action == COOLDOWN and "model-quality alarm" in during[0].reason
    assert [d.action for d in DecisionLog(served.state).all()] == [COOLDOWN, STARTED]


def test_an_interrupted_run_is_logged_and_holds_the_cool_down(tmp_path):
    served = _drifted(tmp_path)

    def interrupted(data_uri: str) -> tuple[str, str]:
        raise KeyboardInterrupt

    served.env.start_retraining = interrupted
    with pytest.raises(KeyboardInterrupt):
        _check(served)
    (decision,) = DecisionLog(served.state).all()
    assert decision.action == STARTED and "interrupted" in decision.reason
    assert not (served.env.directory / RUNNING).exists()
    served.env.start_retraining = lambda uri: ("retrain-2", "Succeeded")
    again = _check(served)  # the window is checked again; the alarm is still in ALARM: no second run
    assert again.status != FAILED and not again.retrain


def test_a_check_whose_alarms_cannot_be_evaluated_is_recorded_as_failed_and_alerted(tmp_path):
    from monitoring.local.alarm_state import DB_FILE

    served = _drifted(tmp_path)
    (served.env.directory / DB_FILE).mkdir(parents=True)  # the alarm store cannot be opened
    execution = _check(served)
    assert execution.status == FAILED and execution.item_count == 100
    assert "the check ended CompletedWithViolations, but its alarms, alerts and retraining decision failed" in (
        execution.message
    )
    assert execution.alerts[0]["state"] == "FAILED" and not served.started
    assert ExecutionLog(served.state).get(execution.execution_id).status == FAILED  # recorded: the schedule retries
