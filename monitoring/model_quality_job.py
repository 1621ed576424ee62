"""Model-quality baseline and check: plain functions of data and settings returning a small frozen result.

Baseline: a labelled data set -> statistics.json (no evaluation_time, as Model Monitor's baseline) and the suggested
constraints.json. Check: labelled predictions (capture joined with ground truth) -> statistics.json (with
dataset.evaluation_time) and constraint_violations.json, or a NoData result, writing nothing, below ``min_pairs``.
Files are written atomically, statistics as the data-quality analyzer writes them (``write_json``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from monitoring.labelled import LabelledPredictions
from monitoring.model_quality import model_quality_statistics, problem_type_key
from monitoring.model_quality_constraints import (
    metric_values,
    model_quality_violations,
    suggest_model_quality_constraints,
)
from monitoring.model_quality_dataset import read_labelled_csv
from monitoring.statistics import check_output_dir, write_json

log = logging.getLogger(__name__)
STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
VIOLATIONS = "constraint_violations.json"
COMPLETED = "Completed"
WITH_VIOLATIONS = "CompletedWithViolations"
NO_DATA = "NoData"


@dataclass(frozen=True)
class ModelQualityResult:
    """What a model-quality job did; ``metrics`` are CloudWatch metric name -> value (finite values only)."""

    status: str  # Completed | CompletedWithViolations | NoData
    statistics: dict | None
    violations: list[dict]
    exit_message: str
    metrics: dict[str, float]
    item_count: int = 0
    paths: dict[str, Path] = field(default_factory=dict)
    merge_counts: dict[str, int] = field(default_factory=dict)


def evaluation_timestamp(moment: datetime | None = None) -> str:
    """``2023-03-30T21:08:34.729Z``: UTC with milliseconds, as Model Monitor writes dataset.evaluation_time."""
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def run_model_quality_baseline(
    dataset: Path,
    output_dir: Path,
    *,
    problem_type: str,
    ground_truth_attribute: str,
    inference_attribute: str,
    probability_attribute: str | None = None,
    probability_threshold: float = 0.5,
    margin: float = 0.0,
) -> ModelQualityResult:
    """Statistics and suggested constraints of a labelled CSV data set, written to ``output_dir``."""
    output = check_output_dir(output_dir, (STATISTICS, CONSTRAINTS))
    pairs = read_labelled_csv(
        Path(dataset),
        problem_type=problem_type,
        ground_truth_attribute=ground_truth_attribute,
        inference_attribute=inference_attribute,
        probability_attribute=probability_attribute,
        probability_threshold=probability_threshold,
    )
    statistics = model_quality_statistics(pairs, problem_type)
    constraints = suggest_model_quality_constraints(statistics, margin=margin)
    paths = {
        "statistics": write_json(statistics, output / STATISTICS, compact=True),
        "constraints": write_json(constraints, output / CONSTRAINTS),
    }
    message = (
        f"{COMPLETED}: Job completed successfully. Model-quality baseline of {len(pairs)} records written to {output}."
    )
    log.info("model-quality baseline of %d records written to %s", len(pairs), output)
    return ModelQualityResult(COMPLETED, statistics, [], message, metric_values(statistics), len(pairs), paths)


def run_model_quality_check(
    pairs: LabelledPredictions,
    constraints: dict,
    output_dir: Path,
    *,
    problem_type: str,
    min_pairs: int,
    evaluation_time: str | None = None,
    merge_counts: dict[str, int] | None = None,
) -> ModelQualityResult:
    """Statistics of ``pairs`` judged against ``constraints``; NoData (nothing written) below ``min_pairs``."""
    problem_type_key(problem_type)
    output = check_output_dir(output_dir, (STATISTICS, VIOLATIONS))
    counts = dict(merge_counts or {})
    if len(pairs) < min_pairs:
        message = (
            f"{NO_DATA}: {len(pairs)} predictions matched with ground truth, fewer than the {min_pairs} "
            "needed; no statistics, no violations, no metrics."
        )
        return ModelQualityResult(NO_DATA, None, [], message, {}, len(pairs), {}, counts)
    statistics = model_quality_statistics(
        pairs, problem_type, evaluation_time=evaluation_time or evaluation_timestamp()
    )
    violations = model_quality_violations(statistics, constraints)
    paths = {
        "statistics": write_json(statistics, output / STATISTICS, compact=True),
        "violations": write_json({"violations": violations}, output / VIOLATIONS),
    }
    if violations:
        status, message = (
            WITH_VIOLATIONS,
            f"{WITH_VIOLATIONS}: Job completed successfully with {len(violations)} violations.",
        )
    else:
        status, message = COMPLETED, f"{COMPLETED}: Job completed successfully with no violations."
    return ModelQualityResult(
        status, statistics, violations, message, metric_values(statistics), len(pairs), paths, counts
    )
