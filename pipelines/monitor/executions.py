"""The record of local monitoring executions: one JSON object per check, in a JSON-lines file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

COMPLETED = "Completed"
WITH_VIOLATIONS = "CompletedWithViolations"
NO_DATA = "NoData"
FAILED = "Failed"


@dataclass(frozen=True)
class MonitoringExecution:
    """One data-quality check of one window of captured traffic."""

    execution_id: str
    endpoint: str
    schedule: str
    window_start: str
    window_end: str
    status: str
    started: str
    ended: str
    model_version: str = ""
    message: str = ""
    report_uri: str = ""
    item_count: int = 0
    violations: int = 0
    drift: list[dict] = field(default_factory=list)
    alarm_transitions: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    retrain: dict = field(default_factory=dict)


class ExecutionLog:
    """``<state>/monitoring/executions.jsonl``: appended whole lines, readable while written."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "monitoring" / "executions.jsonl"

    def append(self, execution: MonitoringExecution) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(execution), default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def all(self, endpoint: str | None = None) -> list[MonitoringExecution]:
        """Executions, oldest first (optionally of one endpoint); unreadable lines are skipped."""
        if not self.path.is_file():
            return []
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                execution = MonitoringExecution(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue
            if endpoint is None or execution.endpoint == endpoint:
                found.append(execution)
        return found

    def checked_windows(self, endpoint: str, schedule: str) -> set[tuple[str, str]]:
        """Windows already checked (whatever the outcome but Failed, which may be retried)."""
        return {
            (e.window_start, e.window_end) for e in self.all(endpoint) if e.schedule == schedule and e.status != FAILED
        }

    def get(self, execution_id: str) -> MonitoringExecution:
        for execution in self.all():
            if execution.execution_id == execution_id:
                return execution
        raise ValueError(f"Unknown monitoring execution {execution_id!r} in {self.path}")
