"""What a data-quality analysis writes from a finished profile: statistics.json and constraints.json for a
baseline; statistics, violations and metrics for a check, or NoData. A one-pass analysis (``monitoring.analyzer``)
and the merge of a sharded one (``monitoring.profile_merge``) both end here.

Without Arrow: a merge job imports this, not the readers (``monitoring.analyzer``), and spares itself pyarrow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from monitoring.constraints import Constraints, MonitoringConfig, suggest_constraints
from monitoring.errors import AnalyzerInputError
from monitoring.metrics import build_metrics, write_metrics
from monitoring.profile import DatasetProfile
from monitoring.report import ReadReport
from monitoring.statistics import (
    DatasetStatistics,
    check_output_dir,
    profile_to_json,
    profile_to_statistics,
    statistics_from_json,
    write_json,
)
from monitoring.violations import FeatureDrift, Violation, check

log = logging.getLogger(__name__)
STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
VIOLATIONS = "constraint_violations.json"
SUMMARY = "analysis_summary.json"
METRICS = "cloudwatch_metrics.jsonl"
COMPLETED = "Completed"
WITH_VIOLATIONS = "CompletedWithViolations"
NO_DATA = "NoData"
BASELINE_FILES = (STATISTICS, CONSTRAINTS, SUMMARY)
CHECK_FILES = (STATISTICS, VIOLATIONS, SUMMARY, METRICS)


@dataclass(frozen=True)
class BaselineResult:
    statistics_path: Path
    constraints_path: Path
    item_count: int
    feature_count: int
    read: dict


@dataclass(frozen=True)
class CheckResult:
    status: str
    item_count: int
    violations: tuple[Violation, ...]
    drifts: tuple[FeatureDrift, ...]
    metrics: tuple[dict, ...]
    read: dict
    output: Path
    message: str = ""
    paths: dict[str, Path] = field(default_factory=dict)


def baseline_from_profile(
    profile: DatasetProfile,
    report: ReadReport,
    output: Path,
    config: MonitoringConfig | None = None,
    dataset: str = "the dataset",
) -> BaselineResult:
    """Write statistics.json and constraints.json of an existing profile (one pass, or merged shards)."""
    check_output_dir(output, BASELINE_FILES)
    if profile.item_count == 0:
        raise AnalyzerInputError(
            f"Cannot baseline {dataset}: it holds no data rows ({report.malformed} malformed records skipped"
            f"{_first_skip(report)})"
        )
    statistics = profile_to_json(profile)
    try:  # what a check reads back: a number that is not finite (a Parquet inf) is refused here, not at every check
        statistics_from_json(statistics, dataset, finite=True)
    except AnalyzerInputError as exc:
        raise AnalyzerInputError(
            f"Cannot baseline {dataset}: {exc}; a baseline needs finite numbers (replace or drop infinite values, "
            "or send them as missing)"
        ) from None
    output = Path(output)
    stats_path = write_json(statistics, output / STATISTICS, compact=True)
    constraints_path = write_json(suggest_constraints(profile_to_statistics(profile), config), output / CONSTRAINTS)
    write_json({"status": COMPLETED, "item_count": profile.item_count, "read": report.to_json()}, output / SUMMARY)
    log.info("baseline of %d rows, %d features written to %s", profile.item_count, len(profile.columns), output)
    return BaselineResult(stats_path, constraints_path, profile.item_count, len(profile.columns), report.to_json())


def _first_skip(report: ReadReport) -> str:
    """``: <reason>, e.g. <example>`` of the first reason records were skipped for, so an empty baseline says why."""
    if not report.examples:
        return ""
    reason, example = sorted(report.examples.items())[0]
    return f": {reason}, e.g. {example}"


def _no_data(
    dataset: Path,
    start: datetime | None,
    end: datetime | None,
    report: ReadReport,
    output: Path,
    paths: dict[str, Path],
) -> CheckResult:
    """The NoData result of a check that read no record: no violations, a summary saying where it looked."""
    window = f" between {start.isoformat() if start else 'the beginning'} and {end.isoformat() if end else 'now'}"
    message = f"No data to analyze: no records in {dataset}{window if (start or end) else ''}"
    if report.malformed:
        message += f" ({report.malformed} malformed records skipped)"
    paths["violations"] = write_json({"violations": []}, output / VIOLATIONS)
    summary = {"status": NO_DATA, "message": message, "item_count": 0, "violation_count": 0, "read": report.to_json()}
    paths["summary"] = write_json(summary, output / SUMMARY)
    return CheckResult(NO_DATA, 0, (), (), (), report.to_json(), output, message, paths)


def check_from_profile(
    profile: DatasetProfile,
    report: ReadReport,
    baseline: DatasetStatistics,
    constraints: Constraints,
    output: Path,
    dataset: Path,
    start: datetime | None = None,
    end: datetime | None = None,
    endpoint: str = "local",
    schedule: str = "on-demand",
    now: datetime | None = None,
) -> CheckResult:
    """Check an existing profile (one pass, or merged shards) against a baseline; write the results."""
    output = check_output_dir(output, CHECK_FILES)
    now = now or datetime.now(timezone.utc)
    paths = {"statistics": write_json(profile_to_json(profile), output / STATISTICS, compact=True)}
    if profile.item_count == 0:
        return _no_data(dataset, start, end, report, output, paths)
    current = profile_to_statistics(profile)
    violations, drifts = check(baseline, constraints, current)
    metrics = build_metrics(current, constraints, drifts, endpoint, schedule, now)
    paths["violations"] = write_json({"violations": [v.to_json() for v in violations]}, output / VIOLATIONS)
    paths["metrics"] = write_metrics(metrics, output / METRICS)
    status = WITH_VIOLATIONS if violations else COMPLETED
    message = (
        f"{WITH_VIOLATIONS}: Job completed successfully with {len(violations)} violations."
        if violations
        else f"{COMPLETED}: Job completed successfully with no violations."
    )
    summary = {
        "status": status,
        "message": message,
        "item_count": profile.item_count,
        "violation_count": len(violations),
        "drift": [
            {"feature": d.feature_name, "distance": d.distance, "threshold": d.threshold, "method": d.method}
            for d in drifts
        ],
        "read": report.to_json(),
    }
    paths["summary"] = write_json(summary, output / SUMMARY)
    return CheckResult(
        status,
        profile.item_count,
        tuple(violations),
        tuple(drifts),
        tuple(metrics),
        report.to_json(),
        output,
        message,
        paths,
    )
