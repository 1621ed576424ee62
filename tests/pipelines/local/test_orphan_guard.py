"""The orphan guard: when the local runner is killed (SIGKILL: nothing of it runs any more), its job processes and
what they started are stopped all the same; a group that ended (or whose number now belongs to another process) is
left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.local import orphan_guard, processes
from tests.pipelines.local.test_interrupt import alive, all_gone, job_state, start_hanging_run

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]
# A group leader that starts a child of its own and says both pids on stdout.
PARENT = [
    sys.executable,
    "-c",
    f"import subprocess, sys, time; c = subprocess.Popen({SLEEPER!r}); print(c.pid, flush=True); time.sleep(300)",
]


def guard(grace: float = 5.0) -> subprocess.Popen:
    return subprocess.Popen(orphan_guard.command(grace), stdin=subprocess.PIPE, start_new_session=True)


def group() -> tuple[subprocess.Popen, int]:
    """A process in a session of its own and the child it started."""
    leader = subprocess.Popen(PARENT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert leader.stdout is not None
    return leader, int(leader.stdout.readline())


def test_the_end_of_its_input_stops_every_group_still_listed_and_what_they_started():
    watcher = guard()
    first, first_child = group()
    second, second_child = group()
    assert watcher.stdin is not None
    watcher.stdin.write(f"+{first.pid}\n+{second.pid}\n".encode())
    watcher.stdin.close()  # as when the runner dies
    assert first.wait(10) == -signal.SIGTERM and second.wait(10) == -signal.SIGTERM
    assert watcher.wait(30) == 0
    assert all_gone([first_child, second_child])


def test_a_group_that_ended_is_not_signalled():
    watcher = guard()
    kept, kept_child = group()
    try:
        assert watcher.stdin is not None
        watcher.stdin.write(f"+{kept.pid}\n-{kept.pid}\nnonsense\n+\n".encode())
        watcher.stdin.close()
        assert watcher.wait(30) == 0
        assert kept.poll() is None and alive(kept_child)
    finally:
        os.killpg(kept.pid, signal.SIGKILL)
        kept.wait(10)


def test_a_group_whose_leader_is_another_process_now_is_left_alone():
    assert orphan_guard.still_ours("100", "100", exists=True)
    assert not orphan_guard.still_ours("100", "250", exists=True)  # the pid was reused: not the runner's group
    assert orphan_guard.still_ours("100", None, exists=True)  # the leader ended, its group lives on
    assert not orphan_guard.still_ours("100", None, exists=False)
    assert orphan_guard.still_ours(None, None, exists=True)  # no /proc: a group that exists is signalled


def test_a_leaders_start_time_is_read_from_proc():
    leader = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        time_of_start = orphan_guard.start_time(leader.pid)
        assert time_of_start is not None and time_of_start.isdigit()
        assert orphan_guard.start_time(leader.pid) == time_of_start
        assert orphan_guard.group_exists(leader.pid)
    finally:
        leader.kill()
        leader.wait(10)
    assert orphan_guard.start_time(leader.pid) is None
    assert not orphan_guard.group_exists(leader.pid)


def test_messages_are_followed_to_the_groups_still_listed():
    live = orphan_guard.read_messages([b"+1\n", b"+2\n", b"-1\n", b"x\n", b"+\n", b"-9\n"])
    assert sorted(live) == [2]


def test_a_guard_that_was_killed_is_started_again_and_told_of_every_live_process():
    leader = processes.start(SLEEPER)
    first = processes._LIVE.guard
    assert first is not None and first.poll() is None
    first.kill()
    first.wait(10)
    other = processes.start(SLEEPER)  # a new guard, told of leader and other
    again = processes._LIVE.guard
    try:
        assert again is not None and again is not first and again.poll() is None and again.stdin is not None
        processes.ended(other)
        again.stdin.close()  # as when the runner dies
        assert leader.wait(30) == -signal.SIGTERM  # it knew of leader, started before it
        assert again.wait(30) == 0
        assert other.poll() is None  # and that other had ended
    finally:
        for process in (leader, other):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        processes.ended(leader)  # starts the next guard: this one has ended


def deaf_guard() -> subprocess.Popen:
    """A process put in the guard's place that runs but has closed its input (a write to it fails); the guard it
    replaces is ended."""
    deaf_code = "import os, time; os.close(0); print(1, flush=True); time.sleep(60)"
    deaf = subprocess.Popen(
        [sys.executable, "-c", deaf_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )
    assert deaf.stdout is not None and deaf.stdout.readline().strip() == b"1"  # running, its input closed

    with processes._LIVE.lock:
        previous, processes._LIVE.guard = processes._LIVE.guard, deaf
    if previous is not None and previous.stdin is not None:
        previous.stdin.close()
        previous.wait(30)
    return deaf


def test_a_guard_that_stopped_reading_is_replaced():
    deaf = deaf_guard()
    process = processes.start(SLEEPER)
    try:
        assert deaf.poll() == -signal.SIGKILL  # the write failed: killed, reaped, replaced
        assert processes._LIVE.guard not in (None, deaf)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        processes.ended(process)
        deaf.stdout.close()


# Runs the definition in a process of its own, which the test then kills with SIGKILL.
RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipelines.local.runner import LocalRunner
    from pipelines.registry.sqlite import SQLiteRegistry
    state = Path(sys.argv[1])
    LocalRunner(state, SQLiteRegistry(state / "registry.db")).start(Path(sys.argv[2]).read_text(), "p")
    """
)


def test_a_runner_killed_with_sigkill_leaves_no_job_process_running(tmp_path):
    state = job_state(tmp_path)
    runner, jobs = start_hanging_run(tmp_path, state, RUNNER)
    started_at = time.monotonic()
    runner.kill()
    runner.communicate(timeout=60)
    assert all_gone(jobs), [pid for pid in jobs if alive(pid)]  # the hosts and the children they started
    assert time.monotonic() - started_at < 10  # SIGTERM ends them: no wait for the grace period
    record = json.loads(next(Path(state / "executions").glob("*/execution.json")).read_text())
    assert record["status"] == "Executing"  # what a killed runner leaves: `mlops run --resume` takes it up


def running_with(marker: str) -> list[int]:
    """The live processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_job_process_that_cannot_be_guarded_is_stopped_and_the_start_fails(monkeypatch, tmp_path):
    deaf = deaf_guard()
    marker = f"unguarded-{tmp_path.name}"
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))  # no guard can be started
    with pytest.raises(FileNotFoundError):
        processes.start([*SLEEPER, marker])
    monkeypatch.undo()
    assert running_with(marker) == []  # the job process started, then was stopped and reaped
    assert deaf.poll() == -signal.SIGKILL and processes._LIVE.guard is None
    assert not any(marker in p.args for p in processes._LIVE.processes)
    deaf.stdout.close()
