"""Windows, the schedule loop and the retraining rule (cron: tests/pipelines/test_cron.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipelines.build import config_from_kwargs, local_config
from pipelines.cron import Cron
from pipelines.monitor.executions import FAILED, ExecutionLog
from pipelines.monitor.loop import MonitorEnvironment, check_window, last_complete_window, parse_window
from pipelines.monitor.retrain import COOLDOWN, DISABLED, NO_DATA, NO_NEW_DATA, STARTED, decide
from pipelines.monitor.schedule import run_schedule
from tests.conftest import ROOT
from tests.pipelines.monitor.clock import Clock

T = datetime(2026, 11, 25, 10, 17, tzinfo=timezone.utc)


def test_windows():
    assert last_complete_window(T) == (
        datetime(2026, 11, 25, 9, tzinfo=timezone.utc),
        datetime(2026, 11, 25, 10, tzinfo=timezone.utc),
    )
    start, end = parse_window("2026-11-25T08:00Z..2026-11-25T09:30Z")
    assert (end - start) == timedelta(minutes=90)
    with pytest.raises(ValueError, match=r"START\.\.END"):
        parse_window("2026-11-25T08:00Z")
    with pytest.raises(ValueError, match="must be before"):
        parse_window("2026-11-25T09:00Z..2026-11-25T08:00Z")


def test_a_window_ending_more_than_two_hours_ahead_is_refused():
    """CloudWatch refuses metrics timestamped over 2 h after its clock; the current, unfinished hour is allowed."""
    assert parse_window("2026-11-25T10:00Z..2026-11-25T11:00Z", T)[1] > T
    assert parse_window("2026-11-25T10:00Z..2026-11-25T12:17Z", T)[1] == T + timedelta(hours=2)
    with pytest.raises(ValueError, match=r"end 2026-11-25T12:18Z is more than 2 hours after now \(2026-11-25T10:17Z\)"):
        parse_window("2026-11-25T10:00Z..2026-11-25T12:18Z", T)


def test_retraining_rule():
    hour = timedelta(hours=1)
    day = timedelta(hours=24)
    assert decide(T, False, day, None, "a", "b").action == DISABLED
    assert decide(T, True, day, None, None, "b").action == NO_DATA
    assert decide(T, True, day, T - hour, "a", "b").action == COOLDOWN
    unchanged = decide(T, True, day, None, "a", "a")
    assert unchanged.action == NO_NEW_DATA and "no new data" in unchanged.reason
    assert decide(T, True, day, T - 2 * day, "a", "b").action == STARTED
    assert decide(T, True, day, None, "a", None).action == STARTED


def test_schedule_survives_failing_checks_and_never_checks_a_window_twice(tmp_path):
    config = local_config(config_from_kwargs({"config": str(ROOT / "mlops.yaml")}))
    clock = Clock(T)
    env = MonitorEnvironment(config, tmp_path, clock)
    # no model is deployed: every check fails, is recorded, and the schedule goes on
    results = run_schedule(env, "abalone-endpoint", Cron.parse("0 * * * *"), iterations=3, wait=clock.advance)
    windows = [(e.window_start, e.window_end) for e in results]
    assert len(windows) == 4 and len(set(windows)) == 4
    assert all(e.status == FAILED and "has no deployed model version" in e.message for e in results)
    assert all(e.alerts and e.alerts[0]["state"] == "FAILED" for e in results)
    again = run_schedule(env, "abalone-endpoint", Cron.parse("0 * * * *"), iterations=0, wait=clock.advance)
    assert len(again) == 1  # failed windows may be retried; completed ones never are
    assert len(ExecutionLog(tmp_path).all()) == 5


def test_a_failed_check_is_recorded_with_its_reason(tmp_path):
    config = local_config(config_from_kwargs({"config": str(ROOT / "mlops.yaml")}))
    env = MonitorEnvironment(config, tmp_path, Clock(T))
    execution = check_window(env, "nowhere", *last_complete_window(T))
    assert execution.status == FAILED and "endpoint 'nowhere' has no deployed model version" in execution.message
    assert ExecutionLog(tmp_path).get(execution.execution_id).status == FAILED


def test_a_second_schedule_of_the_same_name_is_refused_while_one_runs(tmp_path):
    from pipelines.monitor.executions import MonitorError
    from pipelines.monitor.records import sole

    config = local_config(config_from_kwargs({"config": str(ROOT / "mlops.yaml")}))
    clock = Clock(T)
    env = MonitorEnvironment(config, tmp_path, clock)
    lock = env.directory / "schedule-abalone-endpoint-hourly.lock"
    refused = r"schedule 'hourly' of endpoint 'abalone-endpoint' is already running"
    with sole(lock, "another schedule"), pytest.raises(MonitorError, match=refused):  # held by another process
        run_schedule(env, "abalone-endpoint", Cron.parse("0 * * * *"), iterations=0, wait=clock.advance)
    assert ExecutionLog(tmp_path).all() == []  # it checked nothing twice
    assert len(run_schedule(env, "abalone-endpoint", Cron.parse("0 * * * *"), iterations=0)) == 1  # once it ends


def test_a_clock_moved_back_checks_no_window_that_has_not_ended_and_goes_on_from_the_new_time(tmp_path):
    config = local_config(config_from_kwargs({"config": str(ROOT / "mlops.yaml")}))
    clock = Clock(T)
    env = MonitorEnvironment(config, tmp_path, clock)
    moves = iter([-3 * 24 * 3600.0])  # the first wait ends with the clock set back three days

    def wait(seconds: float) -> None:
        clock.advance(next(moves, seconds))

    results = run_schedule(env, "abalone-endpoint", Cron.parse("0 * * * *"), iterations=2, wait=wait)
    assert [e.window_start[:16] for e in results] == ["2026-11-25T09:00", "2026-11-22T10:00", "2026-11-22T11:00"]
    assert all(e.window_end <= e.started for e in results)  # never a window that ends after the check's time
