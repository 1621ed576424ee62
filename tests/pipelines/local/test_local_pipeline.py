"""The real pipeline, run locally end to end on the bundled data (no Docker, no AWS)."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.local.record import ExecutionRecord, list_records
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.binary_data import binary_abalone_config
from tests.conftest import ABALONE, ROOT

CONFIG = str(ROOT / "mlops.yaml")


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("state")


def run(state: Path, *extra: str, config: str = CONFIG) -> int:
    return main(["run", "--config", config, "--state-dir", str(state), "--quiet", *extra])


def latest(state: Path) -> dict:
    return list_records(state)[0]


def registry(state: Path) -> SQLiteRegistry:
    return SQLiteRegistry(state / "registry.db")


def test_run_registers_a_pending_version_with_real_metrics_and_baselines(state, capsys):
    assert run(state) == 0
    out = capsys.readouterr().out
    assert "Registered abalone/1 (PendingManualApproval)" in out
    record = latest(state)
    assert record["status"] == "Succeeded"
    steps = record["steps"]
    assert {n: s["status"] for n, s in steps.items()} == {
        "Preprocess": "Succeeded",
        "DataQualityProfile": "Succeeded",
        "DataQualityBaseline": "Succeeded",
        "Train": "Succeeded",
        "Evaluate": "Succeeded",
        "ModelQualityBaseline": "Succeeded",
        "QualityGate": "Succeeded",
        "Register": "Succeeded",
        "QualityGateFailed": "NotRun",
    }
    (version,) = registry(state).list_versions("abalone")
    assert version.status == "PendingManualApproval" and version.source == record["execution_id"]
    assert set(version.metrics) == {
        "evaluation",
        "model_statistics",
        "model_constraints",
        "model_data_statistics",
        "model_data_constraints",
    }
    assert set(version.drift_baselines) == {"statistics", "constraints", "model_statistics", "model_constraints"}
    for uri in [*version.metrics.values(), *version.drift_baselines.values(), version.model_data_url]:
        assert local_path(uri, state).is_file(), uri
    evaluation = json.loads(local_path(version.metrics["evaluation"], state).read_text())
    assert evaluation["regression_metrics"]["rmse"]["value"] < 2.6
    statistics = json.loads(local_path(version.drift_baselines["statistics"], state).read_text())
    assert {f["name"] for f in statistics["features"]} == {
        "sex",
        "length",
        "diameter",
        "height",
        "whole_weight",
        "shucked_weight",
        "viscera_weight",
        "shell_weight",
    }
    # baseline and training ran side by side: neither waited for the other
    base, train = steps["DataQualityBaseline"], steps["Train"]
    assert base["started"] < train["ended"] and train["started"] < base["ended"]
    assert steps["ModelQualityBaseline"]["started"] >= steps["Evaluate"]["ended"]
    assert steps["Register"]["started"] >= steps["ModelQualityBaseline"]["ended"]


def test_the_registered_model_quality_baseline_is_the_test_splits(state):
    """Model Monitor's regression statistics of Evaluate's predictions.csv, and constraints worsened by the margin."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    (version,) = [v for v in registry(state).list_versions("abalone") if v.version == 1]
    assert version.drift_baselines["model_statistics"] == version.metrics["model_statistics"]
    statistics = json.loads(local_path(version.metrics["model_statistics"], state).read_text())
    constraints = json.loads(local_path(version.metrics["model_constraints"], state).read_text())
    evaluation = json.loads(local_path(version.metrics["evaluation"], state).read_text())
    record = ExecutionRecord.load(state, version.source).data
    outputs = record["steps"]["Evaluate"]["properties"]["ProcessingOutputConfig"]["Outputs"]
    predictions = local_path(outputs["predictions"]["S3Output"]["S3Uri"] + "/predictions.csv", state)
    with open(predictions, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["label", "prediction"] and len(rows) == 645  # the test split (hash split, seed 42)
    labels = [float(r["label"]) for r in rows]
    predicted = [float(r["prediction"]) for r in rows]
    metrics = statistics["regression_metrics"]
    assert statistics["dataset"]["item_count"] == 645
    assert metrics["mae"]["value"] == pytest.approx(mean_absolute_error(labels, predicted), rel=1e-9)
    assert metrics["mse"]["value"] == pytest.approx(mean_squared_error(labels, predicted), rel=1e-9)
    # evaluation.json keeps the textbook figures of the same predictions
    assert metrics["rmse"]["value"] == pytest.approx(evaluation["regression_metrics"]["rmse"]["value"], rel=1e-9)
    rmse = constraints["regression_constraints"]["rmse"]
    assert rmse["comparison_operator"] == "GreaterThanThreshold"
    assert rmse["threshold"] == pytest.approx(metrics["rmse"]["value"] * 1.1, rel=1e-9)  # constraint_margin 0.1


def test_identical_rerun_reuses_every_cached_step(state, capsys):
    first = latest(state)["execution_id"]
    assert run(state) == 0
    record = latest(state)
    assert record["execution_id"] != first
    for name in (
        "Preprocess",
        "DataQualityProfile",
        "DataQualityBaseline",
        "Train",
        "Evaluate",
        "ModelQualityBaseline",
    ):
        assert record["steps"][name]["cache_hit_from"] == first, name
    assert "definition from cache" in capsys.readouterr().out


def test_a_gate_that_cannot_pass_fails_with_the_fail_steps_message(state, capsys):
    before = len(registry(state).list_versions("abalone"))
    assert run(state, "--param", "GateThreshold=0.01") == 1
    record = latest(state)
    assert record["status"] == "Failed"
    assert record["steps"]["QualityGateFailed"]["status"] == "Failed"
    assert record["steps"]["Register"]["status"] == "NotRun"
    assert (
        "Quality gate failed: rmse =" in record["failure_reason"] and "but must be <= 0.01" in record["failure_reason"]
    )
    assert len(registry(state).list_versions("abalone")) == before
    assert "Quality gate failed" in capsys.readouterr().err


def test_a_broken_input_fails_at_preprocess_and_registers_nothing(state, tmp_path, capsys):
    broken = tmp_path / "broken.csv"
    rows = ABALONE.read_text().splitlines()
    broken.write_text("\n".join([rows[0], rows[1], rows[2].replace("0.35", "heavy", 1), *rows[3:50]]) + "\n")
    before = len(registry(state).list_versions("abalone"))
    assert run(state, "--param", f"InputDataUrl={broken}") == 1
    record = latest(state)
    assert record["steps"]["Preprocess"]["status"] == "Failed"
    assert "heavy" in record["steps"]["Preprocess"]["failure_reason"]
    not_run = ("Train", "Register", "DataQualityBaseline", "ModelQualityBaseline")
    assert all(record["steps"][n]["status"] == "NotRun" for n in not_run)
    assert len(registry(state).list_versions("abalone")) == before
    assert Path(record["steps"]["Preprocess"]["log"]).is_file()


def test_a_missing_target_column_names_the_users_file_not_the_staged_copy(state, tmp_path, capsys):
    no_target = tmp_path / "no-target.csv"
    no_target.write_text("\n".join(",".join(r.split(",")[:-1]) for r in ABALONE.read_text().splitlines()[:50]))
    assert main(["run", "--config", CONFIG, "--state-dir", str(state), "--param", f"InputDataUrl={no_target}"]) == 1
    captured = capsys.readouterr()
    failure = next(line for line in captured.err.splitlines() if line.startswith("Failure:"))
    assert f"Column 'rings' not found in {no_target};" in failure
    progress = next(line for line in captured.out.splitlines() if "Preprocess" in line and "Failed" in line)
    assert f"not found in {no_target};" in progress
    assert "executions" not in failure and "executions" not in progress  # not the staged copy
    record_line = next(line for line in captured.out.splitlines() if line.startswith("Record:"))
    words = shlex.split(record_line[record_line.index("(") + 1 : record_line.rindex(")")])
    words = words[words.index("pipelines.cli") + 1 :]
    assert words[:2] == ["executions", "show"] and words[words.index("--state-dir") + 1] == str(state)
    assert main(words) == 0 and "Column 'rings' not found" in capsys.readouterr().out  # as printed, it finds the run
    message = latest(state)["steps"]["Preprocess"]["failure_reason"].splitlines()[0]
    assert "/container/" not in message and "not found in s3://" in message  # the record names the input's URI


def test_the_default_input_is_named_by_data_input():
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.commands.run import _input_names, user_names
    from pipelines.staging import data_artifact

    config = local_config(config_from_kwargs({}, CONFIG))
    staged = data_artifact(Path(config.data.input)).uri(config.sagemaker.bucket, config.pipeline_name)
    names = _input_names(config, None, None)
    assert user_names(f"Column 'x' not found in {staged}; columns", names) == (
        f"Column 'x' not found in {config.data.input}; columns"
    )


def test_a_directory_input_is_named_by_data_input(tmp_path):
    import dataclasses

    from pipelines.build import config_from_kwargs, local_config
    from pipelines.commands.run import _input_names, user_names
    from pipelines.staging import data_artifact

    directory = tmp_path / "abalone-parts"
    directory.mkdir()
    (directory / "part-1.csv").write_text(ABALONE.read_text())
    config = local_config(config_from_kwargs({}, CONFIG))
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, input=str(directory)))
    prefix = data_artifact(directory).uri(config.sagemaker.bucket, config.pipeline_name)
    assert prefix.endswith("/")
    names = _input_names(config, None, None)
    assert user_names(f"Column 'x' not found in {prefix}part-1.csv; columns", names) == (
        f"Column 'x' not found in {directory}/part-1.csv; columns"
    )


