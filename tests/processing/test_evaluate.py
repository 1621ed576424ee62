"""Evaluate on the real pipeline's outputs: preprocess -> train -> model.tar.gz -> evaluation.json."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn import metrics

from processing import evaluate as evaluate_module
from processing.evaluate import (
    EvaluationError,
    EvaluationResult,
    binary_metrics,
    evaluate,
    main,
    regression_metrics,
    roc_auc,
)
from processing.model_files import safe_extract
from tests.training.steps import tar_model, trained

REGRESSION_KEYS = {"mse", "rmse", "mae", "r2"}
BINARY_KEYS = {"auc", "accuracy", "precision", "recall", "f1"}


@pytest.fixture(scope="module")
def regression(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("regression")
    tar_model(trained(root), root / "delivered")
    return root


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("binary")
    tar_model(trained(root, binary=True), root / "delivered")
    return root


def evaluated(root: Path, problem_type: str) -> tuple[EvaluationResult, dict]:
    result = evaluate(root / "delivered", root / "data" / "test", root / "evaluation", problem_type)
    return result, json.loads((root / "evaluation" / "evaluation.json").read_text())


@pytest.fixture(scope="module")
def regression_run(regression) -> tuple[EvaluationResult, dict]:
    """Evaluate's result and evaluation.json for the delivered regression model (evaluated once)."""
    return evaluated(regression, "regression")


@pytest.fixture(scope="module")
def binary_run(binary) -> tuple[EvaluationResult, dict]:
    """Evaluate's result and evaluation.json for the delivered binary model (evaluated once)."""
    return evaluated(binary, "binary")


def check_shape(section: dict, keys: set[str]) -> None:
    assert set(section) == keys
    for metric in section.values():
        assert set(metric) == {"value", "standard_deviation"}
        assert np.isfinite(metric["value"]) and metric["standard_deviation"] >= 0


