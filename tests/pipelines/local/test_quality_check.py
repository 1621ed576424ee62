"""The model-monitor engine's QualityCheck step, run locally as SageMaker runs it: with SkipCheck false it checks the
dataset against the drift-check baseline (supplied, else the latest Approved version's) and fails on a violation
when FailOnViolation is set."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from pipelines.build import config_from_kwargs, local_config
from pipelines.cli import main
from pipelines.local.definitions import local_definition, stage_input_override
from pipelines.local.expressions import Context
from pipelines.local.quality_check import previous_baseline, settings
from pipelines.local.record import list_records
from pipelines.local.runner import LocalRunner
from pipelines.local.store import StepFailure
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ABALONE, ROOT

CONFIG = str(ROOT / "mlops.yaml")
STEP = "DataQualityBaseline"
CHECK_FAILED = "ClientError: Quality check failed. See violation report"
DRIFTED = ("length", "diameter")


def run(state: Path, *extra: str) -> int:
    return main(["run", "--config", CONFIG, "--state-dir", str(state), "--engine", "model-monitor", "--quiet", *extra])


def latest(state: Path) -> dict:
    return list_records(state)[0]


def registry(state: Path) -> SQLiteRegistry:
    return SQLiteRegistry(state / "registry.db")


def report_of(reason: str) -> str:
    match = re.search(r"See violation report (s3://\S+) \(", reason)
    assert match, reason
    return match.group(1)


def violations_at(uri: str, state: Path) -> list[dict]:
    return json.loads(local_path(uri, state).read_text())["violations"]


@pytest.fixture(scope="module")
def approved(tmp_path_factory) -> Path:
    """A state whose first run (SkipDataQualityCheck defaults to true) registered abalone/1, then approved."""
    state = tmp_path_factory.mktemp("state")
    assert run(state) == 0
    (version,) = registry(state).list_versions("abalone")
    registry(state).set_status("abalone", version.version, "Approved", by="test", note="first model")
    return state


@pytest.fixture(scope="module")
def drifted(tmp_path_factory) -> Path:
    """The bundled abalone data with two features half as large again: the same rows, shifted distributions."""
    path = tmp_path_factory.mktemp("data") / "abalone-drifted.csv"
    with open(ABALONE, newline="") as source, open(path, "w", newline="") as target:
        reader, writer = csv.DictReader(source), None
        for row in reader:
            if writer is None:
                writer = csv.DictWriter(target, fieldnames=reader.fieldnames)
                writer.writeheader()
            writer.writerow({**row, **{name: f"{float(row[name]) * 1.5:.4f}" for name in DRIFTED}})
    return path


@pytest.fixture(scope="module")
def failed_check(approved, drifted) -> dict:
    """The record of a run on the drifted data with the check on (FailOnViolation is true in the definition)."""
    assert run(approved, "--param", f"InputDataUrl={drifted}", "--param", "SkipDataQualityCheck=false") == 1
    return latest(approved)


def model_monitor_definition(state: Path, **fields) -> tuple[str, str]:
    """The built model-monitor definition with the QualityCheck step's fields replaced; (json, pipeline name)."""
    config = local_config(config_from_kwargs({"config": CONFIG, "engine": "model-monitor"}))
    definition = json.loads(local_definition(config, state)[0])
    (step,) = [s for s in definition["Steps"] if s["Name"] == STEP]
    step.update(fields)
    return json.dumps(definition), config.pipeline_name


def test_a_violation_fails_the_step_naming_the_features_and_the_report(approved, failed_check):
    step = failed_check["steps"][STEP]
    assert failed_check["status"] == "Failed" and step["status"] == "Failed"
    reason = step["failure_reason"]
    assert reason.startswith(CHECK_FAILED)
    assert all(f"{name} (baseline_drift_check)" in reason for name in DRIFTED)
    assert "DriftCheckBaselines of abalone/1" in reason
    report = report_of(reason)
    assert report.endswith("/baseline/constraint_violations.json")
    assert {v["feature_name"] for v in violations_at(report, approved)} == set(DRIFTED)
    assert CHECK_FAILED in failed_check["failure_reason"]  # the execution's reason names the step's
    assert failed_check["steps"]["Register"]["status"] == "NotRun"
    assert [v.version for v in registry(approved).list_versions("abalone")] == [1]
    log = Path(step["log"]).read_text()
    assert "Baseline drift distance" in log and "length" in log


