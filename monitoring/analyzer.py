"""The data-quality analyzer: baseline a dataset, or check a dataset against a baseline.

Both are plain functions of paths and settings returning a small frozen result; the CLI and the
container entry are thin shells around them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from monitoring.capture import CaptureReader
from monitoring.constraints import Constraints, MonitoringConfig, read_constraints, suggest_constraints
from monitoring.csv_header import first_records
from monitoring.csv_input import iter_csv
from monitoring.datatypes import FRACTIONAL_PATTERN, INTEGRAL_PATTERN
from monitoring.errors import AnalyzerFileNotFoundError, AnalyzerInputError
from monitoring.metrics import build_metrics, write_metrics
from monitoring.parquet_input import iter_parquet
from monitoring.profile import DatasetProfile
from monitoring.report import ReadReport
from monitoring.sources import Chunk, DatasetFormat, detect_format, iter_json_lines, list_files
from monitoring.statistics import (
    DatasetStatistics,
    check_output_dir,
    profile_to_json,
    profile_to_statistics,
    read_statistics,
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
_NUMBER = re.compile(f"{FRACTIONAL_PATTERN}|{INTEGRAL_PATTERN}")


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


def looks_like_header(path: Path) -> bool:
    """True when the first CSV line has no numeric field while the second has one (a header row). Reads two records
    of bounded text: a long field is data, not a crash; a leading BOM is not part of the first field."""
    rows = first_records(path, 2)
    if not rows or not rows[0]:
        return False
    first_numeric = any(_NUMBER.match(value.strip()) and value.strip() for value in rows[0])
    if first_numeric:
        return False
    if len(rows) < 2:
        return True
    return any(_NUMBER.match(value.strip()) and value.strip() for value in rows[1]) or rows[0] != rows[1]


def read_dataset(
    path: Path,
    fmt: DatasetFormat | None,
    report: ReadReport,
    names: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    preprocessor: Callable | None = None,
) -> Iterator[Chunk]:
    """Chunks of any supported dataset: a file or a directory of files of one format."""
    path = Path(path)
    if not path.exists():
        raise AnalyzerFileNotFoundError(f"Dataset not found: {path}")
    kind = fmt.kind if fmt else detect_format(path)
    if kind == "capture":
        yield from CaptureReader(names, report, start, end, preprocessor).read(path)
        return
    suffixes = {"csv": (".csv",), "json": (".jsonl", ".json"), "parquet": (".parquet", ".pq")}[kind]
    files = list_files(path, suffixes)
    if not files:
        raise AnalyzerInputError(f"No {kind} files ({', '.join(suffixes)}) under {path}")
    for file in files:
        if kind == "csv":
            header = fmt.header if fmt and fmt.header is not None else looks_like_header(file)
            yield from iter_csv(file, header, names, report)
        elif kind == "json":
            yield from iter_json_lines(file, names, report)
        else:
            yield from iter_parquet(file, report)


def run_baseline(
    dataset: Path, output: Path, fmt: DatasetFormat | None = None, config: MonitoringConfig | None = None
) -> BaselineResult:
    """Profile ``dataset`` and write statistics.json and constraints.json into ``output``."""
    check_output_dir(output, BASELINE_FILES)
    report = ReadReport()
    profile = DatasetProfile().add_all(read_dataset(Path(dataset), fmt, report))
    return baseline_from_profile(profile, report, output, config, str(dataset))


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


def run_check(
    dataset: Path,
    baseline_statistics: Path,
    baseline_constraints: Path,
    output: Path,
    fmt: DatasetFormat | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    endpoint: str = "local",
    schedule: str = "on-demand",
    now: datetime | None = None,
    preprocessor: Callable | None = None,
) -> CheckResult:
    """Check ``dataset`` (within [start, end) for capture data) against a baseline; write the results."""
    check_output_dir(output, CHECK_FILES)
    baseline = read_statistics(baseline_statistics)
    constraints = read_constraints(baseline_constraints)
    names = [f.name for f in constraints.features] or baseline.names
    report = ReadReport()
    profile = DatasetProfile().add_all(read_dataset(Path(dataset), fmt, report, names, start, end, preprocessor))
    return check_from_profile(
        profile, report, baseline, constraints, output, dataset, start, end, endpoint, schedule, now
    )


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
