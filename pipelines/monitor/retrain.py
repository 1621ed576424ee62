"""Whether a drift alarm starts retraining: only with new data, and not twice within the cool-down."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

STARTED = "started"
COOLDOWN = "cooldown"
NO_NEW_DATA = "no-new-data"
NO_DATA = "no-data"
DISABLED = "disabled"


@dataclass(frozen=True)
class RetrainDecision:
    action: str  # started | cooldown | no-new-data | no-data | disabled
    reason: str
    at: str
    data_hash: str = ""
    execution_id: str = ""


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


def decide(
    now: datetime,
    enabled: bool,
    cooldown: timedelta,
    last_started: datetime | None,
    data_hash: str | None,
    trained_on_hash: str | None,
) -> RetrainDecision:
    """The pure rule: disabled, no data, cool-down, unchanged data, else start."""
    at = now.isoformat()
    if not enabled:
        return RetrainDecision(DISABLED, "retraining is disabled in the configuration", at)
    if data_hash is None:
        return RetrainDecision(NO_DATA, "the retraining location holds no data", at)
    if last_started is not None and now - last_started < cooldown:
        left = cooldown - (now - last_started)
        return RetrainDecision(
            COOLDOWN,
            f"a retraining run started at {last_started.isoformat()}; cool-down ends in "
            f"{left.total_seconds() / 3600:.1f} h",
            at,
            data_hash,
        )
    if trained_on_hash is not None and data_hash == trained_on_hash:
        return RetrainDecision(
            NO_NEW_DATA,
            "no new data: the retraining data is unchanged since the serving version was trained (same content hash)",
            at,
            data_hash,
        )
    return RetrainDecision(STARTED, "drift alarm with new data and no retraining within the cool-down", at, data_hash)


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
