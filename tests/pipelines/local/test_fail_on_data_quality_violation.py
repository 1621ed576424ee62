"""``--param FailOnDataQualityViolation=false``: with the model-monitor engine, a run on drifted data whose check
finds violations succeeds, registers its model, and reports the violations (the step's log and ViolationReport)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.local.record import list_records
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ABALONE, ROOT

STEP = "DataQualityBaseline"
DRIFTED = ("length", "diameter")
CHECK_ON = ("--param", "SkipDataQualityCheck=false")


def run(state: Path, *extra: str) -> int:
    config = str(ROOT / "mlops.yaml")
    return main(["run", "--config", config, "--state-dir", str(state), "--engine", "model-monitor", "--quiet", *extra])


@pytest.fixture(scope="module")
def approved(tmp_path_factory) -> Path:
    """A state whose first run (the check skipped by default) registered abalone/1, then approved."""
    state = tmp_path_factory.mktemp("state")
    assert run(state) == 0
    SQLiteRegistry(state / "registry.db").set_status("abalone", 1, "Approved", by="test", note="first model")
    return state


@pytest.fixture(scope="module")
def drifted(tmp_path_factory) -> Path:
    """The bundled data with two features half as large again."""
    path = tmp_path_factory.mktemp("data") / "abalone-drifted.csv"
    with open(ABALONE, newline="") as source, open(path, "w", newline="") as target:
        rows = list(csv.DictReader(source))
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, **{name: f"{float(row[name]) * 1.5:.4f}" for name in DRIFTED}} for row in rows)
    return path


def test_a_drifted_run_passes_with_the_violations_reported(approved, drifted):
    assert (
        run(approved, *CHECK_ON, "--param", f"InputDataUrl={drifted}", "--param", "FailOnDataQualityViolation=false")
        == 0
    )
    record = list_records(approved)[0]
    step = record["steps"][STEP]
    assert record["status"] == "Succeeded" and step["status"] == "Succeeded"
    props = step["properties"]
    assert props["ExitMessage"] == "CompletedWithViolations: Job completed successfully with 2 violations."
    report = json.loads(local_path(props["ViolationReport"], approved).read_text())
    assert {v["feature_name"] for v in report["violations"]} == set(DRIFTED)
    log = Path(step["log"]).read_text()
    assert "2 violations: length (baseline_drift_check), diameter (baseline_drift_check)" in log
    assert "FailOnViolation is false: the step succeeds with these violations" in log
    assert record["steps"]["Register"]["status"] == "Succeeded"
    assert [v.version for v in SQLiteRegistry(approved / "registry.db").list_versions("abalone")] == [2, 1]


def test_by_default_the_same_run_fails_on_the_violations(approved, drifted):
    assert run(approved, *CHECK_ON, "--param", f"InputDataUrl={drifted}") == 1
    step = list_records(approved)[0]["steps"][STEP]
    assert step["status"] == "Failed"
    assert step["failure_reason"].startswith("ClientError: Quality check failed. See violation report")
