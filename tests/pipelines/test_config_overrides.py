"""Hyperparameters checked at load by the training script's own rules, overrides validated like the file, and
``--param`` checked before any definition is built (the SDK never imported)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from pipelines.build import config_from_kwargs
from pipelines.config import ConfigError, load_config
from pipelines.parameters import check_params, declared_parameters
from tests.conftest import ROOT
from tests.pipelines.definition_helpers import BUCKET, ROLE, config_for


def write(tmp_path, **training) -> str:
    raw = yaml.safe_load((ROOT / "mlops.yaml").read_text())
    raw["data"]["input"] = str(ROOT / "data" / "abalone.csv")
    raw["training"].update(training)
    path = tmp_path / "mlops.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_a_hyperparameter_typo_fails_at_load(tmp_path):
    path = write(tmp_path, hyperparameters={"num_round": 300, "max_depht": 5})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: training.hyperparameters.max_depht: Unknown hyperparameter(s): max_depht")
    assert "supported: objective, num_round, max_depth" in message


def test_hyperparameter_values_are_checked_each_with_its_rule(tmp_path):
    path = write(tmp_path, hyperparameters={"eta": 2, "max_depth": "deep", "subsample": 0.5})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert f"{path}: training.hyperparameters.eta: Hyperparameter eta must be in (0.0, 1.0], got '2'" in lines
    assert (
        f"{path}: training.hyperparameters.max_depth: Hyperparameter max_depth must be an integer, got 'deep'" in lines
    )
    assert len(lines) == 2


def test_objective_and_metric_follow_the_training_rules(tmp_path):
    with pytest.raises(ConfigError, match=r"training\.eval_metric: Hyperparameter eval_metric must be one of rmse"):
        load_config(write(tmp_path, eval_metric="auc"))
    with pytest.raises(ConfigError, match=r"training\.objective: Hyperparameter objective must be one of"):
        load_config(write(tmp_path, objective="reg:pseudohubererror"))


def test_settings_of_other_sections_are_not_hyperparameters(tmp_path):
    path = write(tmp_path, hyperparameters={"objective": "binary:logistic", "allow_non_finite": "true"})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "training.hyperparameters.objective: must be set as training.objective" in str(info.value)
    assert "training.hyperparameters.allow_non_finite: must be set as serving.allow_non_finite" in str(info.value)


def test_yaml_numbers_become_the_strings_createtrainingjob_takes():
    config = load_config(ROOT / "mlops.yaml")
    assert config.training.hyperparameters["eta"] == "0.1" and config.training.hyperparameters["num_round"] == "300"


def test_overrides_are_validated_like_the_file():
    """Defect: config_from_kwargs({"default_bucket": 42, "region": ["x"]}) was accepted."""
    with pytest.raises(ConfigError) as info:
        config_from_kwargs({"default_bucket": 42, "region": ["x"]}, str(ROOT / "mlops.yaml"))
    lines = str(info.value).splitlines()
    assert any(line.endswith("sagemaker.bucket: must be a non-empty string, got 42") for line in lines), lines
    assert any("project.region: must be an AWS region such as us-east-1, got ['x']" in line for line in lines)
    with pytest.raises(ConfigError, match=r"with overrides: monitoring\.engine: must be processing or model-monitor"):
        config_from_kwargs({"engine": "spark"}, str(ROOT / "mlops.yaml"))
    config = config_from_kwargs({"default_bucket": "bkt", "engine": None}, str(ROOT / "mlops.yaml"))
    assert config.sagemaker.bucket == "bkt" and config.monitoring.engine == "processing"


@pytest.mark.parametrize("engine", ["processing", "model-monitor"])
def test_declared_parameters_are_those_of_the_built_definition(engine):
    golden = json.loads((ROOT / "tests" / "pipelines" / "golden" / f"definition-{engine}.json").read_text())
    built = {p["Name"]: p["Type"] for p in golden["Parameters"]}
    assert declared_parameters(config_for(engine)) == built


def test_bad_params_are_all_named():
    config = config_for("processing")
    check_params({"GateThreshold": "3.5", "MaxDepth": "4", "ModelApprovalStatus": "Approved"}, config)
    with pytest.raises(ConfigError) as info:
        check_params(
            {
                "Nope": "1",
                "GateThreshold": "high",
                "TrainingInstanceCount": "0",
                "MaxDepth": "deep",
                "ModelApprovalStatus": "ok",
            },
            config,
        )
    lines = str(info.value).splitlines()
    assert lines[0].startswith("--param: unknown parameter(s) Nope; declared: EarlyStoppingRounds, Eta, GateThreshold")
    assert "--param GateThreshold: must be a number, got 'high'" in lines
    assert "--param TrainingInstanceCount: must be an integer >= 1, got '0'" in lines
    assert "--param MaxDepth: Hyperparameter max_depth must be an integer, got 'deep'" in lines
    assert any(line.startswith("--param ModelApprovalStatus: must be one of PendingManualApproval") for line in lines)


SDK_IMPORTED = "any(m == 'sagemaker' or m.startswith('sagemaker.') for m in sys.modules)"


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_run_pipeline_refuses_a_bad_param_without_importing_the_sdk():
    kwargs = json.dumps({"default_bucket": BUCKET, "config": str(ROOT / "mlops.yaml")})
    argv = ["--role-arn", ROLE, "--kwargs", kwargs, "--param", "Nope=1", "--param", "GateThreshold=high"]
    done = run_python(
        "import sys\nfrom pipelines.entrypoints import run_pipeline\n"
        f"code = run_pipeline({argv!r})\nprint(code, {SDK_IMPORTED})"
    )
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert "unknown parameter(s) Nope" in done.stderr and "GateThreshold: must be a number" in done.stderr


def test_mlops_run_refuses_a_bad_param_without_importing_the_sdk(tmp_path):
    argv = ["run", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(tmp_path), "--param", "MaxDepht=3"]
    done = run_python(f"import sys\nfrom pipelines.cli import main\ncode = main({argv!r})\nprint(code, {SDK_IMPORTED})")
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert "unknown parameter(s) MaxDepht" in done.stderr