def test_with_fail_on_violation_false_the_step_succeeds_and_reports_the_violations(approved, drifted):
    definition, pipeline = model_monitor_definition(approved, FailOnViolation=False)
    config = local_config(config_from_kwargs({"config": CONFIG}))
    data = stage_input_override(str(drifted), config, approved)
    result = LocalRunner(approved, registry(approved)).start(
        definition, pipeline, {"InputDataUrl": data, "SkipDataQualityCheck": "false"}
    )
    assert result.status == "Succeeded", result.failure_reason
    props = result.steps[STEP]["properties"]
    assert props["ViolationReport"].endswith("/baseline/constraint_violations.json")
    assert {v["feature_name"] for v in violations_at(props["ViolationReport"], approved)} == set(DRIFTED)
    assert props["ExitMessage"] == "CompletedWithViolations: Job completed successfully with 2 violations."
    assert props["SkipCheck"] is False and props["CheckType"] == "DATA_QUALITY"
    # RegisterNewDataQualityBaseline defaults to true: the new version carries the newly calculated baseline
    assert props["BaselineUsedForDriftCheckStatistics"] == props["CalculatedBaselineStatistics"]
    log = Path(result.steps[STEP]["log"]).read_text()
    assert "2 violations: length (baseline_drift_check), diameter (baseline_drift_check)" in log
    assert "FailOnViolation is false" in log
    assert result.steps["Register"]["status"] == "Succeeded"


def test_a_clean_dataset_passes_the_check_against_the_approved_baseline(approved):
    first = registry(approved).get("abalone", 1)
    keep = ("--param", "SkipDataQualityCheck=false", "--param", "RegisterNewDataQualityBaseline=false")
    assert run(approved, *keep) == 0
    record = latest(approved)
    props = record["steps"][STEP]["properties"]
    assert "ViolationReport" not in props
    assert props["ExitMessage"] == "Completed: Job completed successfully with no violations."
    prefix = props["CalculatedBaselineStatistics"].rsplit("/", 1)[0]
    assert violations_at(f"{prefix}/constraint_violations.json", approved) == []
    # RegisterNewBaseline false: the drift-check baseline carried over is the approved version's
    assert props["BaselineUsedForDriftCheckStatistics"] == first.drift_baselines["statistics"]
    assert props["BaselineUsedForDriftCheckConstraints"] == first.drift_baselines["constraints"]
    newest = registry(approved).list_versions("abalone")[0]
    assert newest.source == record["execution_id"]
    for key in ("statistics", "constraints"):
        assert newest.drift_baselines[key] == first.drift_baselines[key]


def test_a_supplied_baseline_takes_priority_over_the_approved_one(approved, failed_check):
    drifted_props = failed_check["steps"][STEP]
    prefix = report_of(drifted_props["failure_reason"]).rsplit("/", 1)[0]
    definition, pipeline = model_monitor_definition(
        approved,
        SuppliedBaselineStatistics=f"{prefix}/statistics.json",
        SuppliedBaselineConstraints=f"{prefix}/constraints.json",
    )
    result = LocalRunner(approved, registry(approved)).start(definition, pipeline, {"SkipDataQualityCheck": "false"})
    assert result.status == "Failed"
    reason = result.steps[STEP]["failure_reason"]
    assert reason.startswith(CHECK_FAILED) and "against the supplied baseline" in reason
    assert all(f"{name} (baseline_drift_check)" in reason for name in DRIFTED)


def test_the_check_needs_a_previous_baseline_as_sagemaker_does(approved):
    definition, pipeline = model_monitor_definition(approved, ModelPackageGroupName="never-registered")
    result = LocalRunner(approved, registry(approved)).start(definition, pipeline, {"SkipDataQualityCheck": "false"})
    assert result.status == "Failed"
    reason = result.steps[STEP]["failure_reason"]
    assert "SkipCheck=false" in reason and "'never-registered' has no Approved version" in reason


QUALITY_STEP = {"Name": STEP, "Type": "QualityCheck", "CheckType": "DATA_QUALITY", "ModelPackageGroupName": "g"}


def test_a_supplied_baseline_needs_both_files():
    step = {**QUALITY_STEP, "SkipCheck": False, "SuppliedBaselineStatistics": "s3://b/statistics.json"}
    config = settings(step, Context({}, {}))
    with pytest.raises(StepFailure, match="SuppliedBaselineConstraints is missing"):
        previous_baseline(step, config, registry=None)


