"""The record of local monitoring executions: one JSON object per check, in a JSON-lines file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops_errors import MlopsError
from pipelines.monitor.records import append_line, read_lines

COMPLETED = "Completed"
WITH_VIOLATIONS = "CompletedWithViolations"
NO_DATA = "NoData"
FAILED = "Failed"
DATA_QUALITY = "data-quality"
MODEL_QUALITY = "model-quality"
KINDS = (DATA_QUALITY, MODEL_QUALITY)


class MonitorError(MlopsError, ValueError):
    """Bad input to the local monitoring loop (a window, an execution id, a check that cannot run as configured)."""


@dataclass(frozen=True)
class MonitoringExecution:
    """One check of one window of captured traffic: data quality (drift against the live version's data baseline)
    or model quality (captured predictions joined with ground truth, against its model-quality constraints).

    For model quality, ``window_start``/``window_end`` are the capture window, ``item_count`` the matched pairs
    and ``model_quality`` holds ``at`` (the check's time T), ``labels_window``, ``metrics`` {name: value},
    ``constraints`` {name: {threshold, comparison_operator}}, ``violations`` (constraint_violations.json's
    entries) and ``counts`` (the merge's matched / unmatched / duplicate / malformed counts)."""

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
    kind: str = DATA_QUALITY  # records written before model quality existed are data quality
    model_quality: dict = field(default_factory=dict)
    hosts: list[dict] = field(default_factory=list)  # a check on several hosts: each host's job, timing and log


class ExecutionLog:
    """``<state>/monitoring/executions.jsonl``: appended whole lines, readable while written."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "monitoring" / "executions.jsonl"

    def append(self, execution: MonitoringExecution) -> None:
        """Record ``execution`` as one whole, synced line (after a line an interrupted write left unfinished)."""
        append_line(self.path, asdict(execution))

    def all(self, endpoint: str | None = None) -> list[MonitoringExecution]:
        """Executions, oldest first (optionally of one endpoint); unreadable lines are skipped."""
        found = []
        for _, record in read_lines(self.path):
            try:
                execution = MonitoringExecution(**record)
            except TypeError:
                continue
            if endpoint is None or execution.endpoint == endpoint:
                found.append(execution)
        return found

    def checked_windows(self, endpoint: str, schedule: str) -> set[tuple[str, str]]:
        """Data-quality windows already checked (whatever the outcome but Failed, which may be retried). Model-quality
        windows overlap by design (a day of capture every hour) and are never deduplicated."""
        return {
            (e.window_start, e.window_end)
            for e in self.all(endpoint)
            if e.schedule == schedule and e.status != FAILED and e.kind == DATA_QUALITY
        }

    def get(self, execution_id: str) -> MonitoringExecution:
        for execution in self.all():
            if execution.execution_id == execution_id:
                return execution
        raise MonitorError(f"Unknown monitoring execution {execution_id!r} in {self.path}")
