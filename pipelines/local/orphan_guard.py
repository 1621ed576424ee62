"""Stops the local runner's job processes when the runner is gone, however it ended (SIGKILL, the OOM killer, a
crash), so that no host keeps running, and holding its cores, for an execution nobody follows any more.

``pipelines.local.processes`` runs this file as a program, ``python -I <this file> <grace seconds>``, once per
runner process, and tells it on its standard input about every job process: ``+<pid>`` when one started (in a
session of its own: its process group is ``<pid>``), ``-<pid>`` when it ended. End of input means the runner is gone:
its end of the pipe closes with it, whatever killed it. Every group still listed then gets SIGTERM and, after the
grace period, SIGKILL, as an interrupt stops them (``processes.stop``); what the job processes started in their
groups goes with them.

A group is signalled only while it is still the one the runner started: its leader's start time (field 22 of
``/proc/<pid>/stat``) is the one it had when the runner named it, or the leader is gone and the group lives on (Linux
does not hand out a pid while a process group of that number exists). Without ``/proc`` the group is signalled as
long as it exists.

Standard library only, Python 3.10 compatible; ``-I`` keeps the runner's environment and working directory out of
its imports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable

POLL_SECONDS = 0.05


def command(grace: float) -> list[str]:
    """The command line that runs the guard with ``grace`` seconds between SIGTERM and SIGKILL."""
    return [sys.executable, "-I", os.path.abspath(__file__), str(grace)]


def start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot), None when it does not exist or there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


def group_exists(pgid: int) -> bool:
    """Whether a process group ``pgid`` has a member (zombies count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def still_ours(recorded: str | None, current: str | None, exists: bool) -> bool:
    """Whether the group named with leader start time ``recorded`` is still the runner's: its leader now has the same
    start time, or the leader is gone (``current`` None) and the group exists."""
    if not exists:
        return False
    if current is None or recorded is None:
        return True
    return current == recorded


def read_messages(lines: Iterable[bytes]) -> dict[int, str | None]:
    """Follow ``+pid`` / ``-pid`` lines to their end; the groups still listed, with their leaders' start times as
    they were when named. Lines that are neither are ignored."""
    live: dict[int, str | None] = {}
    for raw in lines:
        line = raw.strip()
        if len(line) < 2 or not line[1:].isdigit():
            continue
        pid = int(line[1:])
        if line[:1] == b"+":
            live[pid] = start_time(pid)
        elif line[:1] == b"-":
            live.pop(pid, None)
    return live


def stop(live: dict[int, str | None], grace: float) -> list[int]:
    """SIGTERM every group of ``live`` that is still the runner's, SIGKILL what is left after ``grace`` seconds;
    returns the groups signalled."""
    groups = [pgid for pgid, recorded in live.items() if still_ours(recorded, start_time(pgid), group_exists(pgid))]
    signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(group_exists(pgid) for pgid in groups):
        time.sleep(POLL_SECONDS)
    signal_groups(groups, signal.SIGKILL)
    return groups


def signal_groups(groups: Iterable[int], sig: signal.Signals) -> None:
    """Send ``sig`` to each process group of ``groups``; one that is gone, or not ours to signal, is skipped."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def main(argv: list[str]) -> int:
    grace = float(argv[1]) if len(argv) > 1 else 5.0
    stop(read_messages(sys.stdin.buffer), grace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
