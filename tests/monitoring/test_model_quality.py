"""Model-quality statistics: the reference regression statistics.json reproduced, binary metrics equal to
scikit-learn's on real pairs (a binary version of abalone), standard deviations from hashed subsamples, and defined
values (no exception, no warning) for degenerate inputs."""

from __future__ import annotations

import json
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.linear_model import LinearRegression, LogisticRegression

from monitoring.labelled import LabelledPredictions
from monitoring.model_quality import MAX_CURVE_POINTS, ModelQualityError, model_quality_statistics
from monitoring.subsample import subsample_masks
from tests.conftest import ABALONE, REFERENCE

MODEL_QUALITY = REFERENCE / "model-quality"
REGRESSION = MODEL_QUALITY / "regression-baseline"
SHAPES = MODEL_QUALITY / "metric-shapes"


def reference_pairs() -> LabelledPredictions:
    # float_precision="round_trip": the nearest double of each figure, as Python's float() and Spark read them
    frame = pd.read_csv(REGRESSION / "baseline_dataset.csv", float_precision="round_trip")
    keys = np.arange(1, len(frame) + 1).astype(str).astype(object)
    return LabelledPredictions(keys, frame["Label"].to_numpy(float), frame["Prediction"].to_numpy(float))


@cache
def abalone_regression() -> LabelledPredictions:
    """Rings against a linear model of the numeric measurements: real labels, real (imperfect) predictions."""
    frame = pd.read_csv(ABALONE)
    features = frame.drop(columns=["sex", "rings"]).to_numpy()
    predictions = LinearRegression().fit(features, frame["rings"]).predict(features)
    keys = np.arange(1, len(frame) + 1).astype(str).astype(object)
    return LabelledPredictions(keys, frame["rings"].to_numpy(float), predictions)


@cache
def abalone_binary() -> LabelledPredictions:
    """Binary abalone: "at least 10 rings" against a logistic model's probability, predicted at 0.5."""
    frame = pd.read_csv(ABALONE)
    features = frame.drop(columns=["sex", "rings"]).to_numpy()
    labels = (frame["rings"] >= 10).to_numpy(float)
    with warnings.catch_warnings():  # scipy's deprecation of an L-BFGS-B option sklearn 1.5 still passes
        warnings.simplefilter("ignore", DeprecationWarning)
        model = LogisticRegression(max_iter=2000).fit(features, labels)
    probabilities = model.predict_proba(features)[:, 1]
    keys = np.array([f"abalone-{i}" for i in range(len(frame))], dtype=object)
    return LabelledPredictions(keys, labels, (probabilities >= 0.5).astype(float), probabilities)


def shuffled(pairs: LabelledPredictions, seed: int = 7) -> LabelledPredictions:
    order = np.random.default_rng(seed).permutation(len(pairs))
    probabilities = pairs.probabilities[order] if pairs.probabilities is not None else None
    return LabelledPredictions(pairs.keys[order], pairs.labels[order], pairs.predictions[order], probabilities)


