"""One real local pipeline run, read back the way SageMaker would hand it to the containers: the executed
definition, each step's request with its expressions evaluated, and the objects the local runner wrote."""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.cli import main
from pipelines.local.expressions import Context, evaluate, execution_variables
from pipelines.local.record import list_records
from pipelines.local.steps import read_property_file
from pipelines.local.store import ObjectStore
from pipelines.registry.model import ModelVersion
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT

CONFIG = ROOT / "mlops.yaml"


@dataclass(frozen=True)
class LocalRun:
    """A succeeded local execution in ``state``."""

    state: Path
    record: dict
    definition: dict

    @property
    def store(self) -> ObjectStore:
        """The run's local object store (s3:// URIs as files)."""
        return ObjectStore(self.state)

    def steps(self) -> dict[str, dict]:
        """Every step of the definition by name, condition branches included."""
        found: dict[str, dict] = {}

        def visit(steps: list[dict]) -> None:
            for step in steps:
                found[step["Name"]] = step
                visit(step.get("Arguments", {}).get("IfSteps", []) if step["Type"] == "Condition" else [])
                visit(step.get("Arguments", {}).get("ElseSteps", []) if step["Type"] == "Condition" else [])

        visit(self.definition["Steps"])
        return found

    def properties(self, step: str) -> dict:
        """The step's recorded properties (Describe*-shaped)."""
        return self.record["steps"][step]["properties"]

    def context(self) -> Context:
        """What the runner's expressions saw in this execution (as pipelines/local/runner.py builds it)."""
        execution_id, pipeline = self.record["execution_id"], self.record["pipeline_name"]
        done = {n: s["properties"] for n, s in self.record["steps"].items() if s["status"] == "Succeeded"}
        ctx = Context(
            parameters=self.record["parameters"],
            execution=execution_variables(execution_id, pipeline, self.record["created"]),
            properties=done,
        )
        steps = self.steps()
        ctx.read_property_file = lambda step, file: read_property_file(steps[step], done[step], file, self.store)
        return ctx

    def arguments(self, step: str) -> dict:
        """The step's request (CreateProcessingJob / CreateTrainingJob) as this execution sent it."""
        return evaluate(self.steps()[step]["Arguments"], self.context())

    def registered(self) -> ModelVersion:
        """The model package this execution registered."""
        properties = self.properties("Register")
        registry = SQLiteRegistry(self.state / "registry.db")
        return registry.get(properties["ModelPackageGroupName"], int(properties["ModelPackageVersion"]))

    def copy_object(self, uri: str, destination: Path) -> None:
        """An object (into ``destination/<name>``) or a prefix (its tree into ``destination``), copied: the jobs
        never touch the store's files."""
        source = self.store.path(uri)
        destination.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            shutil.copyfile(source, destination / source.name)
        elif source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            raise FileNotFoundError(f"{uri} is not in the local object store ({source})")


def run_pipeline(state: Path) -> LocalRun:
    """Run the project's pipeline locally with the repository's configuration; the run must succeed."""
    code = main(["run", "--config", str(CONFIG), "--state-dir", str(state), "--quiet"])
    records = list_records(state)
    if code != 0 or not records or records[0]["status"] != "Succeeded":
        reason = records[0].get("failure_reason") if records else "no execution record"
        raise AssertionError(f"local pipeline run failed (exit {code}): {reason}")
    record = records[0]
    definition_file = state / "executions" / record["execution_id"] / "definition.json"
    return LocalRun(state, record, json.loads(definition_file.read_text(encoding="utf-8")))


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def archive_bytes(archive: Path) -> dict[str, bytes]:
    """Every file of a model.tar.gz by its member name."""
    with tarfile.open(archive) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
