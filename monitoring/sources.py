"""Dataset readers: CSV (with or without header), JSON Lines, Parquet and data-capture JSONL, each
yielding bounded chunks of columns (name -> Arrow array) so memory does not grow with the data."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from monitoring.errors import AnalyzerFileNotFoundError, AnalyzerInputError
from monitoring.report import WRONG_COLUMN_COUNT, ReadReport, parse_json_line

BLOCK_BYTES = 16 << 20
JSON_LINES_PER_CHUNK = 50_000
PARQUET_ROWS_PER_CHUNK = 131_072
FORMATS = ("csv", "json", "parquet", "capture")

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


# -- CSV ---------------------------------------------------------------------------------------------
def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        first = handle.readline()
    row = next(csv.reader([first]), [])
    if not row:
        raise AnalyzerInputError(f"{path}: expected a header line, found an empty first line")
    return [name.strip() for name in row]


def _csv_column_count(path: Path) -> int:
    """Most common field count among the first lines of a headerless CSV."""
    counts: dict[int, int] = {}
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        for i, row in enumerate(csv.reader(handle)):
            if row:
                counts[len(row)] = counts.get(len(row), 0) + 1
            if i >= 1000:
                break
    return max(counts, key=counts.__getitem__) if counts else 0


def _line(row) -> str:
    """`: line N` when Arrow knows the row's line (it does not when it parses blocks in parallel)."""
    return f": line {row.number}" if getattr(row, "number", None) is not None else ""


def read_csv_text(data: bytes, names: list[str], report: ReadReport, where: str) -> pa.Table:
    """Parse headerless CSV bytes into string columns; rows with another field count are skipped and counted."""

    def on_invalid(row) -> str:
        report.skip(
            WRONG_COLUMN_COUNT,
            f"{where}{_line(row)}: {row.text[:80]!r} has {row.actual_columns} fields, expected {row.expected_columns}",
        )
        return "skip"

    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=True),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )


def iter_csv(path: Path, header: bool, names: Sequence[str] | None, report: ReadReport) -> Iterator[Chunk]:
    """Stream a CSV file as string columns (Spark's reading: every value text, empty fields missing)."""
    if path.stat().st_size == 0:
        report.files += 1
        return
    if header:
        columns = _csv_header(path)
        skip = 1
    else:
        columns = positional_names(_csv_column_count(path), names)
        skip = 0
    if not columns:
        report.files += 1
        return

    def on_invalid(row) -> str:
        report.skip(
            WRONG_COLUMN_COUNT,
            f"{path}{_line(row)}: {row.text[:80]!r} has {row.actual_columns} fields, expected {row.expected_columns}",
        )
        return "skip"

    report.files += 1
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=columns, skip_rows=skip, block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in columns},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
        for batch in reader:
            if batch.num_rows:
                report.records += batch.num_rows
                report.rows += batch.num_rows
                yield {name: batch.column(i) for i, name in enumerate(columns)}
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf8" in str(exc).lower():
            raise AnalyzerInputError(f"{path}: not UTF-8 text ({exc})") from exc
        raise AnalyzerInputError(f"{path}: cannot parse as CSV: {exc}") from exc


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


# -- Parquet -----------------------------------------------------------------------------------------
def iter_parquet(path: Path, report: ReadReport) -> Iterator[Chunk]:
    """Stream a Parquet file in row batches, keeping its column types."""
    report.files += 1
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise AnalyzerInputError(f"{path}: not a readable Parquet file ({exc})") from exc
    for batch in parquet.iter_batches(batch_size=PARQUET_ROWS_PER_CHUNK):
        report.records += batch.num_rows
        report.rows += batch.num_rows
        yield {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
