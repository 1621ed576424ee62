"""The subsamples' binary figures equal scikit-learn's (``binary_values``) to the last bit, ties and degenerate
data included, so the standard deviations are those of scikit-learn's figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics

from monitoring.binary_subsample_figures import sorted_curves, subsample_values
from monitoring.model_quality import binary_values


def _sorted(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5):
    order = np.argsort(scores, kind="stable")
    labels, scores = labels[order].astype(int), scores[order]
    return labels, (scores >= threshold).astype(int), scores


def _assert_same_curves(labels, scores) -> None:
    roc, pr = sorted_curves(labels, scores)
    positives = int(labels.sum())
    if 0 < positives < len(labels):
        fpr, tpr, _ = metrics.roc_curve(labels, scores, drop_intermediate=True)
        assert roc is not None and np.array_equal(roc[0], fpr) and np.array_equal(roc[1], tpr)
    else:
        assert roc is None
    if positives:
        precision, recall, _ = metrics.precision_recall_curve(labels, scores)
        assert pr is not None and np.array_equal(pr[0], precision) and np.array_equal(pr[1], recall)
    else:
        assert pr is None


def _assert_same(labels, predictions, scores) -> None:
    _assert_same_curves(labels, scores)
    ours = subsample_values(labels, predictions, scores)
    theirs = binary_values(labels, predictions, scores)
    assert list(ours) == list(theirs)
    for name, value in theirs.items():
        assert (math.isnan(ours[name]) and math.isnan(value)) or ours[name] == value, name


@pytest.mark.parametrize("seed", range(4))
def test_random_scores_with_ties_give_sklearns_figures_exactly(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(200, 3000))
    scores = np.round(rng.beta(2, 2, size), int(rng.integers(1, 4)))  # 1 to 3 decimals: many ties
    labels = (rng.random(size) < scores).astype(int)
    _assert_same(*_sorted(labels, scores, threshold=float(rng.choice([0.3, 0.5, 0.7]))))


@pytest.mark.parametrize(
    "labels, scores",
    [
        ([0, 0, 0, 0], [0.1, 0.2, 0.6, 0.9]),  # no positive: auc and au_prc undefined
        ([1, 1, 1, 1], [0.1, 0.2, 0.6, 0.9]),  # no negative: auc undefined
        ([0, 1, 0, 1], [0.2, 0.2, 0.2, 0.2]),  # one score for all
        ([0, 1, 1, 0, 1], [0.1, 0.3, 0.3, 0.4, 0.4]),  # nothing predicted positive
        ([1, 0], [0.9, 0.95]),  # two records: no intermediate point to drop
        ([1], [0.7]),  # one record
    ],
)
def test_degenerate_data_gives_sklearns_figures(labels, scores):
    _assert_same(*_sorted(np.array(labels), np.array(scores, dtype=float)))