def test_resume_after_an_injected_failure_reruns_only_what_failed(state, capsys):
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.local.definitions import local_definition
    from pipelines.local.runner import LocalRunner
    from pipelines.local.store import StepFailure

    config = local_config(config_from_kwargs({"config": CONFIG}))
    definition, _ = local_definition(config, state)
    attempts: list[tuple[str, int]] = []

    def fault(step, attempt):
        attempts.append((step, attempt))
        return StepFailure("injected: disk full", "AlgorithmError") if step == "Evaluate" else None

    # new hyperparameters so nothing comes from the cache
    broken = LocalRunner(state, registry(state), fault=fault).start(definition, config.pipeline_name, {"MaxDepth": "4"})
    assert broken.status == "Failed" and broken.steps["Evaluate"]["status"] == "Failed"
    resumed = LocalRunner(state, registry(state)).resume(broken.execution_id)
    assert resumed.status == "Succeeded" and resumed.execution_id == broken.execution_id
    record = ExecutionRecord.load(state, broken.execution_id).data
    assert record["resumed"] and record["steps"]["Evaluate"]["previous_attempts"] == 1
    for name in ("Preprocess", "Train", "DataQualityBaseline"):
        assert "previous_attempts" not in record["steps"][name], name  # succeeded first time, kept
    assert record["steps"]["Register"]["status"] == "Succeeded"


