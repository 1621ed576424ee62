"""The monitoring loop's JSON-lines records (executions, retraining decisions): whole lines appended and synced,
read back skipping what an interrupted write left, and a lock for decisions that must not be taken twice at once."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def append_line(path: Path, record: dict) -> None:
    """Append ``record`` as one JSON line, synced. A last line an interrupted write left without its newline is
    ended first, so it cannot swallow this record (the damaged line alone stays unreadable)."""
    data = (json.dumps(record, default=str) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if handle.seek(0, os.SEEK_END) > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                data = b"\n" + data
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def read_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each readable JSON-object line of ``path``; an unreadable line (cut short by an
    interrupted write, edited by hand) is skipped with a warning naming the file and the line."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                log.warning("%s line %d is not a whole JSON record (%s): skipped", path, number, exc)
                continue
            if isinstance(record, dict):
                yield number, record
            else:
                log.warning("%s line %d is not a JSON object: skipped", path, number)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block: one process at a time, across
    processes; the lock goes with the process, so a killed holder never leaves it taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def sole(path: Path, what: str) -> Iterator[None]:
    """Hold ``path``'s lock for the block, or MonitorError at once when another process holds it (``what`` says
    what it guards); the holder's process id is written in the file, for the message."""
    from pipelines.monitor.executions import MonitorError

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise MonitorError(f"{what} is already running (process {holder}; lock {path}): stop it first") from None
        try:
            handle.truncate(0)
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
