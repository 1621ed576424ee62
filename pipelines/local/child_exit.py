"""Waiting for the first of several child processes to exit, without polling: on Linux each child's pidfd wakes the
waiter the moment the child exits, so the local runner sees a job's end at once instead of at its next look (up to
0.1 s later before). Elsewhere (no ``os.pidfd_open``, or a kernel older than 5.3) the wait is a sleep."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterable


def until_one_exits(processes: Iterable[subprocess.Popen], seconds: float) -> None:
    """Wait ``seconds``, or less: until one of the ``processes`` not yet reaped exits (returns at once if one has
    exited already). The exit status stays for the caller to reap."""
    running = [p.pid for p in processes if p.returncode is None]
    if not running or not hasattr(os, "pidfd_open"):
        time.sleep(seconds)
        return
    descriptors: list[int] = []
    try:
        for pid in running:
            descriptors.append(os.pidfd_open(pid))
    except ProcessLookupError:  # cannot be: an unreaped child keeps its pid; the caller looks again at once
        pass
    except OSError:  # no pidfds here (ENOSYS)
        time.sleep(seconds)
    else:
        waiting = select.poll()  # not select.select: it refuses descriptors numbered 1024 and above
        for descriptor in descriptors:
            waiting.register(descriptor, select.POLLIN)
        waiting.poll(seconds * 1000)
    finally:
        for descriptor in descriptors:
            os.close(descriptor)
