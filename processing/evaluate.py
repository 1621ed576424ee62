"""Evaluate step: score the trained model on the test split and write ``evaluation.json`` (ModelMetrics shape).

Runs in the SageMaker XGBoost framework image as a Processing job; imports only the standard library, numpy,
pandas, scikit-learn and xgboost (the image's versions are the container pins in setup.py). The model input is
``model.tar.gz`` as SageMaker delivers a training job's output (extracted safely into a temporary directory) or an
already-extracted model directory.

Metric values come from ``sklearn.metrics``; their ``standard_deviation``:
- regression: ``mse`` and ``mae`` carry the population standard deviation of the per-row squared and absolute
  errors; ``rmse`` and ``r2`` the standard deviation of the statistic over 200 bootstrap resamples of the test
  rows (seed 0). ``r2`` is the textbook ``r2_score(y_true, y_pred)`` (NaN for a constant target), which the
  quality gate reads; Model Monitor's model-quality statistics compute their ``r2`` differently;
- binary (threshold 0.5 on the predicted probability): ``accuracy`` the standard deviation of the per-row 0/1
  correctness; ``auc`` (``roc_auc_score``, NaN with one class), ``precision``, ``recall`` and ``f1`` (of the
  positive class) the bootstrap standard deviation as above. Precision, recall and f1 are 0 where undefined (no
  predicted or no actual positives: ``zero_division=0``).

With ``--predictions-dir`` it also writes ``predictions.csv`` there, the model-quality baseline's dataset: a header
line, then one line per test row, ``label,prediction`` for regression and ``label,prediction,probability`` for
binary (prediction: 1 when the probability is at least ``--probability-threshold``, 0.5 by default, else 0;
probability: the model's output). Those are the attributes the model-quality analyzer reads (ground truth
``label``, inference ``prediction``, probability ``probability``).

``baseline_predictor`` holds the same metrics for a trivial predictor: the mean of the test target for
regression, the test split's positive rate as a constant probability (so the majority class) for binary. It is
what the model must beat (a mean predictor scores RMSE about 3.2 on abalone).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from processing.container import configure_logging, default_failure_file, run_program
from processing.model_files import EvaluationError, predict

logger = logging.getLogger(__name__)

PROBLEM_TYPES = ("regression", "binary")
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0
THRESHOLD = 0.5
PREDICTIONS_FILE = "predictions.csv"
LABEL, PREDICTION, PROBABILITY = "label", "prediction", "probability"


@dataclass(frozen=True)
class EvaluationResult:
    """The metric values of the model and of the trivial predictor, and where the report is."""

    problem_type: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    test_rows: int
    report_path: str
    predictions_path: str | None = None


def read_test(test_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, features) of the test split: headerless CSV, target first."""
    files = [test_dir / "test.csv"] if (test_dir / "test.csv").is_file() else sorted(test_dir.glob("*.csv"))
    if not files:
        raise EvaluationError(f"No test data: expected {test_dir / 'test.csv'} (target first, no header)")
    parts = []
    for path in files:
        try:
            parts.append(pd.read_csv(path, header=None, dtype=np.float64).to_numpy())
        except pd.errors.EmptyDataError:
            raise EvaluationError(f"{path} has no rows") from None
        except ValueError as exc:
            raise EvaluationError(f"{path} must hold only numbers (target first, no header): {exc}") from None
    data = np.vstack(parts)
    if np.isnan(data[:, 0]).any():
        raise EvaluationError(f"The test data in {test_dir} has rows without a target")
    return data[:, 0], data[:, 1:]


# -- metrics -----------------------------------------------------------------------------------------------

