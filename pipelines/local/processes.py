"""The host processes of the local runner's jobs, so that an interrupted execution stops every one (none is orphaned).

Each job's process starts in a session of its own (its process group then holds whatever it starts in turn) and is
registered here until it ends. ``stop`` ends every registered group (SIGTERM, then SIGKILL after a grace period) and
refuses new processes until ``reset``; a job that ended because of it fails as ``Interrupted``, a kind no retry
policy names, and a retry's wait (``pause``) ends at once. One execution at a time per interpreter: the runner stops
and resets around its own.

A runner that cannot stop them (killed with SIGKILL, by the OOM killer) leaves that to its orphan guard
(``pipelines.local.orphan_guard``), a small process started with the first job process and told of every one that
starts and ends: when the runner is gone, the guard stops the groups still running."""

from __future__ import annotations

import atexit
import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterable

from pipelines.local import orphan_guard
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
        self.guard: subprocess.Popen | None = None


_LIVE = _Live()


def start(command: list[str], **popen) -> subprocess.Popen:
    """``Popen(command, **popen)`` in a new session, registered until ``ended``; StepFailure (kind Interrupted) after
    ``stop``. OSError when it cannot start."""
    with _LIVE.lock:
        if _LIVE.stopped is not None:
            raise StepFailure(f"not started: {_LIVE.stopped}", INTERRUPTED)
        process = subprocess.Popen(command, start_new_session=True, **popen)
        try:
            _tell_guard(f"+{process.pid}\n")
        except OSError:  # no guard could be started: the process is not left running unguarded
            stop_groups([process], grace=0.0)
            process.wait()
            raise
        _LIVE.processes.add(process)
    return process


def ended(process: subprocess.Popen) -> None:
    """Forget a process its job has finished with (reaped, or stopped with its group)."""
    with _LIVE.lock:
        _LIVE.processes.discard(process)
        with contextlib.suppress(OSError):  # a guard that cannot be told checks the group's leader before it signals
            _tell_guard(f"-{process.pid}\n")


def _tell_guard(message: str) -> None:
    """Send ``message`` to the orphan guard, started (or started again, told of every live process) when it is not
    running; OSError when it cannot be started. Called with the lock held."""
    for attempt in range(2):
        guard, text = _LIVE.guard, message
        if guard is None or guard.poll() is not None:
            command, devnull = orphan_guard.command(STOP_GRACE_SECONDS), subprocess.DEVNULL
            guard = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=devnull, stderr=devnull, start_new_session=True
            )
            _LIVE.guard = guard
            text = "".join(f"+{p.pid}\n" for p in _LIVE.processes) + message
        assert guard.stdin is not None
        try:
            guard.stdin.write(text.encode("ascii"))
            guard.stdin.flush()
            return
        except OSError:  # the guard is gone (killed): start another
            _LIVE.guard = None
            with contextlib.suppress(OSError):
                guard.stdin.close()
            guard.kill()
            guard.wait()
            if attempt:
                raise


@atexit.register
def _release_guard() -> None:
    """The runner ends normally: the guard's input closes, it stops what is left (nothing, normally) and ends."""
    guard = _LIVE.guard
    if guard is not None and guard.stdin is not None:
        with contextlib.suppress(OSError):
            guard.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            guard.wait(1.0)


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
    orphan_guard.signal_groups((process.pid for process in processes), sig)
