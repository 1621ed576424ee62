"""The record an execution leaves: steps, status, timings, attempts, cache hits, logs and outputs.

A record that cannot be read (damaged JSON, or not the shape written here) is named with its file: ``load`` refuses
it, and ``read_records`` lists it apart, so one bad record neither hides nor stops the others. An execution id is
checked before it becomes a path: the runner's format (``plan.new_execution_id``), nothing else."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipelines.atomic_files import replace_file
from pipelines.errors import StateError, UsageError

EXECUTING, SUCCEEDED, FAILED = "Executing", "Succeeded", "Failed"
PENDING, NOT_RUN = "Pending", "NotRun"
EXECUTION_ID = re.compile(r"[a-z0-9]{12}")  # what plan.new_execution_id makes
KNOWN_SHOWN = 5  # the most recent executions an unknown id's error names
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true/false",
}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def executions_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "executions"


def check_execution_id(execution_id: str) -> str:
    """``execution_id`` if it has the runner's format (12 lowercase letters and digits), else UsageError naming it."""
    if not EXECUTION_ID.fullmatch(execution_id):
        shown = repr(execution_id)
        if len(execution_id) > 40:
            shown = f"{execution_id[:40]!r}... ({len(execution_id)} characters)"
        raise UsageError(
            f"an execution id is 12 lowercase letters and digits, as the run printed it and executions list shows "
            f"it; got {shown}"
        )
    return execution_id


def this_runner() -> dict:
    """The process running an execution: a record it leaves Executing (killed) can tell that it will never end."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def runner_gone(data: dict) -> bool:
    """Whether the process that ran this Executing record is known to be gone (same host, no such process)."""
    runner = data.get("runner")
    if not isinstance(runner, dict) or runner.get("host") != socket.gethostname():
        return False
    pid = runner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: alive
        return False
    return False


def _json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _shape_problem(data: object, directory: str) -> str | None:
    """What makes ``data`` no execution record of ``directory`` (None: it is one)."""
    if not isinstance(data, dict):
        return f"holds {_json_type(data)}, expected an object (an execution record)"
    for key in ("execution_id", "pipeline_name", "status", "created"):
        if not isinstance(data.get(key), str):
            return f"has {_json_type(data.get(key))} as {key}, expected a string"
    if data["execution_id"] != directory:
        return f"is the record of execution {data['execution_id']!r}, not of its directory's {directory!r}"
    for key, kind in (("parameters", dict), ("resumed", list), ("steps", dict)):
        if not isinstance(data.get(key), kind):
            return f"has {_json_type(data.get(key))} as {key}, expected {_JSON_TYPES[kind]}"
    for name, step in data["steps"].items():
        if not (isinstance(step, dict) and isinstance(step.get("type"), str) and isinstance(step.get("status"), str)):
            return f"has no type and status for step {name!r}"
    return None


def read_record(path: Path) -> dict:
    """The execution record at ``path``; StateError naming the file when it cannot be read or is not a record."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problem: str | None = f"cannot be read ({exc.strerror or exc})"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except json.JSONDecodeError as exc:
        problem = f"is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno}; truncated or damaged?)"
    else:
        problem = _shape_problem(data, path.parent.name)
    if problem is not None:
        raise StateError(
            f"Execution record {path} {problem}: restore the file, or move the directory {path.parent} aside"
        )
    return data


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
                "runner": this_runner(),
            },
        )
        record.save()
        return record

    @classmethod
    def load(cls, state_dir: Path, execution_id: str) -> ExecutionRecord:
        """The record of ``execution_id``: UsageError for an id of another format, StateError when there is no such
        execution or its record is unreadable (naming the file)."""
        path = executions_dir(state_dir) / check_execution_id(execution_id) / "execution.json"
        if not path.exists():
            records = sorted(executions_dir(state_dir).glob("*/execution.json"), key=_modified, reverse=True)
            known = [p.parent.name for p in records[:KNOWN_SHOWN]]
            more = len(records) - len(known)
            raise StateError(
                f"Unknown execution {execution_id!r} under {executions_dir(state_dir)}; "
                + (f"the {len(known)} most recent of {len(records)}: " if more else "known: ")
                + (", ".join(known) or "none")
                + ("; mlops executions list shows them all" if more else "")
            )
        return cls(path.parent, read_record(path))

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
        text = json.dumps(self.data, indent=2, sort_keys=False, default=str)
        replace_file(self.directory / "execution.json", text)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class Unreadable:
    """An execution record that cannot be read: its execution (the directory's name), its file and what is wrong."""

    execution_id: str
    path: Path
    problem: str


def read_records(state_dir: Path) -> tuple[list[dict], list[Unreadable]]:
    """Every readable execution record, newest first, and every unreadable one, by execution id."""
    records, unreadable = [], []
    for path in sorted(executions_dir(state_dir).glob("*/execution.json")):
        try:
            records.append(read_record(path))
        except StateError as exc:
            unreadable.append(Unreadable(path.parent.name, path, str(exc)))
    return sorted(records, key=lambda r: r["created"], reverse=True), unreadable


def list_records(state_dir: Path) -> list[dict]:
    """Every readable execution record, newest first (``read_records`` names the unreadable ones too)."""
    return read_records(state_dir)[0]
