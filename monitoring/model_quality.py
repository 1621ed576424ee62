"""Model-quality statistics in Model Monitor's statistics.json format.

Regression (``regression_metrics``): ``mae``, ``mse`` and ``rmse`` as Spark's ``RegressionMetrics`` computes them
(Model Monitor's analyzer is a Spark job): mae = the sum of |error| in record order / n, mse =
sqrt(the sum of squared errors in record order)² / n (its summarizer keeps the L2 norm), rmse = sqrt(mse). These
equal ``sklearn.metrics``' mean_absolute_error / mean_squared_error / root_mean_squared_error up to the summation
order (the tests hold them to scikit-learn within 1e-12), and reproduce the reference statistics.json to the last
digit, which numpy's pairwise sums miss by one or two units in the last place. ``r2`` = ``r2_score(prediction,
label)``: the arguments are SWAPPED on purpose (Spark's RegressionMetrics given (label, prediction) where it expects
(prediction, observation)). Model Monitor's r2 is 1 - SSE / sum((prediction - mean(prediction))^2), the variance of
the predictions in the denominator instead of that of the labels: on the reference data set (100 rows, ground truth
``Label``, inference ``Prediction``) it writes -3.2088 where the textbook r2 (``r2_score(label,
prediction)``, what Evaluate's evaluation.json reports) is -0.3351. Baselines must move between engines, so this
module reproduces Model Monitor's figure; wherever both are shown they are labelled.

Binary classification (``binary_classification_metrics``), labels and predicted labels 0/1, scores = the
probabilities when given, else the predicted labels:
- ``confusion_matrix``: ``confusion_matrix(label, prediction, labels=[0, 1])`` keyed actual -> predicted
  (``{"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}``);
- ``accuracy`` = ``accuracy_score``; ``precision``, ``recall``, ``f0_5``, ``f1``, ``f2`` =
  ``precision_recall_fscore_support(average="binary", pos_label=1, beta=0.5|1|2, zero_division=0.0)``;
  ``true_positive_rate`` = recall; ``true_negative_rate`` = ``recall_score(pos_label=0, zero_division=0.0)``;
  ``false_positive_rate`` = fp / (fp + tn) and ``false_negative_rate`` = fn / (fn + tp) from that confusion
  matrix (0 when the denominator is 0);
- ``auc`` = ``auc(*roc_curve(label, score)[:2])``, what ``roc_auc_score`` computes for two classes (without its
  label binarization of every record); ``au_prc`` = ``average_precision_score(label, score)`` (the step-wise
  average precision, not a trapezoidal area);
- ``receiver_operating_characteristic_curve`` = ``roc_curve(label, score, drop_intermediate=True)`` and
  ``precision_recall_curve`` = ``precision_recall_curve(label, score)`` listed by ascending recall, each downsampled
  to at most ``MAX_CURVE_POINTS`` points evenly spaced by index (first and last kept);
- the ``_best_constant_classifier`` companions of accuracy, precision, recall, f0_5, f1 and f2 score the constant
  classifier that predicts the positive class for every record. That is what the reference figures show: with 1
  positive in 4, accuracy_best_constant_classifier = precision_... = 0.25, recall_... = 1, f1_... = 0.4,
  f0_5_... = 0.2941, f2_... = 0.625 (always predicting 0 would give accuracy 0.75 and every F score 0).
Degenerate inputs give defined values, never an exception or a warning: zero divisions give 0 (above); ``auc`` and
the ROC curve need both classes, ``au_prc`` and the PR curve need a positive label, otherwise the value is "NaN" and
the curve empty; r2 needs two records. No real container output exists for binary figures (the reference binary file
is a 4-item stand-in whose curves do not even match its confusion matrix): they follow these definitions and match
the stand-in's field names and best-constant figures, not verified against container output. ``binary_values``
asks scikit-learn for each; the statistics compute the same figures with ``monitoring.binary_subsample_figures``
(scikit-learn's operations without its per-call validation, equal to the last bit: tested against it).

Standard deviations: see ``monitoring.subsample`` (at least 200 records, 5 hashed 80% subsamples, else "NaN").

Record order: binary figures are sums of counts and do not depend on it at all; the standard deviations are computed
on subsamples put in a canonical order, so they do not either. Regression values are sums taken in record order, as
Model Monitor's are (that reproduces its rmse and r2 to the last digit, mae and mse within 2 units in the last
place): shuffling the records can move them by a few units in the last place, floating-point addition not being
associative.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import sklearn
from sklearn import metrics

from mlops_errors import MlopsError
from monitoring.binary_subsample_figures import sorted_curves, subsample_values
from monitoring.labelled import LabelledPredictions
from monitoring.subsample import MIN_RECORDS, NAN, standard_deviation, subsample_masks

MAX_CURVE_POINTS = 100  # K: points kept of each curve
REGRESSION = "regression"
BINARY = "binary"
# the project's spelling -> Model Monitor's (env problem_type, file sections)
MODEL_MONITOR_TYPES = {REGRESSION: "Regression", BINARY: "BinaryClassification"}
SECTIONS = {REGRESSION: "regression_metrics", BINARY: "binary_classification_metrics"}
SCORED = ("accuracy", "precision", "recall", "f0_5", "f1", "f2")  # the ones with a best-constant companion
BETAS = {"f0_5": 0.5, "f1": 1.0, "f2": 2.0}


class ModelQualityError(MlopsError, ValueError):
    """Labelled predictions that model-quality metrics cannot be computed from; the message names the value."""


def problem_type_key(problem_type: str) -> str:
    """``regression`` or ``binary`` from either spelling (the project's, or Model Monitor's Regression / ...)."""
    spelled = {"regression": REGRESSION, "binary": BINARY, "binaryclassification": BINARY}
    key = spelled.get(str(problem_type).strip().lower())
    if key is None:
        raise ModelQualityError(
            f"problem type must be regression or binary (Regression or BinaryClassification), got {problem_type!r}"
        )
    return key


def _ratio(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0


def _finite(value: float) -> float | str:
    return float(value) if math.isfinite(value) else NAN


def regression_values(labels: np.ndarray, predictions: np.ndarray, *, exact_r2: bool = False) -> dict[str, float]:
    """mae, mse, rmse (Spark's RegressionMetrics) and Model Monitor's r2 (``r2_score(prediction, label)``: arguments
    swapped, see above); ``exact_r2``: r2 in Spark's order (``spark_r2``), for a statistic's value."""
    errors = np.asarray(labels, dtype=np.float64) - np.asarray(predictions, dtype=np.float64)
    count = len(errors)
    # np.cumsum adds in record order, as Spark's online summarizer does (np.sum's pairwise order differs in the last
    # bits)
    mae = float(np.cumsum(np.abs(errors))[-1]) / count if count else math.nan
    ss_error = math.sqrt(float(np.cumsum(errors * errors)[-1])) ** 2 if count else math.nan
    mse = ss_error / count if count else math.nan
    if exact_r2:
        r2 = spark_r2(predictions, ss_error)
    else:
        r2 = float(metrics.r2_score(predictions, labels)) if count >= 2 else math.nan
    return {"mae": mae, "mse": mse, "rmse": math.sqrt(mse) if count else math.nan, "r2": r2}


def _weighted(actual: list[int], predicted: list[int], weights: np.ndarray, suffix: str) -> dict[str, float]:
    """accuracy, precision, recall and F scores of count-weighted (actual, predicted) rows, by sklearn."""
    y, yhat, w = np.array(actual), np.array(predicted), weights.astype(float)
    values = {f"accuracy{suffix}": float(metrics.accuracy_score(y, yhat, sample_weight=w))}
    for name, beta in BETAS.items():
        precision, recall, fbeta, _ = metrics.precision_recall_fscore_support(
            y, yhat, beta=beta, average="binary", pos_label=1, sample_weight=w, zero_division=0.0
        )
        values[f"precision{suffix}"] = float(precision)
        values[f"recall{suffix}"] = float(recall)
        values[f"{name}{suffix}"] = float(fbeta)
    return values


def binary_values(labels: np.ndarray, predictions: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Every scalar binary metric (NaN where undefined), the best-constant-classifier companions included.

    The counting metrics depend on the four confusion counts only, so sklearn scores the four (actual, predicted)
    rows weighted by their counts: the same figures as on the records, without sklearn's per-call validation of a
    million of them. auc and au_prc run on the records (fastest when they come sorted by score).
    """
    tn, fp, fn, tp = counts = np.bincount(labels * 2 + predictions, minlength=4)
    values = _weighted([0, 0, 1, 1], [0, 1, 0, 1], counts, "")
    values["true_positive_rate"] = values["recall"]
    values["true_negative_rate"] = float(
        metrics.recall_score(
            [0, 0, 1, 1], [0, 1, 0, 1], pos_label=0, sample_weight=counts.astype(float), zero_division=0.0
        )
    )
    values["false_positive_rate"] = _ratio(fp, fp + tn)
    values["false_negative_rate"] = _ratio(fn, fn + tp)
    positives = int(fn + tp)
    both = 0 < positives < len(labels)
    values["auc"] = float(metrics.auc(*metrics.roc_curve(labels, scores)[:2])) if both else math.nan
    values["au_prc"] = float(metrics.average_precision_score(labels, scores)) if positives else math.nan
    constant = np.array([tn + fp, positives])  # every record predicted positive
    values.update(_weighted([0, 1], [1, 1], constant, "_best_constant_classifier"))
    return values


def downsample(xs: np.ndarray, ys: np.ndarray, limit: int = MAX_CURVE_POINTS) -> tuple[list[float], list[float]]:
    """At most ``limit`` points of a curve, evenly spaced by index, the first and the last kept."""
    if len(xs) > limit:
        index = np.unique(np.round(np.linspace(0, len(xs) - 1, limit)).astype(int))
        xs, ys = xs[index], ys[index]
    return [float(x) for x in xs], [float(y) for y in ys]


def binary_curves(labels: np.ndarray, scores: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """ROC (needs both classes) and precision-recall (needs a positive) curves; empty lists when undefined.
    scikit-learn's curves, computed by ``sorted_curves`` on the records sorted by score (equal to the last bit,
    without scikit-learn's validation of every record); records already sorted are not sorted again."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if len(scores) > 1 and not bool(np.all(scores[:-1] <= scores[1:])):
        order = np.argsort(scores, kind="stable")
        labels, scores = labels[order], scores[order]
    roc, pr = sorted_curves(labels, scores)
    fpr, tpr = roc if roc is not None else (np.empty(0), np.empty(0))
    precisions, recalls = pr if pr is not None else (np.empty(0), np.empty(0))
    precisions, recalls = precisions[::-1], recalls[::-1]  # by ascending recall
    fprs, tprs = downsample(fpr, tpr)
    recall_list, precision_list = downsample(recalls, precisions)
    return {
        "receiver_operating_characteristic_curve": {"false_positive_rates": fprs, "true_positive_rates": tprs},
        "precision_recall_curve": {"precisions": precision_list, "recalls": recall_list},
    }


def _check(pairs: LabelledPredictions, problem: str) -> None:
    """Finite numbers; 0/1 labels and predictions and probabilities in [0, 1] for binary."""
    if len(pairs) == 0:
        raise ModelQualityError("model-quality statistics need at least one labelled prediction, got none")
    named = {"label": pairs.labels, "prediction": pairs.predictions}
    if pairs.probabilities is not None:
        named["probability"] = pairs.probabilities
    for name, values in named.items():
        if problem == BINARY and name != "probability":
            bad = ~np.isin(values, (0.0, 1.0))
            expected = "0 or 1"
        elif name == "probability":
            bad = ~((values >= 0.0) & (values <= 1.0))
            expected = "a probability in [0, 1]"
        else:
            bad = ~np.isfinite(values)
            expected = "a finite number"
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ModelQualityError(
                f"{name} of record {pairs.keys[first]!s} must be {expected}, got {float(values[first])!r} "
                f"({int(bad.sum())} such records)"
            )


def _columns(pairs: LabelledPredictions, problem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """labels, predictions, scores and the order they were put in, one that does not depend on the records' order:
    regression records by (prediction, label), so a subsample's sums add in one order whatever the input order;
    binary records by ascending score (ties in any order: no binary figure depends on it, they count records at
    each distinct score; numpy's unstable sort is the fast one), which also lets sklearn's ranking metrics sort an
    already sorted array in linear time."""
    if problem == REGRESSION:
        order = np.lexsort((pairs.labels, pairs.predictions))
        return pairs.labels[order], pairs.predictions[order], pairs.predictions[order], order
    scores = pairs.probabilities if pairs.probabilities is not None else pairs.predictions
    order = np.argsort(scores)
    return pairs.labels[order].astype(int), pairs.predictions[order].astype(int), scores[order], order


def spark_r2(predictions: np.ndarray, ss_error: float) -> float:
    """Model Monitor's r2 as Spark's RegressionMetrics computes it with the prediction as the observation: 1 - SSerr /
    SStot, SSerr (``ss_error``) the squared L2 norm of the errors, SStot the sample variance of the predictions
    (Welford's online update over the non-zero values, Spark's summarizer) times (n - 1). Equal to
    ``r2_score(prediction, label)`` up to rounding; this order reproduces the reference figure to the last digit. A
    Python loop (about 0.3 s a million records), so it is used for a statistic's value, not for its subsamples."""
    count = len(predictions)
    if count < 2:
        return math.nan
    mean, m2n, nonzero = 0.0, 0.0, 0
    for value in np.asarray(predictions, dtype=np.float64).tolist():
        if value != 0.0:
            nonzero += 1
            diff = value - mean
            mean += diff / nonzero
            m2n += (value - mean) * diff
    variance = max((m2n + mean * mean * nonzero * (count - nonzero) / count) / (count - 1.0), 0.0)
    ss_total = variance * (count - 1)
    return 1.0 - ss_error / ss_total if ss_total > 0 else math.nan


def metric_block(
    pairs: LabelledPredictions,
    problem: str,
    columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    masks: Future | None = None,
) -> dict[str, dict[str, float | str]]:
    """``{metric: {"value": v, "standard_deviation": s}}`` for every scalar metric of the problem type. ``masks``:
    the subsamples' ``subsample_masks(pairs.keys)`` being computed (else computed here)."""
    labels, predictions, scores, order = columns

    def figures(mask: np.ndarray | None) -> dict[str, float]:
        """A subsample's figures (all the records' when None). Binary: scikit-learn's figures without its per-call
        validation (monitoring.binary_subsample_figures, equal to the last bit), on records sorted by score."""
        kept = slice(None) if mask is None else mask[order]
        with sklearn.config_context(assume_finite=True), np.errstate(all="ignore"):  # both are per thread
            if problem == BINARY:
                return subsample_values(labels[kept], predictions[kept], scores[kept])
            if mask is None:  # the value sums in record order, as Model Monitor's (reproduces its figures)
                return regression_values(pairs.labels, pairs.predictions, exact_r2=True)
            return regression_values(labels[kept], predictions[kept])

    with ThreadPoolExecutor(2) as pool:  # numpy's loops release the GIL: the figures are computed side by side
        headline = pool.submit(figures, None)
        found: list[dict[str, float]] = []
        if len(pairs) >= MIN_RECORDS:
            found = list(pool.map(figures, masks.result() if masks is not None else subsample_masks(pairs.keys)))
        values = headline.result()
    samples = {name: [figures_of[name] for figures_of in found] for name in values}
    return {
        name: {"value": _finite(value), "standard_deviation": standard_deviation(samples[name])}
        for name, value in values.items()
    }


def model_quality_statistics(
    pairs: LabelledPredictions, problem_type: str, *, evaluation_time: str | None = None
) -> dict:
    """statistics.json content: ``version``, ``dataset`` (item_count[, evaluation_time]) and the metric section."""
    problem = problem_type_key(problem_type)
    _check(pairs, problem)
    with sklearn.config_context(assume_finite=True), np.errstate(all="ignore"), ThreadPoolExecutor(1) as pool:
        # the subsamples' key hashes are computed beside the figures (pandas' hashing and numpy release the GIL)
        masks = pool.submit(subsample_masks, pairs.keys) if len(pairs) >= MIN_RECORDS else None
        columns = _columns(pairs, problem)
        block: dict[str, Any] = metric_block(pairs, problem, columns, masks)
        if problem == BINARY:
            labels, predictions, scores, _ = columns
            counts = np.bincount(labels * 2 + predictions, minlength=4).reshape(2, 2)  # = confusion_matrix's
            matrix = {str(a): {str(p): int(counts[a, p]) for p in (0, 1)} for a in (0, 1)}
            block = {"confusion_matrix": matrix, **block, **binary_curves(labels, scores)}
    dataset: dict[str, Any] = {"item_count": len(pairs)}
    if evaluation_time is not None:
        dataset["evaluation_time"] = evaluation_time
    return {"version": 0.0, "dataset": dataset, SECTIONS[problem]: block}
