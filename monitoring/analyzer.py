"""The data-quality analyzer: baseline a dataset, or check a dataset against a baseline.

Both are plain functions of paths and settings returning a small frozen result; the CLI and the
container entry are thin shells around them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from monitoring.analysis_results import (
    BASELINE_FILES,
    CHECK_FILES,
    COMPLETED,
    NO_DATA,
    WITH_VIOLATIONS,
    BaselineResult,
    CheckResult,
    baseline_from_profile,
    check_from_profile,
)
from monitoring.capture import CaptureReader
from monitoring.constraints import MonitoringConfig, read_constraints
from monitoring.csv_header import first_records
from monitoring.csv_input import iter_csv
from monitoring.errors import AnalyzerFileNotFoundError, AnalyzerInputError
from monitoring.parquet_input import iter_parquet
from monitoring.profile import DatasetProfile
from monitoring.report import ReadReport
from monitoring.sources import Chunk, DatasetFormat, detect_format, iter_json_lines, list_files
from monitoring.statistics import check_output_dir, read_statistics
from monitoring.type_names import FRACTIONAL_PATTERN, INTEGRAL_PATTERN

__all__ = [  # the results and their statuses, for callers that run an analysis through this module
    "COMPLETED",
    "NO_DATA",
    "WITH_VIOLATIONS",
    "BaselineResult",
    "CheckResult",
    "looks_like_header",
    "read_dataset",
    "run_baseline",
    "run_check",
]

log = logging.getLogger(__name__)
_NUMBER = re.compile(f"{FRACTIONAL_PATTERN}|{INTEGRAL_PATTERN}")


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