def test_regression_model_beats_the_mean_predictor(regression_run):
    result, report = regression_run
    assert set(report) == {"regression_metrics", "baseline_predictor"}
    check_shape(report["regression_metrics"], REGRESSION_KEYS)
    check_shape(report["baseline_predictor"]["regression_metrics"], REGRESSION_KEYS)
    assert report["baseline_predictor"]["description"] == "mean of the test target"
    metrics, baseline = report["regression_metrics"], report["baseline_predictor"]["regression_metrics"]
    assert metrics["rmse"]["value"] < 2.6 < 3.0 < baseline["rmse"]["value"]
    assert metrics["rmse"]["value"] == pytest.approx(np.sqrt(metrics["mse"]["value"]))
    assert metrics["r2"]["value"] > 0.45 and baseline["r2"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert 0 < metrics["rmse"]["standard_deviation"] < 0.5
    assert result.metrics["rmse"] == metrics["rmse"]["value"] and result.test_rows == 645
    assert result.baseline_metrics["rmse"] == baseline["rmse"]["value"]


def test_an_extracted_model_dir_gives_the_same_report(regression, regression_run, tmp_path):
    evaluate(regression / "model", regression / "data" / "test", tmp_path, "regression")
    delivered = regression / "evaluation" / "evaluation.json"
    assert (tmp_path / "evaluation.json").read_text() == delivered.read_text()


def test_binary_model_auc_and_majority_baseline(binary, binary_run):
    result, report = binary_run
    assert set(report) == {"binary_classification_metrics", "baseline_predictor"}
    check_shape(report["binary_classification_metrics"], BINARY_KEYS)
    baseline = report["baseline_predictor"]["binary_classification_metrics"]
    check_shape(baseline, BINARY_KEYS)
    assert result.metrics["auc"] > 0.8
    assert result.metrics["accuracy"] > baseline["accuracy"]["value"]
    test = np.loadtxt(binary / "data" / "test" / "test.csv", delimiter=",")
    share = test[:, 0].mean()
    assert baseline["auc"]["value"] == 0.5
    assert baseline["accuracy"]["value"] == pytest.approx(max(share, 1 - share))


# -- scikit-learn as the oracle ------------------------------------------------------------------------------


def predictions(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(test target, the trained booster's predictions) computed here, independently of evaluate()."""
    test = np.loadtxt(root / "data" / "test" / "test.csv", delimiter=",")
    booster = xgb.Booster()
    booster.load_model(str(root / "model" / "xgboost-model.json"))
    return test[:, 0], booster.predict(xgb.DMatrix(test[:, 1:])).astype(np.float64)


def oracle_regression(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "mse": metrics.mean_squared_error(y, p),
        "rmse": metrics.root_mean_squared_error(y, p),
        "mae": metrics.mean_absolute_error(y, p),
        "r2": metrics.r2_score(y, p),
    }


def oracle_binary(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    label = (p >= 0.5).astype(int)
    return {
        "auc": metrics.roc_auc_score(y, p),
        "accuracy": metrics.accuracy_score(y, label),
        "precision": metrics.precision_score(y, label, zero_division=0),
        "recall": metrics.recall_score(y, label, zero_division=0),
        "f1": metrics.f1_score(y, label, zero_division=0),
    }


def values(section: dict) -> dict[str, float]:
    return {name: metric["value"] for name, metric in section.items()}


def test_every_reported_value_is_scikit_learns_on_the_models_predictions(
    regression, regression_run, binary, binary_run
):
    for root, (_, report), key, oracle in (
        (regression, regression_run, "regression_metrics", oracle_regression),
        (binary, binary_run, "binary_classification_metrics", oracle_binary),
    ):
        y, p = predictions(root)
        assert values(report[key]) == pytest.approx(oracle(y, p), rel=1e-12, abs=1e-12), key
        trivial = np.full(len(y), y.mean())
        assert values(report["baseline_predictor"][key]) == pytest.approx(oracle(y, trivial), abs=1e-12), key
    # the binary model's precision, recall and f1 differ: a metric reported under another's name shows
    assert len({round(v, 6) for v in oracle_binary(*predictions(binary)).values()}) == 5


RESAMPLES = 30  # the documented 200 resamples, fewer in these tests: scikit-learn's checks cost ~1 ms per call


@pytest.fixture
def fewer_resamples(monkeypatch) -> None:
    assert (evaluate_module.BOOTSTRAP_RESAMPLES, evaluate_module.BOOTSTRAP_SEED) == (200, 0)
    monkeypatch.setattr(evaluate_module, "BOOTSTRAP_RESAMPLES", RESAMPLES)


def bootstrap_std(oracle, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The documented spread: each metric over resamples of the rows (numpy's default_rng(0)), population std."""
    rng = np.random.default_rng(0)
    samples = [oracle(y[rows], p[rows]) for rows in (rng.integers(0, len(y), len(y)) for _ in range(RESAMPLES))]
    return {name: float(np.std([sample[name] for sample in samples])) for name in samples[0]}


def test_standard_deviations_are_the_bootstrap_of_scikit_learns_metrics_or_the_per_row_spread(fewer_resamples):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 150).astype(float)
    p = np.clip(0.35 * y + 0.65 * rng.random(150), 0, 1)  # informative, with errors of both kinds
    label = (p >= 0.5).astype(int)
    reported = binary_metrics(y, p)
    assert values(reported) == pytest.approx(oracle_binary(y, p), abs=1e-12)
    spread = bootstrap_std(oracle_binary, y, p)
    for name in ("auc", "precision", "recall", "f1"):
        assert reported[name]["standard_deviation"] == pytest.approx(spread[name], rel=1e-9), name
    assert reported["accuracy"]["standard_deviation"] == pytest.approx(np.std(label == y), rel=1e-12)

    target = rng.normal(10, 3, 150)
    guess = target + rng.normal(0, 2, 150)
    reported = regression_metrics(target, guess)
    assert values(reported) == pytest.approx(oracle_regression(target, guess), rel=1e-12)
    spread = bootstrap_std(oracle_regression, target, guess)
    for name in ("rmse", "r2"):
        assert reported[name]["standard_deviation"] == pytest.approx(spread[name], rel=1e-9), name
    assert reported["mse"]["standard_deviation"] == pytest.approx(np.std((target - guess) ** 2), rel=1e-12)
    assert reported["mae"]["standard_deviation"] == pytest.approx(np.std(np.abs(target - guess)), rel=1e-12)


def test_undefined_metrics_are_zero_like_scikit_learns_zero_division_or_nan(fewer_resamples):
    y = np.array([0.0, 0.0, 1.0, 1.0])
    never = binary_metrics(y, np.full(4, 0.2))  # no predicted positives
    assert values(never) == pytest.approx(oracle_binary(y, np.full(4, 0.2)))
    assert never["precision"]["value"] == never["f1"]["value"] == 0.0 and never["auc"]["value"] == 0.5
    one_class = binary_metrics(np.zeros(4), np.array([0.1, 0.7, 0.2, 0.3]))  # no actual positives
    assert np.isnan(one_class["auc"]["value"]) and np.isnan(one_class["auc"]["standard_deviation"])
    assert one_class["recall"]["value"] == one_class["f1"]["value"] == 0.0
    assert one_class["accuracy"]["value"] == metrics.accuracy_score(np.zeros(4), [0, 1, 0, 0])
    assert np.isnan(regression_metrics(np.full(5, 3.0), np.arange(5.0))["r2"]["value"])  # constant target
    assert np.isnan(roc_auc(np.ones(4), np.arange(4.0)))


def archive_with(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (tarfile.TarInfo("../escape.json"), "escapes the directory"),
        (tarfile.TarInfo("/etc/evil"), "escapes the directory"),
        (tarfile.TarInfo("code/../../escape"), "escapes the directory"),
    ],
)
def test_unsafe_archives_are_refused(tmp_path, member, reason):
    archive = archive_with(tmp_path / "model.tar.gz", member)
    with pytest.raises(EvaluationError, match=reason):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.json").exists() and not (tmp_path / "escape").exists()


def test_links_in_archives_are_refused(tmp_path):
    link = tarfile.TarInfo("xgboost-model.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = archive_with(tmp_path / "model.tar.gz", link)
    with pytest.raises(EvaluationError, match=r"refusing to extract 'xgboost-model.json' \(not a regular file\)"):
        safe_extract(archive, tmp_path / "out")


def test_missing_model_and_mismatched_data(regression, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "model.pkl").write_bytes(b"pickle")
    with pytest.raises(EvaluationError, match=r"No xgboost-model\.json or xgboost-model\.ubj in .*; found: model\.pkl"):
        evaluate(tmp_path / "empty", regression / "data" / "test", tmp_path / "out")
    (tmp_path / "narrow").mkdir()
    (tmp_path / "narrow" / "test.csv").write_text("1,2,3\n")
    with pytest.raises(EvaluationError, match=r"The test data has 2 feature column\(s\), the model expects 10"):
        evaluate(regression / "model", tmp_path / "narrow", tmp_path / "out")
    with pytest.raises(EvaluationError, match=r"No test data: expected .*test\.csv"):
        evaluate(regression / "model", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(EvaluationError, match=r"needs 0/1 test targets"):
        evaluate(regression / "model", regression / "data" / "test", tmp_path / "out", "binary")


def test_main(regression, tmp_path):
    common = ["--test-dir", str(regression / "data" / "test"), "--output-dir", str(tmp_path / "eval")]
    assert main(["--model-dir", str(regression / "delivered"), *common, "--problem-type", "regression"]) == 0
    assert (tmp_path / "eval" / "evaluation.json").is_file()
    assert not list(tmp_path.rglob("predictions.csv"))  # only where asked for
    predictions_dir = ["--predictions-dir", str(tmp_path / "predictions")]
    assert main(["--model-dir", str(regression / "delivered"), *common, *predictions_dir]) == 0
    assert (tmp_path / "predictions" / "predictions.csv").read_text().startswith("label,prediction\n")
    failure = tmp_path / "output" / "message"
    assert main(["--model-dir", str(tmp_path), *common, "--failure-file", str(failure)]) == 1
    assert "No xgboost-model.json" in failure.read_text()


# -- predictions.csv: the model-quality baseline's dataset --------------------------------------------------


def test_regression_predictions_are_the_test_labels_and_the_models_outputs(regression, regression_run, tmp_path):
    result = evaluate(regression / "delivered", regression / "data" / "test", tmp_path, "regression", tmp_path / "p")
    assert result.predictions_path == str(tmp_path / "p" / "predictions.csv")
    assert (tmp_path / "evaluation.json").read_text() == (regression / "evaluation" / "evaluation.json").read_text()
    frame = pd.read_csv(result.predictions_path, float_precision="round_trip")
    assert list(frame.columns) == ["label", "prediction"] and len(frame) == result.test_rows
    y, p = predictions(regression)
    np.testing.assert_array_equal(frame["label"], y)
    np.testing.assert_array_equal(frame["prediction"], p)  # written exactly (shortest round-trip text)
    # the file reproduces the report's metrics (scikit-learn on the file's two columns)
    _, report = regression_run
    rmse = metrics.root_mean_squared_error(frame["label"], frame["prediction"])
    assert rmse == pytest.approx(report["regression_metrics"]["rmse"]["value"], rel=1e-12)


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_binary_predictions_carry_the_label_the_thresholded_prediction_and_the_probability(
    binary, binary_run, tmp_path, threshold
):
    test = binary / "data" / "test"
    result = evaluate(binary / "delivered", test, tmp_path, "binary", tmp_path / "p", probability_threshold=threshold)
    frame = pd.read_csv(result.predictions_path, float_precision="round_trip")
    assert list(frame.columns) == ["label", "prediction", "probability"]
    assert frame["label"].dtype == frame["prediction"].dtype == np.int64
    y, p = predictions(binary)
    np.testing.assert_array_equal(frame["label"], y.astype(int))
    np.testing.assert_array_equal(frame["probability"], p)
    np.testing.assert_array_equal(frame["prediction"], (p >= threshold).astype(int))
    if threshold == 0.5:  # the report's threshold: its accuracy is the file's
        accuracy = metrics.accuracy_score(frame["label"], frame["prediction"])
        assert accuracy == pytest.approx(binary_run[1]["binary_classification_metrics"]["accuracy"]["value"])
    else:
        assert (frame["prediction"] != (p >= 0.5).astype(int)).any()  # the threshold moved some predictions


def test_a_probability_threshold_outside_zero_to_one_is_refused(binary, tmp_path):
    with pytest.raises(EvaluationError, match=r"probability_threshold must be between 0 and 1, got 1\.5"):
        evaluate(binary / "delivered", binary / "data" / "test", tmp_path, "binary", tmp_path / "p", 1.5)
    assert not (tmp_path / "p" / "predictions.csv").exists()
