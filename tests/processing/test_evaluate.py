"""Evaluate on the real pipeline's outputs: preprocess -> train -> model.tar.gz -> evaluation.json."""

from __future__ import annotations

import io
import json
import tarfile
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from processing.evaluate import EvaluationError, evaluate, main, roc_auc, safe_extract
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


def check_shape(section: dict, keys: set[str]) -> None:
    assert set(section) == keys
    for metric in section.values():
        assert set(metric) == {"value", "standard_deviation"}
        assert np.isfinite(metric["value"]) and metric["standard_deviation"] >= 0


def test_regression_model_beats_the_mean_predictor(regression, tmp_path):
    result = evaluate(regression / "delivered", regression / "data" / "test", tmp_path, "regression")
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(report) == {"regression_metrics", "baseline_predictor"}
    check_shape(report["regression_metrics"], REGRESSION_KEYS)
    check_shape(report["baseline_predictor"]["regression_metrics"], REGRESSION_KEYS)
    assert report["baseline_predictor"]["description"] == "mean of the test target"
    metrics, baseline = report["regression_metrics"], report["baseline_predictor"]["regression_metrics"]
    assert metrics["rmse"]["value"] < 2.6 < 3.0 < baseline["rmse"]["value"]
    assert metrics["rmse"]["value"] == pytest.approx(np.sqrt(metrics["mse"]["value"]))
    assert metrics["r2"]["value"] > 0.45 and baseline["r2"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert 0 < metrics["rmse"]["standard_deviation"] < 0.5
    assert result.metrics["rmse"] == metrics["rmse"]["value"] and result.test_rows == 626
    assert result.baseline_metrics["rmse"] == baseline["rmse"]["value"]


def test_an_extracted_model_dir_gives_the_same_report(regression, tmp_path):
    evaluate(regression / "delivered", regression / "data" / "test", tmp_path / "a", "regression")
    evaluate(regression / "model", regression / "data" / "test", tmp_path / "b", "regression")
    assert (tmp_path / "a" / "evaluation.json").read_text() == (tmp_path / "b" / "evaluation.json").read_text()


def test_binary_model_auc_and_majority_baseline(binary, tmp_path):
    result = evaluate(binary / "delivered", binary / "data" / "test", tmp_path, "binary")
    report = json.loads((tmp_path / "evaluation.json").read_text())
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


def brute_force_auc(y: np.ndarray, score: np.ndarray) -> float:
    pos, neg = score[y == 1], score[y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_is_the_mann_whitney_statistic_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 2, 60).astype(float)
        score = rng.integers(0, 6, 60).astype(float)  # many ties
        assert roc_auc(y, score) == pytest.approx(brute_force_auc(y, score), abs=1e-12)
    y = np.array([0, 0, 1, 1.0])
    assert roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert roc_auc(y, np.full(4, 0.3)) == 0.5
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
    failure = tmp_path / "output" / "message"
    assert main(["--model-dir", str(tmp_path), *common, "--failure-file", str(failure)]) == 1
    assert "No xgboost-model.json" in failure.read_text()
