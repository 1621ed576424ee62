"""Model-quality constraints and violations in Model Monitor's formats (standard library and mlops_errors only).

constraints.json: ``{"version": 0.0, "regression_constraints" | "binary_classification_constraints": {metric:
{"threshold": t, "comparison_operator": op}}}``, one entry per metric; errors (mae, mse, rmse, false positive and
false negative rates) get ``GreaterThanThreshold``, scores (r2, accuracy, precision, recall, F scores, auc, au_prc,
true positive and true negative rates) ``LessThanThreshold``. The best-constant-classifier figures describe the data,
not the model, and get no constraint.

Suggested threshold = the baseline value worsened by ``margin``, relative to its size: errors ``v + margin * |v|``,
scores ``v - margin * |v|``; so a negative score such as Model Monitor's r2 of -3.2088 with margin 0.1 gives -3.5297
(lower, i.e. worse), never a threshold better than the baseline. Margin 0 suggests the baseline value itself, as
Model Monitor does (good_cases_constraints.json), which makes every slightly worse hour a violation.

constraint_violations.json: ``{"violations": [{"metric_name": m, "constraint_check_type": op, "description":
"Metric m with v was op t"}]}``, the shape and wording of Model Monitor's model-quality violations (as AWS's
Model-Monitor-compatible custom-metrics container writes them). A metric that is "NaN" (undefined, e.g. auc with one
class) or missing in the statistics is not judged.
"""

from __future__ import annotations

import math
from typing import Any

from mlops_errors import MlopsError

CONSTRAINT_SECTIONS = {
    "regression_metrics": "regression_constraints",
    "binary_classification_metrics": "binary_classification_constraints",
}
GREATER = "GreaterThanThreshold"
LESS = "LessThanThreshold"
OPERATORS = {
    GREATER: lambda value, threshold: value > threshold,
    LESS: lambda value, threshold: value < threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
ERRORS = ("mae", "mse", "rmse", "false_positive_rate", "false_negative_rate")
# the constrained (and alarmable) metrics of each problem type, in the project's spelling
CONSTRAINED = {
    "regression": ("mae", "mse", "rmse", "r2"),
    "binary": (
        "accuracy",
        "precision",
        "recall",
        "f0_5",
        "f1",
        "f2",
        "auc",
        "au_prc",
        "true_positive_rate",
        "true_negative_rate",
        "false_positive_rate",
        "false_negative_rate",
    ),
}


class ConstraintsError(MlopsError, ValueError):
    """A model-quality statistics or constraints document that is not in Model Monitor's format."""


def operator_for(metric: str) -> str:
    """``GreaterThanThreshold`` for an error metric, ``LessThanThreshold`` for a score."""
    return GREATER if metric in ERRORS else LESS


def _section(document: dict, sections: tuple[str, ...], what: str) -> tuple[str, dict]:
    found = [key for key in sections if isinstance(document, dict) and key in document]
    if len(found) != 1 or not isinstance(document[found[0]], dict):
        keys = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ConstraintsError(f"model-quality {what} must hold one of {', '.join(sections)}, got {keys}")
    return found[0], document[found[0]]


def metric_values(statistics: dict) -> dict[str, float]:
    """The finite scalar metric values of a statistics document (``{"metric": {"value": v}}`` entries)."""
    _, block = _section(statistics, tuple(CONSTRAINT_SECTIONS), "statistics")
    values = {}
    for name, entry in block.items():
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            values[name] = float(value)
    return values


def suggest_model_quality_constraints(statistics: dict, *, margin: float = 0.0) -> dict:
    """constraints.json content: one threshold and comparison operator per constrained metric of the statistics."""
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise ConstraintsError(f"constraint margin must be a number >= 0, got {margin!r}")
    section, _ = _section(statistics, tuple(CONSTRAINT_SECTIONS), "statistics")
    problem = "regression" if section == "regression_metrics" else "binary"
    values = metric_values(statistics)
    constraints = {}
    for name in CONSTRAINED[problem]:
        if name not in values:
            continue  # undefined on the baseline ("NaN"): nothing to compare with
        value, operator = values[name], operator_for(name)
        shift = margin * abs(value)
        threshold = value + shift if operator == GREATER else value - shift
        constraints[name] = {"threshold": threshold, "comparison_operator": operator}
    return {"version": 0.0, CONSTRAINT_SECTIONS[section]: constraints}


def _threshold(metric: str, rule: Any) -> tuple[float, str]:
    if not isinstance(rule, dict):
        raise ConstraintsError(f"constraint of {metric} must be an object with threshold and comparison_operator")
    threshold, operator = rule.get("threshold"), rule.get("comparison_operator")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
        raise ConstraintsError(f"threshold of {metric} must be a finite number, got {threshold!r}")
    if operator not in OPERATORS:
        raise ConstraintsError(
            f"comparison_operator of {metric} must be one of {', '.join(OPERATORS)}, got {operator!r}"
        )
    return float(threshold), str(operator)


def model_quality_violations(statistics: dict, constraints: dict) -> list[dict]:
    """The violations of ``constraints`` by ``statistics``, in constraint_violations.json's shape."""
    section, _ = _section(statistics, tuple(CONSTRAINT_SECTIONS), "statistics")
    wanted = CONSTRAINT_SECTIONS[section]
    found, rules = _section(constraints, tuple(CONSTRAINT_SECTIONS.values()), "constraints")
    if found != wanted:
        raise ConstraintsError(f"the statistics hold {section} but the constraints hold {found}, not {wanted}")
    values = metric_values(statistics)
    violations = []
    for metric, rule in rules.items():
        threshold, operator = _threshold(metric, rule)
        if metric in values and OPERATORS[operator](values[metric], threshold):
            violations.append(
                {
                    "metric_name": metric,
                    "constraint_check_type": operator,
                    "description": f"Metric {metric} with {values[metric]!r} was {operator} {threshold!r}",
                }
            )
    return violations
