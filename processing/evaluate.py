"""Evaluate step: score the trained model on the test split and write ``evaluation.json`` (ModelMetrics shape).

Runs in the SageMaker XGBoost framework image as a Processing job; imports only the standard library, numpy,
pandas and xgboost. The model input is ``model.tar.gz`` as SageMaker delivers a training job's output (extracted
safely into a temporary directory) or an already-extracted model directory.

Metrics and their ``standard_deviation``:
- regression: ``mse`` and ``mae`` carry the population standard deviation of the per-row squared and absolute
  errors; ``rmse`` and ``r2`` the standard deviation of the statistic over 200 bootstrap resamples of the test
  rows (seed 0);
- binary (threshold 0.5 on the predicted probability): ``accuracy`` the standard deviation of the per-row 0/1
  correctness; ``auc`` (rank-based Mann-Whitney, ties averaged), ``precision``, ``recall`` and ``f1`` the
  bootstrap standard deviation as above. Precision, recall and f1 are 0 where undefined (no predicted or no
  actual positives).

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
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from processing.container import configure_logging, default_failure_file, write_failure

logger = logging.getLogger(__name__)

PROBLEM_TYPES = ("regression", "binary")
MODEL_FILES = ("xgboost-model.json", "xgboost-model.ubj")
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0
THRESHOLD = 0.5


class EvaluationError(ValueError):
    """The model or the test data is not what the step expects."""


@dataclass(frozen=True)
class EvaluationResult:
    """The metric values of the model and of the trivial predictor, and where the report is."""

    problem_type: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    test_rows: int
    report_path: str


# -- model -------------------------------------------------------------------------------------------------


def safe_extract(archive: Path, destination: Path) -> None:
    """Extract a tar(.gz) archive, refusing members that are not plain files or directories or that would land
    outside ``destination`` (absolute paths, ``..``)."""
    root = destination.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            target = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()):
                raise EvaluationError(f"{archive}: refusing to extract {member.name!r} (not a regular file)")
            if member.name.startswith(("/", "\\")) or (target != root and root not in target.parents):
                raise EvaluationError(f"{archive}: refusing to extract {member.name!r}: it escapes the directory")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, members=members, filter="data")
        else:  # Python 3.10 before 3.10.12: the members were checked above
            tar.extractall(root, members=members)


def load_booster(model_dir: Path) -> xgb.Booster:
    """The booster saved by training (XGBoost JSON or UBJ; never a pickle)."""
    for name in MODEL_FILES:
        if (model_dir / name).is_file():
            booster = xgb.Booster()
            booster.load_model(str(model_dir / name))
            return booster
    found = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())[:20]
    raise EvaluationError(f"No {' or '.join(MODEL_FILES)} in {model_dir}; found: {', '.join(found) or 'nothing'}")


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


def _bootstrap_std(statistic: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, p: np.ndarray) -> float:
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    values = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        rows = rng.integers(0, len(y), len(y))
        values.append(statistic(y[rows], p[rows]))
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.std(values)) if len(values) else float("nan")


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    total = np.sum((y - y.mean()) ** 2)
    return float(1.0 - np.sum((y - p) ** 2) / total) if total > 0 else float("nan")


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, dict[str, float]]:
    """mse, rmse, mae, r2 with standard deviations, in the ModelMetrics shape."""
    squared, absolute = (y - p) ** 2, np.abs(y - p)
    return {
        "mse": {"value": float(squared.mean()), "standard_deviation": float(squared.std())},
        "rmse": {"value": _rmse(y, p), "standard_deviation": _bootstrap_std(_rmse, y, p)},
        "mae": {"value": float(absolute.mean()), "standard_deviation": float(absolute.std())},
        "r2": {"value": _r2(y, p), "standard_deviation": _bootstrap_std(_r2, y, p)},
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic over average ranks (ties count one half)."""
    positives = int(np.sum(y == 1))
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    # average rank (1-based) of each group of tied scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(score)]
    ranks = np.empty(len(score), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    u = ranks[y == 1].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def _counts(y: np.ndarray, p: np.ndarray) -> tuple[int, int, int]:
    predicted = p >= THRESHOLD
    actual = y == 1
    return int(np.sum(predicted & actual)), int(np.sum(predicted & ~actual)), int(np.sum(~predicted & actual))


def _precision(y: np.ndarray, p: np.ndarray) -> float:
    tp, fp, _ = _counts(y, p)
    return tp / (tp + fp) if tp + fp else 0.0


def _recall(y: np.ndarray, p: np.ndarray) -> float:
    tp, _, fn = _counts(y, p)
    return tp / (tp + fn) if tp + fn else 0.0


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    tp, fp, fn = _counts(y, p)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, dict[str, float]]:
    """auc, accuracy, precision, recall, f1 (threshold 0.5) with standard deviations, in the ModelMetrics shape."""
    correct = ((p >= THRESHOLD) == (y == 1)).astype(np.float64)
    metrics = {"auc": {"value": roc_auc(y, p), "standard_deviation": _bootstrap_std(roc_auc, y, p)}}
    metrics["accuracy"] = {"value": float(correct.mean()), "standard_deviation": float(correct.std())}
    for name, statistic in (("precision", _precision), ("recall", _recall), ("f1", _f1)):
        metrics[name] = {"value": float(statistic(y, p)), "standard_deviation": _bootstrap_std(statistic, y, p)}
    return metrics


