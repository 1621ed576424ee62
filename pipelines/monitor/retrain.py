"""Retraining locally: the content hash of the data and the log of decisions. The rule itself (only with new
data, never twice within the cool-down) is shared with the retraining Lambda: ``monitoring.cloud.retrain_rules``."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from monitoring.cloud.retrain_rules import (
    COOLDOWN,
    DISABLED,
    NO_DATA,
    NO_NEW_DATA,
    STARTED,
    RetrainDecision,
    decide,
)
from pipelines.monitor.records import append_line, read_lines

__all__ = [
    "COOLDOWN",
    "DISABLED",
    "NO_DATA",
    "NO_NEW_DATA",
    "STARTED",
    "DecisionLog",
    "RetrainDecision",
    "content_hash",
    "decide",
]

log = logging.getLogger(__name__)


def content_hash(path: Path) -> str:
    """sha256 over a file, or over a directory's files (names and contents, sorted)."""
    sha = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for item in files:
        sha.update(item.relative_to(path.parent if path.is_file() else path).as_posix().encode() + b"\0")
        with open(item, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


class DecisionLog:
    """``<state>/monitoring/retrain.jsonl``: every decision with its reason, one whole synced line each."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "monitoring" / "retrain.jsonl"

    def append(self, decision: RetrainDecision) -> None:
        append_line(self.path, asdict(decision))

    def all(self) -> list[RetrainDecision]:
        """The decisions, oldest first; a line an interrupted write cut short is skipped (with a warning)."""
        found = []
        for number, record in read_lines(self.path):
            try:
                found.append(RetrainDecision(**record))
            except TypeError as exc:
                log.warning("%s line %d is not a retraining decision (%s): skipped", self.path, number, exc)
        return found

    def last_started(self) -> datetime | None:
        started = [d for d in self.all() if d.action == STARTED]
        return datetime.fromisoformat(started[-1].at) if started else None