def no_warnings(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


def test_regression_reproduces_the_reference_statistics_field_for_field():
    reference = json.loads((REGRESSION / "statistics.json").read_text())
    ours = no_warnings(model_quality_statistics, reference_pairs(), "regression")
    assert ours.keys() == reference.keys() and ours["version"] == reference["version"] == 0.0
    assert ours["dataset"] == reference["dataset"] == {"item_count": 100}  # no evaluation_time in a baseline
    ours_metrics, reference_metrics = ours["regression_metrics"], reference["regression_metrics"]
    assert list(ours_metrics) == list(reference_metrics) == ["mae", "mse", "rmse", "r2"]
    assert ours_metrics == reference_metrics  # to the last digit, "NaN" deviations included


def test_regression_errors_equal_scikit_learn_up_to_the_summation_order():
    rng = np.random.default_rng(7)
    labels, predictions = rng.normal(10, 3, 5000), rng.normal(10, 3, 5000)
    keys = np.array([str(i) for i in range(5000)])
    ours = model_quality_statistics(LabelledPredictions(keys, labels, predictions), "regression")["regression_metrics"]
    oracle = {
        "mae": metrics.mean_absolute_error(labels, predictions),
        "mse": metrics.mean_squared_error(labels, predictions),
        "rmse": metrics.root_mean_squared_error(labels, predictions),
        "r2": metrics.r2_score(predictions, labels),
    }
    for name, value in oracle.items():
        assert ours[name]["value"] == pytest.approx(value, rel=1e-12, abs=0), name


def test_r2_is_sklearn_r2_with_the_arguments_swapped_not_the_textbook_one():
    pairs = reference_pairs()
    r2 = model_quality_statistics(pairs, "Regression")["regression_metrics"]["r2"]["value"]
    assert r2 == pytest.approx(metrics.r2_score(pairs.predictions, pairs.labels), rel=1e-15)
    assert r2 == pytest.approx(-3.2088, abs=1e-4)
    assert metrics.r2_score(pairs.labels, pairs.predictions) == pytest.approx(-0.3351, abs=1e-4)  # evaluation.json's


def test_regression_values_are_sklearn_on_abalone():
    pairs = abalone_regression()
    block = model_quality_statistics(pairs, "regression")["regression_metrics"]
    exact = pytest.approx  # our sums run in record order (Spark's), scikit-learn's pairwise: equal up to rounding
    assert block["mae"]["value"] == exact(metrics.mean_absolute_error(pairs.labels, pairs.predictions), rel=1e-12)
    assert block["mse"]["value"] == exact(metrics.mean_squared_error(pairs.labels, pairs.predictions), rel=1e-12)
    assert block["rmse"]["value"] == exact(metrics.root_mean_squared_error(pairs.labels, pairs.predictions), rel=1e-12)
    assert block["r2"]["value"] == exact(metrics.r2_score(pairs.predictions, pairs.labels), rel=1e-12)


def test_standard_deviations_need_200_records_and_come_from_five_80_percent_subsamples():
    pairs = abalone_regression()
    few = LabelledPredictions(pairs.keys[:199], pairs.labels[:199], pairs.predictions[:199])
    enough = LabelledPredictions(pairs.keys[:200], pairs.labels[:200], pairs.predictions[:200])
    assert {
        m["standard_deviation"] for m in model_quality_statistics(few, "regression")["regression_metrics"].values()
    } == {"NaN"}
    block = model_quality_statistics(enough, "regression")["regression_metrics"]
    masks = subsample_masks(enough.keys)
    assert len(masks) == 5 and all(mask.sum() == 160 for mask in masks)
    maes = [metrics.mean_absolute_error(enough.labels[m], enough.predictions[m]) for m in masks]
    assert block["mae"]["standard_deviation"] == pytest.approx(np.std(maes, ddof=1), rel=1e-12)
    assert 0 < block["mae"]["standard_deviation"] < block["mae"]["value"]


def test_standard_deviations_do_not_depend_on_record_order():
    for pairs, problem in ((abalone_regression(), "regression"), (abalone_binary(), "binary")):
        section = "regression_metrics" if problem == "regression" else "binary_classification_metrics"
        first = model_quality_statistics(pairs, problem)[section]
        again = model_quality_statistics(shuffled(pairs), problem)[section]
        deviations = {k: v["standard_deviation"] for k, v in first.items() if "standard_deviation" in v}
        assert deviations == {k: v["standard_deviation"] for k, v in again.items() if "standard_deviation" in v}
        assert all(isinstance(d, float) for d in deviations.values())
        for name, entry in first.items():
            if "value" in entry:  # regression sums in record order: equal up to rounding
                assert again[name]["value"] == pytest.approx(entry["value"], rel=1e-12)
        if problem == "binary":  # counts and rankings: exactly equal, curves and matrix included
            assert first == again


def test_binary_metrics_equal_sklearn_on_abalone():
    pairs = abalone_binary()
    y, yhat, p = pairs.labels, pairs.predictions, pairs.probabilities
    block = no_warnings(model_quality_statistics, pairs, "binary")["binary_classification_metrics"]
    value = {name: entry["value"] for name, entry in block.items() if isinstance(entry, dict) and "value" in entry}
    tn, fp, fn, tp = metrics.confusion_matrix(y, yhat).ravel()
    assert block["confusion_matrix"] == {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
    ones = np.ones_like(y)
    expected = {
        "accuracy": metrics.accuracy_score(y, yhat),
        "precision": metrics.precision_score(y, yhat),
        "recall": metrics.recall_score(y, yhat),
        "f0_5": metrics.fbeta_score(y, yhat, beta=0.5),
        "f1": metrics.f1_score(y, yhat),
        "f2": metrics.fbeta_score(y, yhat, beta=2),
        "true_positive_rate": metrics.recall_score(y, yhat),
        "true_negative_rate": metrics.recall_score(y, yhat, pos_label=0),
        "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (fn + tp),
        "auc": metrics.roc_auc_score(y, p),
        "au_prc": metrics.average_precision_score(y, p),
        "accuracy_best_constant_classifier": metrics.accuracy_score(y, ones),
        "precision_best_constant_classifier": metrics.precision_score(y, ones),
        "recall_best_constant_classifier": metrics.recall_score(y, ones),
        "f0_5_best_constant_classifier": metrics.fbeta_score(y, ones, beta=0.5),
        "f1_best_constant_classifier": metrics.f1_score(y, ones),
        "f2_best_constant_classifier": metrics.fbeta_score(y, ones, beta=2),
    }
    assert value.keys() == expected.keys()
    for name, figure in expected.items():
        assert value[name] == pytest.approx(figure, rel=1e-12, abs=1e-15), name
    assert 0.8 < value["auc"] < 1 and value["accuracy_best_constant_classifier"] == y.mean()


def test_binary_curves_are_sklearn_curves_downsampled_to_at_most_k_points():
    pairs = abalone_binary()
    block = model_quality_statistics(pairs, "binary")["binary_classification_metrics"]
    roc = block["receiver_operating_characteristic_curve"]
    fpr, tpr, _ = metrics.roc_curve(pairs.labels, pairs.probabilities)
    assert len(fpr) > MAX_CURVE_POINTS >= len(roc["false_positive_rates"]) == len(roc["true_positive_rates"])
    sklearn_points = set(zip(fpr.tolist(), tpr.tolist(), strict=True))
    ours = list(zip(roc["false_positive_rates"], roc["true_positive_rates"], strict=True))
    assert set(ours) <= sklearn_points and ours[0] == (0.0, 0.0) and ours[-1] == (1.0, 1.0)
    pr = block["precision_recall_curve"]
    precisions, recalls, _ = metrics.precision_recall_curve(pairs.labels, pairs.probabilities)
    points = list(zip(pr["recalls"], pr["precisions"], strict=True))
    assert len(points) <= MAX_CURVE_POINTS and set(points) <= set(
        zip(recalls.tolist(), precisions.tolist(), strict=True)
    )
    assert pr["recalls"] == sorted(pr["recalls"]) and points[0] == (0.0, 1.0) and points[-1][0] == 1.0


def test_binary_statistics_have_the_reference_shape_plus_au_prc():
    reference = json.loads((SHAPES / "binary_classification_statistics.json").read_text())[
        "binary_classification_metrics"
    ]
    ours = model_quality_statistics(
        abalone_binary(), "BinaryClassification", evaluation_time="2026-11-30T10:00:00.000Z"
    )
    assert ours["dataset"] == {"item_count": 4177, "evaluation_time": "2026-11-30T10:00:00.000Z"}
    block = ours["binary_classification_metrics"]
    assert set(block) == set(reference) | {"au_prc"}
    for name, entry in reference.items():
        assert set(block[name]) == set(entry), name


def test_best_constant_classifier_reproduces_the_reference_figures():
    """The reference confusion matrix (tn 1, fp 2, fn 0, tp 1): its best-constant figures are those of predicting
    the positive class for every record."""
    reference = json.loads((SHAPES / "binary_classification_statistics.json").read_text())[
        "binary_classification_metrics"
    ]
    pairs = LabelledPredictions(
        np.array(["a", "b", "c", "d"], dtype=object), np.array([0.0, 0, 0, 1]), np.array([0.0, 1, 1, 1])
    )
    block = no_warnings(model_quality_statistics, pairs, "binary")["binary_classification_metrics"]
    assert block["confusion_matrix"] == reference["confusion_matrix"]
    for name in (
        "accuracy", "precision", "recall", "f0_5", "f1", "f2", "true_positive_rate", "true_negative_rate",
        "false_positive_rate", "false_negative_rate", "accuracy_best_constant_classifier",
        "precision_best_constant_classifier", "recall_best_constant_classifier", "f0_5_best_constant_classifier",
        "f1_best_constant_classifier", "f2_best_constant_classifier",
    ):  # fmt: skip
        assert block[name]["value"] == pytest.approx(reference[name]["value"], abs=1e-13), name
        assert block[name]["standard_deviation"] == "NaN"


@pytest.mark.parametrize(
    ("labels", "predictions", "undefined"),
    [
        ([0] * 250, [0] * 250, {"auc", "au_prc"}),  # one class only, no positive prediction
        ([1] * 250, [1] * 250, {"auc"}),  # positives only
        ([0, 1] * 125, [0] * 250, set()),  # no positive predictions
        ([0] * 249 + [1], [1] * 250, set()),  # one positive: most subsamples have none
    ],
)
def test_degenerate_binary_inputs_give_defined_values_without_warnings(labels, predictions, undefined):
    keys = np.array([f"r{i}" for i in range(250)], dtype=object)
    pairs = LabelledPredictions(keys, np.array(labels, float), np.array(predictions, float))
    block = no_warnings(model_quality_statistics, pairs, "binary")["binary_classification_metrics"]
    values = {name: entry["value"] for name, entry in block.items() if isinstance(entry, dict) and "value" in entry}
    assert {name for name, v in values.items() if v == "NaN"} == undefined
    assert all(isinstance(v, float) and np.isfinite(v) for n, v in values.items() if n not in undefined)
    if not any(predictions):
        assert values["precision"] == values["f1"] == values["false_positive_rate"] == 0.0
    if "auc" in undefined:
        assert block["receiver_operating_characteristic_curve"] == {
            "false_positive_rates": [],
            "true_positive_rates": [],
        }
    json.dumps(block, allow_nan=False)  # "NaN" strings, never a bare NaN


def test_one_record_gives_defined_regression_values():
    pairs = LabelledPredictions(np.array(["only"], dtype=object), np.array([3.0]), np.array([2.5]))
    block = no_warnings(model_quality_statistics, pairs, "regression")["regression_metrics"]
    assert block["mae"]["value"] == 0.5 and block["r2"]["value"] == "NaN"


@pytest.mark.parametrize(
    ("labels", "predictions", "probabilities", "problem", "message"),
    [
        ([0.0, 2.0], [0.0, 1.0], None, "binary", "label of record k1 must be 0 or 1, got 2.0"),
        ([0.0, 1.0], [0.0, 1.0], [0.2, 1.5], "binary", "probability of record k1 must be a probability in [0, 1]"),
        ([1.0, np.nan], [1.0, 2.0], None, "regression", "label of record k1 must be a finite number"),
        ([1.0, 2.0], [1.0, 2.0], None, "multiclass", "problem type must be regression or binary"),
    ],
)
def test_bad_pairs_are_named(labels, predictions, probabilities, problem, message):
    pairs = LabelledPredictions(
        np.array(["k0", "k1"], dtype=object),
        np.array(labels),
        np.array(predictions),
        None if probabilities is None else np.array(probabilities),
    )
    with pytest.raises(ModelQualityError, match=message.replace("[", r"\[").replace("]", r"\]")):
        model_quality_statistics(pairs, problem)


def test_no_pairs_is_an_error_not_a_nan():
    empty = LabelledPredictions(np.array([], dtype=object), np.array([]), np.array([]))
    with pytest.raises(ModelQualityError, match="at least one labelled prediction"):
        model_quality_statistics(empty, "regression")
