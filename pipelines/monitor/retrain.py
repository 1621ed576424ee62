"""Retraining locally: the content hash of the data and the log of decisions. The rule itself (only with new
data, never twice within the cool-down) is shared with the retraining Lambda: ``monitoring.cloud.retrain_rules``."""

from __future__ import annotations

import hashlib
import json
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
    """``<state>/monitoring/retrain.jsonl``: every decision with its reason."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "monitoring" / "retrain.jsonl"

    def append(self, decision: RetrainDecision) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(decision)) + "\n")

    def all(self) -> list[RetrainDecision]:
        if not self.path.is_file():
            return []
        return [RetrainDecision(**json.loads(line)) for line in self.path.read_text().splitlines() if line.strip()]

    def last_started(self) -> datetime | None:
        started = [d for d in self.all() if d.action == STARTED]
        return datetime.fromisoformat(started[-1].at) if started else None