def test_retry_policy_retries_internal_errors(state):
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.local.definitions import local_definition
    from pipelines.local.runner import LocalRunner
    from pipelines.local.store import StepFailure

    config = local_config(config_from_kwargs({"config": CONFIG}))
    definition, _ = local_definition(config, state)
    waits: list[float] = []

    def fault(step, attempt):
        if step == "Train" and attempt == 1:
            return StepFailure("instance lost", "SageMaker.JOB_INTERNAL_ERROR")
        return None

    result = LocalRunner(state, registry(state), fault=fault, sleep=waits.append).start(
        definition, config.pipeline_name, {"MaxDepth": "3"}
    )
    assert result.status == "Succeeded"
    assert result.steps["Train"]["attempts"] == 2 and waits == [30.0]


def test_model_monitor_engine_runs_locally(tmp_path):
    state = tmp_path / "state"
    assert main(["run", "--config", CONFIG, "--state-dir", str(state), "--engine", "model-monitor", "--quiet"]) == 0
    record = latest(state)
    assert record["steps"]["DataQualityBaseline"]["type"] == "QualityCheck"
    props = record["steps"]["DataQualityBaseline"]["properties"]
    assert local_path(props["CalculatedBaselineStatistics"], state).is_file()
    (version,) = registry(state).list_versions("abalone")
    assert version.drift_baselines["statistics"] == props["BaselineUsedForDriftCheckStatistics"]
    model_quality = record["steps"]["ModelQualityBaseline"]
    assert model_quality["type"] == "QualityCheck" and model_quality["properties"]["CheckType"] == "MODEL_QUALITY"
    assert model_quality["properties"]["SkipCheck"] is True  # the first run: no approved baseline to check against
    assert version.metrics["model_constraints"] == model_quality["properties"]["CalculatedBaselineConstraints"]
    assert version.drift_baselines["model_statistics"] == model_quality["properties"]["CalculatedBaselineStatistics"]
    statistics = json.loads(local_path(version.metrics["model_statistics"], state).read_text())
    assert statistics["regression_metrics"]["rmse"]["value"] < 2.6


