"""monitoring.model_quality.alarmed_metrics: only metrics a model-quality baseline of the problem type constrains."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, parse_config
from tests.pipelines.test_config import raw

BINARY = {
    "data__problem_type": "binary",
    "data__positive_class": "1",
    "training__objective": "binary:logistic",
    "training__eval_metric": "auc",
    "gate__metric": "auc",
}


def test_metrics_of_the_problem_type_are_accepted_and_the_default_is_the_gate_metric():
    regression = parse_config(raw(monitoring__model_quality__alarmed_metrics=["rmse", "r2"]), "mlops.yaml")
    assert regression.model_quality_alarmed_metrics == ("rmse", "r2")
    assert parse_config(raw(), "mlops.yaml").model_quality_alarmed_metrics == ("rmse",)
    binary = parse_config(raw(**BINARY, monitoring__model_quality__alarmed_metrics=["au_prc", "f2"]), "mlops.yaml")
    assert binary.model_quality_alarmed_metrics == ("au_prc", "f2")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"monitoring__model_quality__alarmed_metrics": ["rmse", "auc"]},
            "monitoring.model_quality.alarmed_metrics.1: must be a model-quality metric of regression "
            "(mae, mse, rmse, r2), got 'auc'",
        ),
        (
            {**BINARY, "monitoring__model_quality__alarmed_metrics": ["accuracy_best_constant_classifier"]},
            "monitoring.model_quality.alarmed_metrics.0: must be a model-quality metric of binary (accuracy, "
            "precision, recall, f0_5, f1, f2, auc, au_prc, true_positive_rate, true_negative_rate, "
            "false_positive_rate, false_negative_rate), got 'accuracy_best_constant_classifier'",
        ),
    ],
)
def test_other_metrics_are_named_with_what_is_expected(changes, message):
    with pytest.raises(ConfigError) as info:
        parse_config(raw(**changes), "mlops.yaml")
    assert message in str(info.value)
