"""Binary-classification figures of the standard deviations' subsamples, computed fast and equal to scikit-learn's.

``model_quality.binary_values`` asks scikit-learn for every figure; its per-call validation (label checks,
``np.unique`` over the records, a sort by score) costs more than the figures themselves, and the standard deviations
need them on 5 subsamples of up to a million records. This module repeats, for records already sorted by ascending
score, the operations scikit-learn 1.5's functions run after their validation, in the same order and on the same
dtypes, so the figures are equal to the last bit (tests/monitoring/test_binary_subsample_figures.py checks them
against ``binary_values`` on random data with ties and on degenerate data):

- accuracy, precision, recall, F-beta and the true-negative rate from the four confusion counts, as
  ``precision_recall_fscore_support(average="binary", zero_division=0.0)`` and ``accuracy_score`` weight them;
- ``auc``: ``roc_curve``'s points (``_binary_clf_curve``, then ``drop_intermediate``) integrated by ``auc``;
- ``au_prc``: ``average_precision_score``, the step-wise sum over ``precision_recall_curve``'s points;
- the curves themselves (``sorted_curves``): ``roc_curve``'s and ``precision_recall_curve``'s points.

The sort scikit-learn would do (``argsort(score, kind="mergesort")[::-1]``) is, on ascending scores, the reversal.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics

BETAS = {"f0_5": 0.5, "f1": 1.0, "f2": 2.0}
Curve = tuple[np.ndarray, np.ndarray]


def _divide(numerator: float | np.floating, denominator: float | np.floating) -> float:
    """``_prf_divide`` with ``zero_division=0.0``."""
    return float(np.float64(numerator) / np.float64(denominator)) if denominator != 0.0 else 0.0


def _scores(tn: float, fp: float, fn: float, tp: float, suffix: str) -> dict[str, float]:
    """accuracy, precision, recall and the F scores of count-weighted (actual, predicted) rows."""
    values = {f"accuracy{suffix}": float((np.float64(tn) + np.float64(tp)) / np.float64(tn + fp + fn + tp))}
    values[f"precision{suffix}"] = _divide(tp, tp + fp)
    values[f"recall{suffix}"] = _divide(tp, tp + fn)
    for name, beta in BETAS.items():
        beta2 = beta**2
        values[f"{name}{suffix}"] = _divide((1 + beta2) * np.float64(tp), beta2 * np.float64(tp + fn) + (tp + fp))
    return values


def counting_values(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """The figures of ``binary_values`` that depend on the confusion counts only (0/1 integer arrays)."""
    tn, fp, fn, tp = (float(c) for c in np.bincount(labels * 2 + predictions, minlength=4))
    values = _scores(tn, fp, fn, tp, "")
    values["true_positive_rate"] = values["recall"]
    values["true_negative_rate"] = _divide(tn, tn + fp)
    values["false_positive_rate"] = _divide(fp, fp + tn)
    values["false_negative_rate"] = _divide(fn, fn + tp)
    values.update(_scores(0.0, tn + fp, 0.0, fn + tp, "_best_constant_classifier"))
    return values


def sorted_curves(labels: np.ndarray, scores: np.ndarray) -> tuple[Curve | None, Curve | None]:
    """(false positive rates, true positive rates) of ``roc_curve(label, score, drop_intermediate=True)`` and
    (precisions, recalls) of ``precision_recall_curve(label, score)``, for records sorted by ascending score, equal to
    scikit-learn's to the last bit; None where undefined (ROC: both classes needed, PR: a positive)."""
    count = len(labels)
    if not count:
        return None, None
    y_true = (labels == 1)[::-1]
    y_score = scores[::-1]
    threshold_idxs = np.r_[np.where(np.diff(y_score))[0], count - 1]
    tps = np.cumsum(y_true * 1.0, dtype=np.float64)[threshold_idxs]
    fps = 1 + threshold_idxs - tps
    positives = int(tps[-1])
    roc = pr = None
    if 0 < positives < count:
        roc_fps, roc_tps = fps, tps
        if len(fps) > 2:
            optimal = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
            roc_fps, roc_tps = fps[optimal], tps[optimal]
        roc_tps, roc_fps = np.r_[0, roc_tps], np.r_[0, roc_fps]
        roc = (roc_fps / roc_fps[-1], roc_tps / roc_tps[-1])
    if positives:
        ps = tps + fps
        precision = np.zeros_like(tps)
        np.divide(tps, ps, out=precision, where=(ps != 0))
        recall = tps / tps[-1]
        pr = (np.hstack((precision[::-1], 1)), np.hstack((recall[::-1], 0)))
    return roc, pr


def ranking_values(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """``auc`` and ``au_prc`` of records sorted by ascending score (NaN where undefined, as ``binary_values``)."""
    values = {"auc": math.nan, "au_prc": math.nan}
    roc, pr = sorted_curves(labels, scores)
    if roc is not None:
        values["auc"] = float(metrics.auc(*roc))
    if pr is not None:
        precision, recall = pr
        values["au_prc"] = float(-np.sum(np.diff(recall) * np.array(precision)[:-1]))
    return values


def subsample_values(labels: np.ndarray, predictions: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Every scalar figure of ``binary_values``, in its order, for records sorted by ascending score."""
    values = counting_values(labels, predictions)
    ranked = ranking_values(labels, scores)
    best = {name: value for name, value in values.items() if name.endswith("_best_constant_classifier")}
    ordered = {name: value for name, value in values.items() if name not in best}
    return {**ordered, **ranked, **best}
