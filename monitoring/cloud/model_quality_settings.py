"""Settings of the scheduled model-quality check (processing engine): the function's environment, Model Monitor's
time offsets, the model-quality metrics an alarm can watch, and the live version's constraints for them.

Standard library only (the Lambda zip). The job-side settings every check shares (image, role, instances, network,
KMS, capture, reports, live pointer) are ``check_settings.CheckSettings``, read from the same variable names.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from monitoring.cloud.check_settings import CheckSettings
from monitoring.cloud.s3util import split_s3_uri

# Where the check function publishes the live version's thresholds; the alarms compare each metric with them
THRESHOLDS_NAMESPACE = "mlops/ModelQualityThresholds"
GREATER, LESS = "GreaterThanThreshold", "LessThanThreshold"
# Model Monitor's model-quality CloudWatch metrics and the comparison that makes each one a violation (errors and
# false rates worsen upwards, scores downwards), as in the constraints Model Monitor suggests
REGRESSION_METRICS = {"mae": GREATER, "mse": GREATER, "rmse": GREATER, "r2": LESS}
BINARY_METRICS = {
    **{name: LESS for name in ("accuracy", "precision", "recall", "f0_5", "f1", "f2", "auc", "au_prc")},
    **{name: LESS for name in ("true_positive_rate", "true_negative_rate")},
    **{name: GREATER for name in ("false_positive_rate", "false_negative_rate")},
}
PROBLEM_TYPES = {  # Model Monitor's problem type -> (its constraints section, its metrics)
    "Regression": ("regression_constraints", REGRESSION_METRICS),
    "BinaryClassification": ("binary_classification_constraints", BINARY_METRICS),
}
_OFFSET = re.compile(r"^-P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def alarm_operator(metric: str) -> str:
    """The comparison under which ``metric`` violates its threshold; ValueError for a metric Model Monitor does not
    publish."""
    for _, metrics in PROBLEM_TYPES.values():
        if metric in metrics:
            return metrics[metric]
    known = sorted({*REGRESSION_METRICS, *BINARY_METRICS})
    raise ValueError(f"model-quality metric {metric!r} is not one Model Monitor publishes; expected one of {known}")


def parse_offset(text: str, what: str) -> timedelta:
    """Model Monitor's negative ISO 8601 offset (``-P1D``, ``-PT1H``, ``-P1DT12H``, ``-PT30M``) as a timedelta."""
    match = _OFFSET.match(text or "")
    if not match or text in ("-P", "-PT") or text.endswith("T"):
        raise ValueError(f"{what} must be a negative ISO 8601 duration such as -P1D or -PT1H, got {text!r}")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return -timedelta(days=days, hours=hours, minutes=minutes)