def test_binary_classification_end_to_end(tmp_path):
    config = binary_abalone_config(tmp_path)
    state = tmp_path / "state"
    assert run(state, config=str(config)) == 0
    (version,) = registry(state).list_versions("abalone-old")
    evaluation = json.loads(local_path(version.metrics["evaluation"], state).read_text())
    assert evaluation["binary_classification_metrics"]["auc"]["value"] > 0.75
    statistics = json.loads(local_path(version.metrics["model_statistics"], state).read_text())
    binary = statistics["binary_classification_metrics"]
    assert binary["auc"]["value"] == pytest.approx(evaluation["binary_classification_metrics"]["auc"]["value"])
    assert binary["accuracy"]["value"] == pytest.approx(
        evaluation["binary_classification_metrics"]["accuracy"]["value"]
    )


def test_executions_list_and_show(state, capsys):
    assert main(["executions", "list", "--state-dir", str(state), "--config", CONFIG, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) >= 3 and {"execution_id", "status", "created"} <= set(listed[0])
    assert main(["executions", "show", listed[-1]["execution_id"], "--state-dir", str(state), "--config", CONFIG]) == 0
    shown = capsys.readouterr().out
    assert "Preprocess" in shown and "log:" in shown
    assert main(["executions", "show", "nope00000000", "--state-dir", str(state), "--config", CONFIG]) == 2
    assert "Unknown execution 'nope00000000'" in capsys.readouterr().err
    assert main(["executions", "show", "nope", "--state-dir", str(state), "--config", CONFIG]) == 2
    assert "an execution id is 12 lowercase letters and digits" in capsys.readouterr().err


def test_a_run_with_a_cached_definition_imports_no_sdk(state):
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from pipelines.cli import main\n"
        f"code = main(['run', '--config', {CONFIG!r}, '--state-dir', {str(state)!r}, '--quiet'])\n"
        "print(code, any(m == 'sagemaker' or m.startswith('sagemaker.') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "definition from cache" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "0 False"


def test_a_relative_state_directory_works(state, monkeypatch):
    monkeypatch.chdir(state.parent)
    # a new hyperparameter value: Train and Evaluate really run, from a state directory given relative to the cwd
    assert run(Path(state.name), "--param", "MaxDepth=2") == 0
    record = latest(state)
    assert record["status"] == "Succeeded" and not record["steps"]["Train"].get("cache_hit_from")
