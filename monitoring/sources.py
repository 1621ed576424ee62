"""Dataset readers: CSV (with or without header), JSON Lines, Parquet and data-capture JSONL, each
yielding bounded chunks of columns (name -> Arrow array) so memory does not grow with the data.

This module holds what the readers share (the formats, a dataset's files, column names and their checks, rows to
chunks) and the JSON Lines reader. The others, each saying what it refuses or counts: CSV in ``monitoring.csv_input``
(its head sniffed by ``monitoring.csv_header``), Parquet in ``monitoring.parquet_input``, data capture in
``monitoring.capture``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from monitoring.errors import AnalyzerFileNotFoundError, AnalyzerInputError
from monitoring.report import ReadReport, parse_json_line

BLOCK_BYTES = 16 << 20
JSON_LINES_PER_CHUNK = 50_000
FORMATS = ("csv", "json", "parquet", "capture")
NAME_ECHO = 100  # characters of a name or value echoed in a message

Chunk = dict[str, pa.Array]


@dataclass(frozen=True)
class DatasetFormat:
    """How to read a dataset: its format and, for CSV, whether the first line is a header."""

    kind: str
    header: bool | None = None  # None: decide per file for CSV (baseline: yes; check: as the baseline)

    def __post_init__(self) -> None:
        if self.kind not in FORMATS:
            raise AnalyzerInputError(f"dataset format must be one of {', '.join(FORMATS)}, got {self.kind!r}")


def positional_names(count: int, names: Sequence[str] | None = None) -> list[str]:
    """Column names for headerless data: the given names by position, then ``_c<i>`` as the container does."""
    names = list(names or [])
    return [names[i] if i < len(names) else f"_c{i}" for i in range(count)]


def list_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under a directory (recursively, sorted) with one of the suffixes, or the file itself."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise AnalyzerFileNotFoundError(f"Dataset not found: {path}")
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(Path(root) / f for f in sorted(files) if f.endswith(suffixes) and not f.startswith("."))
    return found


def detect_format(path: Path) -> str:
    """Guess the format from the file name or, for JSON, from the first line."""
    files = list_files(path, (".csv", ".jsonl", ".json", ".parquet", ".pq"))
    if not files:
        raise AnalyzerInputError(f"No .csv, .jsonl, .json or .parquet files under {path}")
    first = files[0]
    if first.suffix in (".parquet", ".pq"):
        return "parquet"
    if first.suffix == ".csv":
        return "csv"
    with open(first, "rb") as handle:
        line = handle.readline(1 << 20)
    return "capture" if b'"captureData"' in line else "json"


# -- Column names ------------------------------------------------------------------------------------
def echo(value: str | bytes, limit: int = NAME_ECHO) -> str:
    """``repr`` of a value cut to ``limit`` characters, so a message stays one readable line whatever the data."""
    return repr(value[:limit]) + (f"... ({len(value)} characters)" if len(value) > limit else "")


def check_names(names: Sequence[str], where: str) -> None:
    """Refuse column names that cannot be features: an empty one, or one given twice (a profile keys its columns by
    name, so one of the two would silently win)."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise AnalyzerInputError(f"{where}: column {position} has no name; expected a name for every column")
        if name in seen:
            raise AnalyzerInputError(
                f"{where}: column name {echo(name)} is given twice (columns {seen[name]} and {position}); "
                "expected each name once"
            )
        seen[name] = position


# -- JSON Lines --------------------------------------------------------------------------------------
def json_value_text(value) -> str | None:
    """A JSON value as the text Model Monitor's reader would see (numbers keep their JSON spelling)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value if isinstance(value, str) else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def records_to_chunk(records: list, names: Sequence[str] | None) -> Chunk:
    """Rows given as JSON objects (by name) or arrays (by position) to string columns."""
    columns: dict[str, list] = {}
    for i, record in enumerate(records):
        items: Iterable[tuple[str, Any]]
        if isinstance(record, dict):
            items = record.items()
        else:
            row = record if isinstance(record, list) else [record]
            items = zip(positional_names(len(row), names), row, strict=False)
        for name, value in items:
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * i
            column.append(json_value_text(value))
        for column in columns.values():
            if len(column) <= i:
                column.append(None)
    return {name: pa.array(values, type=pa.string()) for name, values in columns.items()}


def chunked_rows(
    rows: Iterable, names: Sequence[str] | None, report: ReadReport, size: int = JSON_LINES_PER_CHUNK
) -> Iterator[Chunk]:
    """Rows (JSON objects or arrays) as string-column chunks of at most ``size`` rows, counted in ``report``."""
    batch: list = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            report.rows += len(batch)
            yield records_to_chunk(batch, names)
            batch = []
    if batch:
        report.rows += len(batch)
        yield records_to_chunk(batch, names)


def iter_json_lines(path: Path, names: Sequence[str] | None, report: ReadReport) -> Iterator[Chunk]:
    """Stream a JSON Lines file of records; bad lines are counted and skipped."""
    report.files += 1

    def records() -> Iterator:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                record = parse_json_line(raw, f"{path}: line {number}", report, require_object=False)
                if record is not None:
                    report.records += 1
                    yield record

    yield from chunked_rows(records(), names, report)
