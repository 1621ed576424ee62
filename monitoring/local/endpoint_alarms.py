"""The alarms of an endpoint, as the local loop creates them and the CloudFormation template declares them.

Two families, each a composite alarm (the one that alerts and retrains) over one metric alarm per part:

- data quality (``feature_drift_alarms``): ``feature_baseline_drift_<f>`` in ``aws/sagemaker/Endpoints/data-metrics``
  against each feature's drift threshold, under ``<prefix>-drift``;
- model quality (``model_quality_alarms``): Model Monitor's model metrics (``rmse``, ``auc`` ...) in
  ``aws/sagemaker/Endpoints/model-metrics`` against the threshold and operator of the live version's
  model-quality constraints, under ``<prefix>-model-quality``.

Names come from ``alarm_names``; the metrics' dimensions are ``Endpoint`` and ``MonitoringSchedule``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict

from monitoring.local.alarm_names import (
    drift_alarm_name,
    feature_alarm_name,
    metric_alarm_name,
    model_quality_alarm_name,
    name_prefix,
)
from monitoring.local.composite_alarm import CompositeAlarm
from monitoring.local.errors import AlarmError
from monitoring.local.metric_alarm import COMPARISONS, MetricAlarm
from monitoring.metrics import NAMESPACE

if TYPE_CHECKING:
    from typing_extensions import Unpack

MODEL_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
CONSTRAINT_SECTIONS = ("regression_constraints", "binary_classification_constraints")


class AlarmTiming(TypedDict, total=False):
    """How the metric alarms of a family evaluate (PutMetricAlarm's fields); defaults in TIMING_DEFAULTS."""

    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str


TIMING_DEFAULTS: AlarmTiming = {
    "period": 3600,
    "evaluation_periods": 1,
    "datapoints_to_alarm": 1,
    "treat_missing_data": "ignore",
}


def _family(
    composite_name: str,
    parts: list[tuple[str, str, float, str, str]],
    endpoint: str,
    schedule: str,
    namespace: str,
    timing: AlarmTiming,
) -> tuple[list[MetricAlarm], CompositeAlarm]:
    """One metric alarm per part ``(name, metric, threshold, comparison, statistic)`` on the metric's
    ``Endpoint`` / ``MonitoringSchedule`` dimensions, and the composite ``ALARM(a1) OR ALARM(a2) ...`` over them."""
    dims = {"Endpoint": endpoint, "MonitoringSchedule": schedule}
    settings: AlarmTiming = {**TIMING_DEFAULTS, **timing}
    alarms = [
        MetricAlarm(
            name=name,
            metric_name=metric,
            threshold=threshold,
            comparison_operator=comparison,
            dimensions=dims,
            namespace=namespace,
            statistic=statistic,
            **settings,
        )
        for name, metric, threshold, comparison, statistic in parts
    ]
    rule = " OR ".join(f'ALARM("{a.name}")' for a in alarms)
    return alarms, CompositeAlarm(composite_name, rule)


def feature_drift_alarms(
    thresholds: Mapping[str, float], endpoint: str, schedule: str, **timing: Unpack[AlarmTiming]
) -> tuple[list[MetricAlarm], CompositeAlarm]:
    """One alarm per feature on ``feature_baseline_drift_<f>`` (Maximum > the feature's drift threshold) and the
    composite ``ALARM(f1) OR ALARM(f2) ...`` over them: the one alarm that alerts and retrains. The names are
    CloudWatch's (``alarm_names``: ``<prefix>-drift-<part>`` and ``<prefix>-drift``), so one endpoint has one
    drift alarm whatever the schedule; the schedule is the metrics' ``MonitoringSchedule`` dimension."""
    if not thresholds:
        raise AlarmError("feature_drift_alarms: no features given (expected {feature: drift threshold})")
    prefix = name_prefix(endpoint)
    parts = [
        (
            feature_alarm_name(prefix, feature),
            f"feature_baseline_drift_{feature}",
            float(threshold),
            "GreaterThanThreshold",
            "Maximum",
        )
        for feature, threshold in thresholds.items()
    ]
    return _family(drift_alarm_name(prefix), parts, endpoint, schedule, NAMESPACE, timing)


def constraint_thresholds(constraints: Mapping) -> dict[str, tuple[float, str]]:
    """``{metric: (threshold, comparison_operator)}`` of a model-quality constraints.json document."""
    sections = [key for key in CONSTRAINT_SECTIONS if isinstance(constraints.get(key), Mapping)]
    if not sections:
        raise AlarmError(
            f"model-quality constraints: expected a {' or '.join(CONSTRAINT_SECTIONS)} section, "
            f"got keys {sorted(constraints)}"
        )
    found: dict[str, tuple[float, str]] = {}
    for metric, rule in constraints[sections[0]].items():
        where = f"model-quality constraints {sections[0]}.{metric}"
        if not isinstance(rule, Mapping) or rule.get("comparison_operator") not in COMPARISONS:
            raise AlarmError(f"{where}: needs a threshold and a comparison_operator in {', '.join(COMPARISONS)}")
        try:
            found[metric] = (float(rule["threshold"]), str(rule["comparison_operator"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AlarmError(f"{where}: threshold must be a number, got {rule.get('threshold')!r}") from exc
    return found


_REGRESSION_METRICS = frozenset({"mae", "mse", "rmse", "r2"})


def _other_problem_type(constraints: Mapping, missing: Sequence[str]) -> str:
    """`` (...)`` saying that the constraints are of the other problem type than the metrics missing from them (a
    regression endpoint given a binary model's baseline, or the reverse), else empty."""
    regression = bool(missing) and all(m in _REGRESSION_METRICS for m in missing)
    binary = bool(missing) and not any(m in _REGRESSION_METRICS for m in missing)
    if regression and "binary_classification_constraints" in constraints:
        return " (they are binary-classification constraints; the alarmed metrics are regression ones)"
    if binary and "regression_constraints" in constraints:
        return " (they are regression constraints; the alarmed metrics are binary-classification ones)"
    return ""


def model_quality_alarms(
    constraints: Mapping, metrics: Sequence[str], endpoint: str, schedule: str, **timing: Unpack[AlarmTiming]
) -> tuple[list[MetricAlarm], CompositeAlarm]:
    """One alarm per alarmed metric with the constraint's threshold and operator, and the composite
    ``ALARM(m1) OR ALARM(m2) ...`` over them. An alarm reads the worst value of its period (Maximum for an error
    that must stay below its threshold, Minimum for a score), so two checks in one hour cannot hide a bad one."""
    thresholds = constraint_thresholds(constraints)
    missing = [m for m in metrics if m not in thresholds]
    if missing or not metrics:
        other = _other_problem_type(constraints, missing)
        raise AlarmError(
            f"model-quality alarms: alarmed metric(s) {missing or list(metrics)} have no constraint; the live "
            f"version's constraints have {', '.join(sorted(thresholds)) or 'none'}{other} "
            "(monitoring.model_quality.alarmed_metrics)"
        )
    prefix = name_prefix(endpoint)
    parts = []
    for metric in dict.fromkeys(metrics):
        threshold, comparison = thresholds[metric]
        statistic = "Maximum" if comparison.startswith("Greater") else "Minimum"
        parts.append((metric_alarm_name(prefix, metric), metric, threshold, comparison, statistic))
    return _family(model_quality_alarm_name(prefix), parts, endpoint, schedule, MODEL_METRICS_NAMESPACE, timing)
