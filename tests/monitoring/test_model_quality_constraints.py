"""Model-quality constraints (the reference good_cases_constraints.json reproduced with margin 0) and violations in
Model Monitor's constraint_violations.json shape."""

from __future__ import annotations

import copy
import json
import re

import pytest

from monitoring.model_quality import model_quality_statistics
from monitoring.model_quality_constraints import (
    CONSTRAINED,
    ConstraintsError,
    metric_values,
    model_quality_violations,
    suggest_model_quality_constraints,
)
from tests.monitoring.test_model_quality import REGRESSION, abalone_binary

REFERENCE_STATISTICS = json.loads((REGRESSION / "statistics.json").read_text())
REFERENCE_CONSTRAINTS = json.loads((REGRESSION / "good_cases_constraints.json").read_text())


def test_margin_zero_reproduces_the_reference_constraints_exactly():
    assert suggest_model_quality_constraints(REFERENCE_STATISTICS) == REFERENCE_CONSTRAINTS


def test_margin_worsens_errors_up_and_scores_down_negative_r2_included():
    suggested = suggest_model_quality_constraints(REFERENCE_STATISTICS, margin=0.1)["regression_constraints"]
    values = metric_values(REFERENCE_STATISTICS)
    for error in ("mae", "mse", "rmse"):
        assert suggested[error] == {
            "threshold": pytest.approx(values[error] * 1.1, rel=1e-15),
            "comparison_operator": "GreaterThanThreshold",
        }
    assert suggested["r2"]["comparison_operator"] == "LessThanThreshold"
    assert suggested["r2"]["threshold"] == pytest.approx(-3.208758170289026 * 1.1, rel=1e-15)  # lower = worse


def test_binary_constraints_cover_the_model_metrics_not_the_best_constant_ones():
    statistics = model_quality_statistics(abalone_binary(), "binary")
    constraints = suggest_model_quality_constraints(statistics, margin=0.05)["binary_classification_constraints"]
    assert list(constraints) == list(CONSTRAINED["binary"])
    values = metric_values(statistics)
    assert constraints["auc"] == {"threshold": values["auc"] * 0.95, "comparison_operator": "LessThanThreshold"}
    assert constraints["false_positive_rate"]["comparison_operator"] == "GreaterThanThreshold"
    assert constraints["false_positive_rate"]["threshold"] == values["false_positive_rate"] * 1.05
    assert (
        model_quality_violations(statistics, {"version": 0.0, "binary_classification_constraints": constraints}) == []
    )


def test_a_worse_metric_is_a_violation_in_model_monitors_shape_and_wording():
    worse = copy.deepcopy(REFERENCE_STATISTICS)
    worse["regression_metrics"]["rmse"]["value"] = 0.6
    worse["regression_metrics"]["r2"]["value"] = -4.0
    assert model_quality_violations(worse, REFERENCE_CONSTRAINTS) == [
        {
            "metric_name": "rmse",
            "constraint_check_type": "GreaterThanThreshold",
            "description": "Metric rmse with 0.6 was GreaterThanThreshold 0.5776238707827177",
        },
        {
            "metric_name": "r2",
            "constraint_check_type": "LessThanThreshold",
            "description": "Metric r2 with -4.0 was LessThanThreshold -3.208758170289026",
        },
    ]


def test_the_baseline_itself_and_undefined_metrics_are_no_violation():
    assert model_quality_violations(REFERENCE_STATISTICS, REFERENCE_CONSTRAINTS) == []
    undefined = copy.deepcopy(REFERENCE_STATISTICS)
    undefined["regression_metrics"]["r2"]["value"] = "NaN"
    del undefined["regression_metrics"]["mae"]
    assert model_quality_violations(undefined, REFERENCE_CONSTRAINTS) == []


def test_or_equal_operators_are_honoured():
    constraints = {
        "regression_constraints": {
            "mae": {"threshold": 0.5040653554420981, "comparison_operator": "GreaterThanOrEqualToThreshold"}
        }
    }
    [violation] = model_quality_violations(REFERENCE_STATISTICS, constraints)
    assert violation["constraint_check_type"] == "GreaterThanOrEqualToThreshold"


MAE = "mae"
BAD_CONSTRAINTS = [
    ({"binary_classification_constraints": {}}, "the statistics hold regression_metrics but the constraints"),
    (
        {"regression_constraints": {MAE: {"threshold": "high", "comparison_operator": "LessThanThreshold"}}},
        "threshold of mae must be a finite number, got 'high'",
    ),
    (
        {"regression_constraints": {MAE: {"threshold": 1, "comparison_operator": "Above"}}},
        "comparison_operator of mae must be one of",
    ),
    ({"features": []}, "must hold one of regression_constraints, binary_classification_constraints, got"),
]


@pytest.mark.parametrize(("constraints", "message"), BAD_CONSTRAINTS)
def test_bad_constraints_are_named(constraints, message):
    with pytest.raises(ConstraintsError, match=message):
        model_quality_violations(REFERENCE_STATISTICS, constraints)


def test_a_negative_margin_is_refused():
    with pytest.raises(ConstraintsError, match=re.escape("margin must be a number >= 0, got -0.1")):
        suggest_model_quality_constraints(REFERENCE_STATISTICS, margin=-0.1)