Statistics = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def _bootstrap_std(statistics: Statistics, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Per statistic, the standard deviation of its values over the bootstrap resamples of the rows (non-finite
    values, e.g. an AUC of a resample with one class, left out; NaN if none is finite)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    samples = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        rows = rng.integers(0, len(y), len(y))
        samples.append(statistics(y[rows], p[rows]))
    spread = {}
    for name in samples[0]:
        values = np.asarray([sample[name] for sample in samples], dtype=np.float64)
        values = values[np.isfinite(values)]
        spread[name] = float(np.std(values)) if len(values) else float("nan")
    return spread


def r2(y: np.ndarray, p: np.ndarray) -> float:
    """The textbook coefficient of determination, ``r2_score(y_true, y_pred)``; NaN for a constant target, where
    it is undefined (scikit-learn would report 0.0 or 1.0). Model Monitor's model-quality ``r2`` is computed
    differently: the two are not comparable."""
    return float(r2_score(y, p)) if np.ptp(y) > 0 else float("nan")


def _spread_statistics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"rmse": float(root_mean_squared_error(y, p)), "r2": r2(y, p)}


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, dict[str, float]]:
    """mse, rmse, mae, r2 with standard deviations, in the ModelMetrics shape."""
    spread = _bootstrap_std(_spread_statistics, y, p)
    return {
        "mse": {"value": float(mean_squared_error(y, p)), "standard_deviation": float(np.std((y - p) ** 2))},
        "rmse": {"value": float(root_mean_squared_error(y, p)), "standard_deviation": spread["rmse"]},
        "mae": {"value": float(mean_absolute_error(y, p)), "standard_deviation": float(np.std(np.abs(y - p)))},
        "r2": {"value": r2(y, p), "standard_deviation": spread["r2"]},
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """``roc_auc_score(y_true, score)``; NaN where undefined (the targets hold one class only)."""
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


def _classification_statistics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """auc, and precision, recall and f1 of the positive class at the threshold (0 where undefined)."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y.astype(np.int64), (p >= THRESHOLD).astype(np.int64), average="binary", pos_label=1, zero_division=0
    )
    return {"auc": roc_auc(y, p), "precision": float(precision), "recall": float(recall), "f1": float(f1)}


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, dict[str, float]]:
    """auc, accuracy, precision, recall, f1 (threshold 0.5) with standard deviations, in the ModelMetrics shape."""
    predicted = (p >= THRESHOLD).astype(np.int64)
    correct = (predicted == y).astype(np.float64)
    values, spread = _classification_statistics(y, p), _bootstrap_std(_classification_statistics, y, p)
    return {
        "auc": {"value": values["auc"], "standard_deviation": spread["auc"]},
        "accuracy": {
            "value": float(accuracy_score(y.astype(np.int64), predicted)),
            "standard_deviation": float(np.std(correct)),
        },
        **{name: {"value": values[name], "standard_deviation": spread[name]} for name in ("precision", "recall", "f1")},
    }


def _values(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    return {name: m["value"] for name, m in metrics.items()}


# -- step --------------------------------------------------------------------------------------------------


def write_predictions(
    path: Path, y: np.ndarray, p: np.ndarray, problem_type: str, threshold: float = THRESHOLD
) -> Path:
    """``label,prediction`` (regression) or ``label,prediction,probability`` (binary: the prediction is 1 where the
    probability is at least ``threshold``) with a header line: the model-quality baseline's dataset."""
    if problem_type == "regression":
        frame = pd.DataFrame({LABEL: y, PREDICTION: p})
    else:
        if not 0.0 <= threshold <= 1.0:
            raise EvaluationError(f"probability_threshold must be between 0 and 1, got {threshold!r}")
        frame = pd.DataFrame({LABEL: y.astype(np.int64), PREDICTION: (p >= threshold).astype(np.int64), PROBABILITY: p})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    frame.to_csv(partial, index=False)
    os.replace(partial, path)
    return path


def evaluate(
    model_dir: str | os.PathLike,
    test_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    problem_type: str = "regression",
    predictions_dir: str | os.PathLike | None = None,
    probability_threshold: float = THRESHOLD,
) -> EvaluationResult:
    """Score the model on the test split and write ``output_dir/evaluation.json`` (and, with ``predictions_dir``,
    ``predictions_dir/predictions.csv``).

    ``model_dir`` holds ``model.tar.gz`` (or is that file) or the extracted model files; ``test_dir`` holds
    ``test.csv`` (target first, no header). Raises EvaluationError for a missing or unsafe model archive, test
    data that is not numeric, or a feature count that differs from the model's.
    """
    if problem_type not in PROBLEM_TYPES:
        raise EvaluationError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}")
    y, x = read_test(Path(test_dir))
    predictions = predict(Path(model_dir), x)
    if problem_type == "regression":
        key, scorer = "regression_metrics", regression_metrics
        description = "mean of the test target"
    else:
        if not np.isin(y, (0.0, 1.0)).all():
            raise EvaluationError(f"problem_type binary needs 0/1 test targets, found {np.unique(y)[:5].tolist()}")
        key, scorer = "binary_classification_metrics", binary_metrics
        description = "constant probability = positive rate of the test target (predicts the majority class)"
    metrics = scorer(y, predictions)
    baseline = scorer(y, np.full(len(y), y.mean()))
    written = None
    if predictions_dir is not None:
        target = Path(predictions_dir) / PREDICTIONS_FILE
        written = str(write_predictions(target, y, predictions, problem_type, probability_threshold))
    report = {key: metrics, "baseline_predictor": {"description": description, key: baseline}}
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evaluation.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    summary = ", ".join(f"{k} {v['value']:.4f} (baseline {baseline[k]['value']:.4f})" for k, v in metrics.items())
    logger.info("Test metrics on %d rows: %s", len(y), summary)
    return EvaluationResult(problem_type, _values(metrics), _values(baseline), len(y), str(path), written)


def main(argv: Sequence[str] | None = None) -> int:
    """Container entry: parse arguments and run ``evaluate``; exit code 1 with a message on bad inputs."""
    parser = argparse.ArgumentParser(description="Evaluate the trained model on the test split")
    parser.add_argument("--model-dir", default="/opt/ml/processing/model")
    parser.add_argument("--test-dir", default="/opt/ml/processing/test")
    parser.add_argument("--output-dir", default="/opt/ml/processing/evaluation")
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, default="regression")
    parser.add_argument("--predictions-dir", default=None, help="where predictions.csv goes (none: not written)")
    parser.add_argument("--probability-threshold", type=float, default=THRESHOLD, help="binary: predicts 1 at/above")
    parser.add_argument("--failure-file", default=default_failure_file())
    args = parser.parse_args(argv)
    configure_logging()

    def work() -> EvaluationResult:
        return evaluate(
            args.model_dir,
            args.test_dir,
            args.output_dir,
            args.problem_type,
            args.predictions_dir,
            args.probability_threshold,
        )

    return run_program("Evaluate", work, EvaluationError, args.failure_file, logger)


if __name__ == "__main__":
    sys.exit(main())
