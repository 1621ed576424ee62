"""Script-mode training on the preprocessed abalone data: the model directory, early stopping, hyperparameters,
and the container's way of running it (``python train.py --hp v`` in a flat code directory, SM_* env)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from inference.feature_transform import InputPolicy
from tests.conftest import ROOT
from tests.training.steps import SMALL, prepared
from training.train import (
    HANDLER_FILES,
    TrainingError,
    TrainParams,
    main,
    parse_args,
    parse_hyperparameters,
    train,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return prepared(tmp_path_factory.mktemp("train"))


@pytest.fixture(scope="module")
def model(data) -> tuple[Path, object]:
    root = data.parent
    result = train(
        data / "train", data / "validation", data / "transform", root / "model", SMALL, output_data_dir=root / "out"
    )
    return root, result


def test_model_dir_holds_everything_an_endpoint_needs(model, data):
    root, result = model
    files = sorted(p.relative_to(root / "model").as_posix() for p in (root / "model").rglob("*") if p.is_file())
    assert files == [
        "code/feature_transform.py",
        "code/handler_input.py",
        "code/inference.py",
        "transform.json",
        "xgboost-model.json",
    ]
    for name in HANDLER_FILES:
        assert (root / "model" / "code" / name).read_bytes() == (ROOT / "inference" / name).read_bytes()
    written = json.loads((root / "model" / "transform.json").read_text())
    policy = written.pop("input_policy")
    assert written == json.loads((data / "transform" / "transform.json").read_text())  # Preprocess's, plus the policy
    assert policy == {"allow_non_finite": False, "allow_empty_records": False}  # the default: refuse both
    assert InputPolicy.from_dict({"input_policy": policy}) == InputPolicy()
    assert result.model_path == str(root / "model" / "xgboost-model.json")


def test_booster_is_json_cut_at_the_best_iteration(model, data):
    root, result = model
    document = json.loads((root / "model" / "xgboost-model.json").read_text())  # XGBoost JSON, not a pickle
    assert document["learner"]["objective"]["name"] == "reg:squarederror"
    booster = xgb.Booster(model_file=str(root / "model" / "xgboost-model.json"))
    assert booster.num_boosted_rounds() == result.best_iteration + 1 == result.num_boosted_rounds
    validation = np.loadtxt(data / "validation" / "validation.csv", delimiter=",")
    predictions = booster.predict(xgb.DMatrix(validation[:, 1:]))
    rmse = float(np.sqrt(np.mean((predictions - validation[:, 0]) ** 2)))
    assert rmse == pytest.approx(result.validation_score, rel=1e-5)
    assert result.validation_score < 2.6 and result.eval_metric == "rmse"


def test_training_metrics_file(model):
    root, result = model
    metrics = json.loads((root / "out" / "training_metrics.json").read_text())
    assert metrics["best_iteration"] == result.best_iteration
    assert metrics["validation_score"] == result.validation_score and metrics["eval_metric"] == "rmse"
    assert metrics["hyperparameters"]["num_round"] == 50 and metrics["train_rows"] == 2884


def test_early_stopping_stops_before_num_round(data, tmp_path):
    params = {"num_round": "400", "eta": "0.5", "max_depth": "6", "early_stopping_rounds": "5", "nthread": "1"}
    result = train(data / "train", data / "validation", data / "transform", tmp_path / "m", params)
    assert result.best_iteration < 100
    booster = xgb.Booster(model_file=result.model_path)
    assert booster.num_boosted_rounds() == result.best_iteration + 1
    no_stop = train(
        data / "train",
        data / "validation",
        data / "transform",
        tmp_path / "n",
        {"num_round": "7", "early_stopping_rounds": "0", "nthread": "1"},
    )
    assert no_stop.num_boosted_rounds == 7


def test_hyperparameters_are_typed_and_validated():
    params = parse_hyperparameters(
        {"num_round": "10", "eta": "0.2", "objective": "binary:logistic", "eval_metric": "auc"}
    )
    assert params == TrainParams(objective="binary:logistic", num_round=10, eta=0.2, eval_metric="auc")
    assert parse_hyperparameters({}).metric == "rmse"
    cases = {
        "learning_rate": r"Unknown hyperparameter\(s\): learning_rate; supported: objective, num_round, max_depth",
        "num_round": r"Hyperparameter num_round must be an integer, got 'ten'",
        "eta": r"Hyperparameter eta must be in \(0.0, 1.0\], got '1.5'",
        "objective": r"objective must be one of reg:squarederror, binary:logistic, got 'multi:softmax'",
        "eval_metric": r"eval_metric must be one of rmse, mae, mape, rmsle for reg:squarederror, got 'auc'",
    }
    values = {
        "learning_rate": "0.1",
        "num_round": "ten",
        "eta": "1.5",
        "objective": "multi:softmax",
        "eval_metric": "auc",
    }
    for name, pattern in cases.items():
        with pytest.raises(TrainingError, match=pattern):
            parse_hyperparameters({name: values[name]})
    # values passed straight to the job (StartPipelineExecution), past mlops's configuration checks
    for name, text in (("eta", "nan"), ("subsample", "nan"), ("min_child_weight", "inf")):
        with pytest.raises(TrainingError, match=rf"Hyperparameter {name} must be a finite number, got '{text}'"):
            parse_hyperparameters({name: text})
    with pytest.raises(TrainingError, match=r"Hyperparameter num_round must be in \[1, 100000\], got '1000000'"):
        parse_hyperparameters({"num_round": "1000000"})


def test_the_serving_input_policy_travels_in_transform_json(data, tmp_path):
    params = {**SMALL, "num_round": "2", "allow_non_finite": "True", "allow_empty_records": "false"}
    train(data / "train", data / "validation", data / "transform", tmp_path / "m", params)
    written = json.loads((tmp_path / "m" / "transform.json").read_text())
    assert written["input_policy"] == {"allow_non_finite": True, "allow_empty_records": False}
    assert InputPolicy.from_dict(written) == InputPolicy(allow_non_finite=True)
    assert parse_hyperparameters({"allow_empty_records": "TRUE"}).allow_empty_records is True
    with pytest.raises(TrainingError, match=r"Hyperparameter allow_non_finite must be true or false, got 'yes'"):
        parse_hyperparameters({"allow_non_finite": "yes"})


def test_command_line_pairs():
    assert parse_args(["--num_round", "5", "--max-depth=3", "--objective", "reg:squarederror"]) == {
        "num_round": "5",
        "max_depth": "3",
        "objective": "reg:squarederror",
    }
    with pytest.raises(TrainingError, match=r"--eta has no value"):
        parse_args(["--eta"])
    with pytest.raises(TrainingError, match=r"Expected --name value pairs"):
        parse_args(["train"])


def test_bad_training_data_is_reported(data, tmp_path):
    with pytest.raises(TrainingError, match=r"Feature transform not found: expected .*transform\.json"):
        train(data / "train", data / "validation", tmp_path, tmp_path / "m", SMALL)
    with pytest.raises(TrainingError, match=r"No validation data: expected .*validation\.csv"):
        train(data / "train", tmp_path, data / "transform", tmp_path / "m", SMALL)
    with pytest.raises(TrainingError, match=r"binary:logistic needs 0/1 targets, but the train data holds"):
        train(data / "train", data / "validation", data / "transform", tmp_path / "m", {"objective": "binary:logistic"})
    (tmp_path / "narrow").mkdir()
    (tmp_path / "narrow" / "train.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(TrainingError, match=r"The train data has 2 feature column\(s\) but .* describes 10"):
        train(tmp_path / "narrow", data / "validation", data / "transform", tmp_path / "m", SMALL)


def environment(data: Path, root: Path) -> dict[str, str]:
    return {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_CHANNEL_TRAIN": str(data / "train"),
        "SM_CHANNEL_VALIDATION": str(data / "validation"),
        "SM_CHANNEL_TRANSFORM": str(data / "transform"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_OUTPUT_DIR": str(root / "output"),
    }


def test_main_reads_the_environment_and_rejects_unknown_hyperparameters(data, tmp_path, monkeypatch):
    for key, value in environment(data, tmp_path).items():
        monkeypatch.setenv(key, value)
    assert main(["--num_round", "5", "--max_depth", "3", "--eval_metric", "mae"]) == 0
    assert (tmp_path / "model" / "xgboost-model.json").is_file()
    assert json.loads((tmp_path / "output" / "data" / "training_metrics.json").read_text())["eval_metric"] == "mae"
    assert main(["--num_round", "5", "--gamma", "1"]) == 1
    assert "Unknown hyperparameter(s): gamma" in (tmp_path / "output" / "failure").read_text()


def test_runs_like_the_container_from_a_flat_code_directory(data, tmp_path):
    """The staged sourcedir.tar.gz is flat: train.py finds the handler's files next to it."""
    code = tmp_path / "code"
    code.mkdir()
    for source in (
        ROOT / "training" / "train.py",
        ROOT / "training" / "hyperparameters.py",
        ROOT / "training" / "multihost.py",
        ROOT / "inference" / "inference.py",
        ROOT / "inference" / "handler_input.py",
    ):
        shutil.copy(source, code)
    (code / "feature_transform.py").write_text((ROOT / "inference" / "feature_transform.py").read_text() + "# staged\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(environment(data, tmp_path))
    command = [sys.executable, "train.py", *[x for k, v in SMALL.items() for x in (f"--{k}", v)]]
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "validation-rmse:" in done.stderr
    assert (tmp_path / "model" / "code" / "feature_transform.py").read_text().endswith("# staged\n")
