"""The host processes of the local runner's jobs, so that an interrupted execution stops every one (none is orphaned).

Each job's process starts in a session of its own (its process group then holds whatever it starts in turn) and is
registered here until it ends. ``stop`` ends every registered group (SIGTERM, then SIGKILL after a grace period) and
refuses new processes until ``reset``; a job that ended because of it fails as ``Interrupted``, a kind no retry
policy names, and a retry's wait (``pause``) ends at once. One execution at a time per interpreter: the runner stops
and resets around its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable

from pipelines.local.store import StepFailure

INTERRUPTED = "Interrupted"  # the StepFailure kind of a job stopped by an interrupt
STOP_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.05


class _Live:
    """The registered processes, and why new ones are refused (None: they are not)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.processes: set[subprocess.Popen] = set()
        self.stopped: str | None = None
        self.stopping = threading.Event()


_LIVE = _Live()


def start(command: list[str], **popen) -> subprocess.Popen:
    """``Popen(command, **popen)`` in a new session, registered until ``ended``; StepFailure (kind Interrupted) after
    ``stop``. OSError when it cannot start."""
    with _LIVE.lock:
        if _LIVE.stopped is not None:
            raise StepFailure(f"not started: {_LIVE.stopped}", INTERRUPTED)
        process = subprocess.Popen(command, start_new_session=True, **popen)
        _LIVE.processes.add(process)
    return process


def ended(process: subprocess.Popen) -> None:
    """Forget a process its job has finished with (reaped, or stopped with its group)."""
    with _LIVE.lock:
        _LIVE.processes.discard(process)


def check() -> None:
    """StepFailure (kind Interrupted) once ``stop`` was called: a job whose process failed then says why."""
    reason = _LIVE.stopped
    if reason is not None:
        raise StepFailure(f"stopped: {reason}", INTERRUPTED)


def pause(seconds: float) -> None:
    """Wait ``seconds`` (a retry's delay), or less: until ``stop``."""
    _LIVE.stopping.wait(seconds)


def stop(reason: str) -> int:
    """Refuse new processes (until ``reset``) and stop every registered one with its group; how many were running."""
    with _LIVE.lock:
        _LIVE.stopped = reason
        _LIVE.stopping.set()
        registered = list(_LIVE.processes)
    running = sum(1 for p in registered if p.returncode is None)
    stop_groups(registered)
    return running


def reset() -> None:
    """Accept new processes again (the next execution)."""
    with _LIVE.lock:
        _LIVE.stopped = None
        _LIVE.stopping.clear()


def stop_groups(processes: Iterable[subprocess.Popen], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each process's group, SIGKILL what is left of it after ``grace`` seconds (or once its leader ended:
    what it started is stopped with it). Processes whose leader was already reaped keep their group's survivors, so
    their groups are signalled too."""
    processes = list(processes)
    _signal_groups(processes, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(_POLL_SECONDS)
    _signal_groups(processes, signal.SIGKILL)


def _signal_groups(processes: list[subprocess.Popen], sig: signal.Signals) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