def test_check_fields_are_validated():
    step = {**QUALITY_STEP, "FailOnViolation": {"Get": "Parameters.Fail"}}
    with pytest.raises(StepFailure, match="FailOnViolation must be true or false, got 'yes'"):
        settings(step, Context({"Fail": "yes"}, {}))
    with pytest.raises(StepFailure, match="CheckType 'MODEL_BIAS' is not supported"):
        settings({**QUALITY_STEP, "CheckType": "MODEL_BIAS"}, Context({}, {}))
    defaults = settings({"Name": STEP}, Context({}, {}))
    assert defaults.fail_on_violation is True and defaults.skip_check is False  # the SDK's defaults


# -- model quality: the ModelQualityBaseline QualityCheck step -------------------------------------------------


def test_the_model_quality_baseline_can_keep_the_approved_one_for_later_checks(approved):
    """RegisterNewModelQualityBaseline=false: the new version's model-quality DriftCheckBaselines are the approved
    version's, its ModelMetrics the newly calculated ones (as SageMaker does)."""
    first = registry(approved).get("abalone", 1)
    assert run(approved, "--param", "RegisterNewModelQualityBaseline=false", "--param", "MaxDepth=4") == 0
    record = latest(approved)
    props = record["steps"]["ModelQualityBaseline"]["properties"]
    assert props["CheckType"] == "MODEL_QUALITY" and props["SkipCheck"] is True
    assert props["BaselineUsedForDriftCheckStatistics"] == first.drift_baselines["model_statistics"]
    assert props["BaselineUsedForDriftCheckConstraints"] == first.drift_baselines["model_constraints"]
    assert props["CalculatedBaselineStatistics"] != first.metrics["model_statistics"]  # another model (MaxDepth 4)
    newest = registry(approved).list_versions("abalone")[0]
    assert newest.source == record["execution_id"]
    assert newest.drift_baselines["model_statistics"] == first.drift_baselines["model_statistics"]
    assert newest.metrics["model_statistics"] == props["CalculatedBaselineStatistics"]
    statistics = json.loads(local_path(props["CalculatedBaselineStatistics"], approved).read_text())
    assert set(statistics["regression_metrics"]) >= {"mae", "mse", "rmse", "r2"}


class _Registry:
    def __init__(self, versions):
        self.versions = versions

    def list_versions(self, group, status):
        return self.versions


def test_a_model_quality_check_needs_an_approved_model_quality_baseline(approved):
    step = {**QUALITY_STEP, "Name": "ModelQualityBaseline", "CheckType": "MODEL_QUALITY", "SkipCheck": False}
    config = settings(step, Context({}, {}))
    with pytest.raises(StepFailure, match=r"\(e\.g\. SkipModelQualityCheck=true, as on a first run\)"):
        previous_baseline(step, config, _Registry([]))
    data_quality_only = registry(approved).get("abalone", 1)
    data_quality_only = type(data_quality_only)(
        **{**data_quality_only.__dict__, "drift_baselines": {"statistics": "s3://b/s.json", "constraints": "s3://b/c"}}
    )
    with pytest.raises(StepFailure, match=r"no model-quality DriftCheckBaselines \(model_statistics and model_"):
        previous_baseline(step, config, _Registry([data_quality_only]))
    first = registry(approved).get("abalone", 1)
    found = previous_baseline(step, config, _Registry([first]))
    assert (found.statistics, found.constraints) == (
        first.drift_baselines["model_statistics"],
        first.drift_baselines["model_constraints"],
    )


def test_the_model_quality_check_passes_the_same_model_against_the_approved_baseline(approved):
    """SkipModelQualityCheck=false: the check job reads Evaluate's labelled predictions and checks them against the
    approved version's model-quality constraints; the same model on the same data meets them (no margin with
    Model Monitor's suggestions, so equal values pass)."""
    assert run(approved, "--param", "SkipModelQualityCheck=false") == 0
    props = latest(approved)["steps"]["ModelQualityBaseline"]["properties"]
    assert props["SkipCheck"] is False and "ViolationReport" not in props  # reported only with violations


def test_a_worse_model_fails_the_model_quality_check_naming_the_metrics(approved):
    assert run(approved, "--param", "SkipModelQualityCheck=false", "--param", "NumRound=3") == 1
    step = latest(approved)["steps"]["ModelQualityBaseline"]
    assert step["status"] == "Failed" and step["failure_reason"].startswith(CHECK_FAILED), step
    names = {v["metric_name"] for v in violations_at(report_of(step["failure_reason"]), approved)}
    assert {"rmse", "mae", "mse"} <= names