def _values(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    return {name: m["value"] for name, m in metrics.items()}


# -- step --------------------------------------------------------------------------------------------------


def evaluate(
    model_dir: str | os.PathLike,
    test_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    problem_type: str = "regression",
) -> EvaluationResult:
    """Score the model on the test split and write ``output_dir/evaluation.json``.

    ``model_dir`` holds ``model.tar.gz`` (or is that file) or the extracted model files; ``test_dir`` holds
    ``test.csv`` (target first, no header). Raises EvaluationError for a missing or unsafe model archive, test
    data that is not numeric, or a feature count that differs from the model's.
    """
    if problem_type not in PROBLEM_TYPES:
        raise EvaluationError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}")
    model_dir, test_dir = Path(model_dir), Path(test_dir)
    y, x = read_test(test_dir)
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        archive = model_dir if model_dir.is_file() else model_dir / "model.tar.gz"
        if archive.is_file():
            try:
                safe_extract(archive, Path(scratch))
            except (tarfile.TarError, OSError) as exc:
                raise EvaluationError(f"Cannot extract {archive}: {exc}") from exc
            booster = load_booster(Path(scratch))
        else:
            booster = load_booster(model_dir)
    width = booster.num_features()
    if x.shape[1] != width:
        raise EvaluationError(f"The test data has {x.shape[1]} feature column(s), the model expects {width}")
    predictions = booster.predict(xgb.DMatrix(x)).astype(np.float64)

    if problem_type == "regression":
        key, scorer = "regression_metrics", regression_metrics
        trivial, description = np.full(len(y), y.mean()), "mean of the test target"
    else:
        if not np.isin(y, (0.0, 1.0)).all():
            raise EvaluationError(f"problem_type binary needs 0/1 test targets, found {np.unique(y)[:5].tolist()}")
        key, scorer = "binary_classification_metrics", binary_metrics
        trivial = np.full(len(y), y.mean())
        description = "constant probability = positive rate of the test target (predicts the majority class)"
    metrics = scorer(y, predictions)
    baseline = scorer(y, trivial)
    report = {key: metrics, "baseline_predictor": {"description": description, key: baseline}}
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evaluation.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    summary = ", ".join(f"{k} {v['value']:.4f} (baseline {baseline[k]['value']:.4f})" for k, v in metrics.items())
    logger.info("Test metrics on %d rows: %s", len(y), summary)
    return EvaluationResult(problem_type, _values(metrics), _values(baseline), len(y), str(path))


def main(argv: Sequence[str] | None = None) -> int:
    """Container entry: parse arguments and run ``evaluate``; exit code 1 with a message on bad inputs."""
    parser = argparse.ArgumentParser(description="Evaluate the trained model on the test split")
    parser.add_argument("--model-dir", default="/opt/ml/processing/model")
    parser.add_argument("--test-dir", default="/opt/ml/processing/test")
    parser.add_argument("--output-dir", default="/opt/ml/processing/evaluation")
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, default="regression")
    parser.add_argument("--failure-file", default=default_failure_file())
    args = parser.parse_args(argv)
    configure_logging()
    try:
        evaluate(args.model_dir, args.test_dir, args.output_dir, args.problem_type)
    except EvaluationError as exc:
        logger.error("%s", exc)
        write_failure(args.failure_file, str(exc))
        return 1
    except Exception as exc:
        write_failure(args.failure_file, f"Evaluate failed unexpectedly: {type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