@dataclass(frozen=True)
class ModelQualitySettings:
    """The model-quality check function's environment (set by the stack's parameters)."""

    job: CheckSettings  # JOB_NAME_PREFIX, MONITORING_SCHEDULE_NAME ... as the data-quality check reads them
    ground_truth_uri: str  # <ground truth>, holding yyyy/mm/dd/hh/ folders
    manifests_uri: str  # where each check's input manifests are written
    problem_type: str  # Regression | BinaryClassification
    start_offset: str
    end_offset: str
    min_pairs: int
    inference_attribute: str = ""
    probability_attribute: str = ""
    probability_threshold: str = "0.5"
    alarmed_metrics: tuple[str, ...] = ()

    @property
    def window_offsets(self) -> tuple[timedelta, timedelta]:
        return (
            parse_offset(self.start_offset, "START_TIME_OFFSET"),
            parse_offset(self.end_offset, "END_TIME_OFFSET"),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ModelQualitySettings:
        """Read and check the environment; ValueError naming the variable and what it must be."""
        job = CheckSettings.from_env(env)
        value = {name: env.get(name, "").strip() for name in env}
        problem_type = value.get("PROBLEM_TYPE", "")
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"environment variable PROBLEM_TYPE must be one of {sorted(PROBLEM_TYPES)}, got {problem_type!r}"
            )
        min_pairs = value.get("MIN_PAIRS", "")
        if not min_pairs.isdigit() or int(min_pairs) < 1:
            raise ValueError(f"environment variable MIN_PAIRS must be a positive integer, got {min_pairs!r}")
        threshold = value.get("PROBABILITY_THRESHOLD") or "0.5"
        try:
            valid_threshold = 0 < float(threshold) < 1
        except ValueError:
            valid_threshold = False
        if not valid_threshold:
            raise ValueError(f"environment variable PROBABILITY_THRESHOLD must be between 0 and 1, got {threshold!r}")
        metrics = tuple(m.strip() for m in value.get("ALARMED_METRICS", "").split(",") if m.strip())
        section_metrics = PROBLEM_TYPES[problem_type][1]
        foreign = [m for m in metrics if m not in section_metrics]
        if foreign:
            raise ValueError(
                f"environment variable ALARMED_METRICS: {foreign} are not {problem_type} metrics; expected some of "
                f"{sorted(section_metrics)}"
            )
        settings = cls(
            job=job,
            ground_truth_uri=value.get("GROUND_TRUTH_S3_URI", "").rstrip("/"),
            manifests_uri=value.get("MANIFESTS_S3_URI", "").rstrip("/"),
            problem_type=problem_type,
            start_offset=value.get("START_TIME_OFFSET", ""),
            end_offset=value.get("END_TIME_OFFSET", ""),
            min_pairs=int(min_pairs),
            inference_attribute=value.get("INFERENCE_ATTRIBUTE", ""),
            probability_attribute=value.get("PROBABILITY_ATTRIBUTE", ""),
            probability_threshold=threshold,
            alarmed_metrics=metrics,
        )
        split_s3_uri(settings.ground_truth_uri, "GROUND_TRUTH_S3_URI")
        split_s3_uri(settings.manifests_uri, "MANIFESTS_S3_URI")
        if not job.live_pointer_uri:
            raise ValueError("environment variable LIVE_POINTER_URI is not set: it names the live model version")
        start, end = settings.window_offsets
        if end <= start:
            raise ValueError(
                f"END_TIME_OFFSET ({settings.end_offset}) must be later than "
                f"START_TIME_OFFSET ({settings.start_offset})"
            )
        return settings


@dataclass(frozen=True)
class Threshold:
    """One alarmed metric's constraint in the live version's constraints.json."""

    metric: str
    threshold: float
    comparison_operator: str


def alarm_thresholds(body: bytes, where: str, problem_type: str, metrics: tuple[str, ...]) -> tuple[Threshold, ...]:
    """The constraints of the alarmed ``metrics`` in a model-quality constraints.json; ValueError naming the file, the
    metric and what was expected (a missing metric, a threshold that is not a number, or a comparison other than the
    alarm's: the alarm and constraint_violations.json must agree on what a violation is)."""
    section, _ = PROBLEM_TYPES[problem_type]
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"model-quality constraints {where} are not JSON: {exc}") from exc
    constraints = document.get(section) if isinstance(document, dict) else None
    if not isinstance(constraints, dict):
        raise ValueError(
            f"model-quality constraints {where} have no {section} object (problem type {problem_type}); "
            f"found {sorted(document) if isinstance(document, dict) else type(document).__name__}"
        )
    found = []
    for metric in metrics:
        entry = constraints.get(metric)
        if not isinstance(entry, dict):
            raise ValueError(
                f"model-quality constraints {where}: {section}.{metric} is missing, but {metric} has an alarm "
                f"(monitoring.model_quality.alarmed_metrics); constrained metrics: {sorted(constraints)}"
            )
        threshold, operator = entry.get("threshold"), entry.get("comparison_operator")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
            raise ValueError(
                f"model-quality constraints {where}: {section}.{metric}.threshold must be a finite number, "
                f"got {threshold!r}"
            )
        expected = alarm_operator(metric)
        if operator != expected:
            raise ValueError(
                f"model-quality constraints {where}: {section}.{metric}.comparison_operator must be {expected} (the "
                f"comparison its alarm makes), got {operator!r}"
            )
        found.append(Threshold(metric, float(threshold), operator))
    return tuple(found)
