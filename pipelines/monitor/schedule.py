"""Checks on a schedule: at every cron firing, the data-quality check of the last complete window (each window
checked once) and, when asked, the model-quality check at the firing's hour (its windows overlap by design)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from pipelines.cron import Cron
from pipelines.monitor.executions import DATA_QUALITY, MODEL_QUALITY, ExecutionLog, MonitoringExecution
from pipelines.monitor.loop import MonitorEnvironment, check_window, last_complete_window
from pipelines.monitor.records import sole

log = logging.getLogger(__name__)
SCHEDULE_NAME = "hourly"


def due_windows(cron: Cron, last_run: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """The last complete hour before each firing in (last_run, now], oldest first, without repeats."""
    windows = []
    for fired in cron.fires_between(last_run, now):
        window = last_complete_window(fired)
        if window not in windows:
            windows.append(window)
    return windows


def run_schedule(
    env: MonitorEnvironment,
    endpoint: str,
    cron: Cron,
    schedule: str = SCHEDULE_NAME,
    iterations: int | None = None,
    until: datetime | None = None,
    wait: Callable[[float], None] = time.sleep,
    report: Callable[[MonitoringExecution], None] = lambda e: None,
    kinds: Sequence[str] = (DATA_QUALITY,),
) -> list[MonitoringExecution]:
    """Run checks of ``kinds`` as the cron fires (catching up on the last due window at start); survives failing
    checks, never checks a data-quality window twice; the model-quality check runs at each window's end (T) under
    ``<schedule>-model-quality``. Stops after ``iterations`` firings or at ``until`` (else runs forever)."""
    what = f"The monitoring schedule {schedule!r} of endpoint {endpoint!r}"
    with sole(env.directory / f"schedule-{endpoint}-{schedule}.lock", what):  # one schedule of a name, as on AWS
        return _run(env, endpoint, cron, schedule, iterations, until, wait, report, kinds)


def _run(
    env: MonitorEnvironment,
    endpoint: str,
    cron: Cron,
    schedule: str,
    iterations: int | None,
    until: datetime | None,
    wait: Callable[[float], None],
    report: Callable[[MonitoringExecution], None],
    kinds: Sequence[str],
) -> list[MonitoringExecution]:
    """``run_schedule``'s loop, while it holds the schedule's lock."""
    from pipelines.monitor.model_quality import check_model_quality, window_at

    done = ExecutionLog(env.state_dir).checked_windows(endpoint, schedule)
    results: list[MonitoringExecution] = []
    last_fire = env.clock()
    pending = [last_complete_window(last_fire)]  # catch up: the most recent complete window
    fired = 0
    while True:
        for start, end in pending:
            if DATA_QUALITY in kinds and (start.isoformat(), end.isoformat()) in done:
                log.info("window %s..%s already checked", start, end)
            elif DATA_QUALITY in kinds:
                execution = check_window(env, endpoint, start, end, schedule)
                done.add((start.isoformat(), end.isoformat()))
                results.append(execution)
                report(execution)
            if MODEL_QUALITY in kinds:
                execution = check_model_quality(env, endpoint, window_at(env.config, end), schedule)
                results.append(execution)
                report(execution)
        if iterations is not None and fired >= iterations:
            return results
        next_fire = cron.next_after(env.clock())
        if until is not None and next_fire > until:
            return results
        wait(max(0.0, (next_fire - env.clock()).total_seconds()))
        now = env.clock()
        if now < next_fire:  # woken early, or the clock moved back: nothing fired, and no window ends in the future
            if now < last_fire:
                log.warning("the clock moved back from %s to %s: the schedule goes on from %s", last_fire, now, now)
                last_fire = now
            pending = []
            continue
        fired += 1
        # every firing since the last one (several, if the process was suspended), oldest first
        pending = due_windows(cron, last_fire, now)
        last_fire = now
