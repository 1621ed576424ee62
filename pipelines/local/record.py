"""The record an execution leaves: steps, status, timings, attempts, cache hits, logs and outputs."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

from pipelines.errors import StateError

EXECUTING, SUCCEEDED, FAILED = "Executing", "Succeeded", "Failed"
PENDING, NOT_RUN = "Pending", "NotRun"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def executions_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "executions"


class ExecutionRecord:
    """``<state>/executions/<id>/execution.json``, rewritten atomically at every change."""

    def __init__(self, directory: Path, data: dict) -> None:
        self.directory = directory
        self.data = data
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls, state_dir: Path, execution_id: str, pipeline: str, parameters: dict, steps: dict[str, str], definition: str
    ) -> ExecutionRecord:
        directory = executions_dir(state_dir) / execution_id
        directory.mkdir(parents=True, exist_ok=False)
        (directory / "definition.json").write_text(definition, encoding="utf-8")
        record = cls(
            directory,
            {
                "execution_id": execution_id,
                "pipeline_name": pipeline,
                "status": EXECUTING,
                "created": now(),
                "ended": None,
                "failure_reason": None,
                "parameters": parameters,
                "resumed": [],
                "steps": {name: {"type": kind, "status": PENDING} for name, kind in steps.items()},
            },
        )
        record.save()
        return record

    @classmethod
    def load(cls, state_dir: Path, execution_id: str) -> ExecutionRecord:
        path = executions_dir(state_dir) / execution_id / "execution.json"
        if not path.is_file():
            known = sorted(p.name for p in executions_dir(state_dir).glob("*") if (p / "execution.json").is_file())
            raise StateError(
                f"Unknown execution {execution_id!r} under {executions_dir(state_dir)}; "
                f"known: {', '.join(known[-5:]) or 'none'}"
            )
        return cls(path.parent, json.loads(path.read_text(encoding="utf-8")))

    @property
    def definition(self) -> str:
        return (self.directory / "definition.json").read_text(encoding="utf-8")

    def step(self, name: str) -> dict:
        return self.data["steps"][name]

    def update_step(self, name: str, **fields) -> None:
        with self._lock:
            self.data["steps"][name].update(fields)
            self._save_locked()

    def update(self, **fields) -> None:
        with self._lock:
            self.data.update(fields)
            self._save_locked()

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        path = self.directory / "execution.json"
        tmp = path.with_name("execution.json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=False, default=str), encoding="utf-8")
        tmp.replace(path)


def list_records(state_dir: Path) -> list[dict]:
    """Every execution's record, newest first."""
    records = []
    for path in executions_dir(state_dir).glob("*/execution.json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(records, key=lambda r: r.get("created", ""), reverse=True)
