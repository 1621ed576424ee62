"""A host process's peak memory, as the local runner records it.

The kernel's figure for a reaped child (``wait4``'s ``ru_maxrss``) is not the child's own peak: a process started by
fork (or vfork) and exec keeps the larger of its own peak and its parent's peak at the time of the fork, so every host
of a runner holding 360 MiB would report at least 360 MiB. The child's own peak is ``VmHWM`` in
``/proc/<pid>/status``, readable only while it runs. The runner therefore reads VmHWM each time it polls a running
host, and at the end takes ``ru_maxrss`` when it exceeds the runner's own peak at the start (then it is the host's
exact peak), else the last VmHWM read (a lower bound, at most one poll interval stale), and says which.
"""

from __future__ import annotations

from pathlib import Path


def high_water_mib(pid: int | str = "self") -> float | None:
    """VmHWM of ``pid`` (``self`` for this process) in MiB; None where /proc has no such figure (another OS, an
    ended or zombie process)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            kib = int(line.split()[1])
            # under 1 MiB: the process is between fork and exec, just exec'd or exiting, not yet its own figure
            return kib / 1024 if kib >= 1024 else None
    return None


def peak_rss(ru_maxrss_kib: int, inherited_mib: float | None, polled_mib: float | None) -> dict[str, object]:
    """The record's ``max_rss_mb`` and how it was measured (``max_rss_source``): ``exact`` from the kernel when its
    figure exceeds what the host inherited, else ``polled`` (a lower bound), else None (``unknown``: the host ended
    before the first poll, and the kernel's figure is the runner's)."""
    kernel = ru_maxrss_kib / 1024
    if inherited_mib is not None and kernel > inherited_mib + 1:
        return {"max_rss_mb": round(kernel, 1), "max_rss_source": "exact"}
    if polled_mib is not None:
        return {"max_rss_mb": round(polled_mib, 1), "max_rss_source": "polled"}
    return {"max_rss_mb": None, "max_rss_source": "unknown"}
