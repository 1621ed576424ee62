"""Dataset readers: CSV (with or without header), JSON Lines, Parquet and data-capture JSONL, each
yielding bounded chunks of columns (name -> Arrow array) so memory does not grow with the data.

What they refuse or count, file by file:

- CSV: UTF-8 text; a leading BOM is dropped. A header line names every column once (an empty or repeated name is
  refused: one column would silently win). A field of any length is data (the header is sniffed from bounded text).
  A row with another field count is skipped and counted; a quoted value never closed before the end of the file (it
  would hold every line after it) is skipped and counted (``unterminated_quote``, with its line). A byte that is not
  UTF-8 is refused naming the line, the column and the value.
- Parquet: columns of numbers, booleans, text, dates, times, timestamps and durations (``PARQUET_SUPPORTED``);
  nested types (list, struct, map, union) and intervals are refused naming the column and its type, as are repeated
  or empty names. A binary column is profiled as text, as a string column of the same bytes would be (Model Monitor
  reads it as text): a value that is not UTF-8 is refused naming the column and the row, never replaced or dropped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
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
# Sniffing (the header line, header detection, the field count of headerless data) reads at most this much text:
# a field longer than Python's csv limit (131072 characters) is data like any other, and a quote left open at the
# top of a large file cannot pull the whole file into memory.
SNIFF_CHARS = BLOCK_BYTES
NAME_ECHO = 100  # characters of a name or value echoed in a message
UNTERMINATED_QUOTE = "unterminated_quote"
_FIELD_LIMIT = threading.Lock()
_SURROGATE = re.compile("[\udc80-\udcff]")


def echo(value: str | bytes, limit: int = NAME_ECHO) -> str:
    """``repr`` of a value cut to ``limit`` characters, so a message stays one readable line whatever the data."""
    return repr(value[:limit]) + (f"... ({len(value)} characters)" if len(value) > limit else "")


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """Lift Python's csv field limit (process-wide) to ``limit`` while sniffing bounded text, then restore it."""
    with _FIELD_LIMIT:
        previous = csv.field_size_limit(max(limit, csv.field_size_limit()))
        try:
            yield
        finally:
            csv.field_size_limit(previous)


def _text_lines(handle: IO[str], budget: int) -> Iterator[str]:
    """The handle's lines until ``budget`` characters are read (the last one cut there)."""
    while budget > 0:
        line = handle.readline(budget)
        if not line:
            return
        budget -= len(line)
        yield line


def _open_text(path: Path) -> IO[str]:
    """A CSV file as text: a leading UTF-8 BOM dropped (as Arrow drops it from the data), bytes that are not UTF-8
    kept as lone surrogates (never a number, and a header holding them can be refused by name)."""
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def first_records(path: Path, count: int, budget: int = SNIFF_CHARS) -> list[list[str]]:
    """The first ``count`` CSV records of a file, parsed from at most ``budget`` characters of its text."""
    with _open_text(path) as handle, _field_limit(budget + 1):
        return list(islice(csv.reader(_text_lines(handle, budget)), count))


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


def _csv_header(path: Path) -> list[str]:
    """The column names of the header line (the first line: Arrow skips one line when it reads the data)."""
    with _open_text(path) as handle, _field_limit(SNIFF_CHARS + 1):
        first = handle.readline(SNIFF_CHARS)
        row = next(csv.reader([first]), [])
    if not row:
        raise AnalyzerInputError(f"{path}: expected a header line, found an empty first line")
    names = [name.strip() for name in row]
    for position, name in enumerate(names, start=1):
        if _SURROGATE.search(name):
            raw = name.encode("utf-8", "surrogateescape")
            raise AnalyzerInputError(f"{path}: line 1 (the header), column {position}: {echo(raw)} is not UTF-8 text")
    check_names(names, f"{path}: line 1 (the header)")
    return names


def _csv_column_count(path: Path) -> int:
    """Most common field count among the first lines of a headerless CSV."""
    counts: dict[int, int] = {}
    for row in first_records(path, 1001):
        if row:
            counts[len(row)] = counts.get(len(row), 0) + 1
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


def _lines_before(path: Path, offset: int) -> int:
    """Line breaks (``\n``) in the first ``offset`` bytes of a file."""
    count = 0
    with open(path, "rb") as handle:
        while offset > 0:
            chunk = handle.read(min(offset, BLOCK_BYTES))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count


def unterminated_quote_line(path: Path, last_value: str | None) -> int | None:
    """The line on which a quoted value opens that is never closed, or None. Arrow takes everything from such a quote
    to the end of the file as one value, silently (every line after it included); only the last value of the file's
    last record can be one, and the file then ends with its text (quotes doubled) right after the opening quote. A
    closed value ends with its closing quote instead, an unquoted one does not follow a quote."""
    if not last_value:
        return None
    raw = b'"' + last_value.replace('"', '""').encode("utf-8")
    size = path.stat().st_size
    if len(raw) > size:
        return None
    with open(path, "rb") as handle:
        handle.seek(size - len(raw))
        if handle.read() != raw:
            return None
    return _lines_before(path, size - len(raw)) + 1


def _drop_unterminated(path: Path, batch: pa.RecordBatch, report: ReadReport) -> pa.RecordBatch:
    """The file's last batch without its last record when that record's quote is never closed (counted, with the
    line it opens on): its value is the rest of the file, not a value of the record."""
    last = batch.column(batch.num_columns - 1)[batch.num_rows - 1].as_py()
    line = unterminated_quote_line(path, last)
    if line is None:
        return batch
    body = last.rstrip("\r\n")
    swallowed = body.count("\n") or body.count("\r")
    after = f" and the {swallowed} line(s) after it, which the value would hold" if swallowed else ""
    report.skip(
        UNTERMINATED_QUOTE,
        f"{path}: line {line}: a quoted value opens here and is never closed; skipped the record{after}",
    )
    return batch.slice(0, batch.num_rows - 1)


def first_invalid_utf8(path: Path) -> tuple[int, bytes] | None:
    """The number and bytes of the first line of a file that is not UTF-8, or None (a pass over the file: for
    naming the place in an error, not for reading)."""
    lines, carry = 0, b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(BLOCK_BYTES)
            data = carry + chunk
            if not data:
                return None
            try:
                data.decode("utf-8")
                clean, carry = len(data), b""
            except UnicodeDecodeError as exc:
                if not (chunk and exc.reason == "unexpected end of data"):
                    start = data.rfind(b"\n", 0, exc.start) + 1
                    end = data.find(b"\n", exc.start)
                    return lines + data.count(b"\n", 0, exc.start) + 1, data[start : end if end >= 0 else len(data)]
                clean, carry = exc.start, data[exc.start :]  # a character cut by the chunk's end
            lines += data.count(b"\n", 0, clean)


def _not_utf8(path: Path, columns: Sequence[str], exc: Exception) -> AnalyzerInputError:
    """The error for a CSV with bytes that are not UTF-8, naming the line, the column and the value where it can."""
    found = first_invalid_utf8(path)
    if found is None:
        return AnalyzerInputError(f"{path}: not UTF-8 text ({exc}); expected a CSV file in UTF-8")
    number, raw = found
    with _field_limit(len(raw) + 1):
        fields = next(csv.reader([raw.decode("utf-8", "surrogateescape").rstrip("\r\n")]), [])
    position = next((i for i, value in enumerate(fields) if _SURROGATE.search(value)), None)
    if position is None:  # the line continues a quoted value of an earlier line: Arrow's column number then
        match = re.search(r"CSV column #(\d+)", str(exc))
        position = int(match.group(1)) if match else None
    if position is None:
        return AnalyzerInputError(f"{path}: line {number}: {echo(raw)} is not UTF-8 text; expected a CSV file in UTF-8")
    name = columns[position] if position < len(columns) else f"_c{position}"
    value = fields[position].encode("utf-8", "surrogateescape") if position < len(fields) else raw
    return AnalyzerInputError(
        f"{path}: line {number}, column {position + 1} ({name!r}): {echo(value)} is not UTF-8 text; "
        "expected a CSV file in UTF-8"
    )


def _csv_reader(path: Path, columns: list[str], skip: int, report: ReadReport) -> pacsv.CSVStreamingReader:
    def on_invalid(row) -> str:
        report.skip(
            WRONG_COLUMN_COUNT,
            f"{path}{_line(row)}: {row.text[:80]!r} has {row.actual_columns} fields, expected {row.expected_columns}",
        )
        return "skip"

    return pacsv.open_csv(
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


def _batches(path: Path, columns: list[str], skip: int, report: ReadReport) -> Iterator[pa.RecordBatch]:
    """The file's non-empty record batches, the last one checked for a quote left open to the end of the file (one
    batch is held back to know which is last)."""
    held = None
    try:
        for batch in _csv_reader(path, columns, skip, report):
            if batch.num_rows:
                if held is not None:
                    yield held
                held = batch
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf8" in str(exc).lower():
            raise _not_utf8(path, columns, exc) from exc
        raise AnalyzerInputError(f"{path}: cannot parse as CSV: {exc}") from exc
    if held is not None:
        yield _drop_unterminated(path, held, report)


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
    report.files += 1
    if not columns:
        return
    for batch in _batches(path, columns, skip, report):
        if batch.num_rows:
            report.records += batch.num_rows
            report.rows += batch.num_rows
            yield {name: batch.column(i) for i, name in enumerate(columns)}


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
PARQUET_SUPPORTED = (
    "numbers (integer, floating point, decimal), boolean, text (string, or binary holding UTF-8), dates, times, "
    "timestamps and durations"
)


def _profilable(kind: pa.DataType) -> bool:
    """Whether the profile can read a column of this type: as numbers, booleans, or text (what Arrow can cast to a
    string; lists, structs, maps, unions and intervals it cannot)."""
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return True
    try:
        pc.cast(pa.array([], type=kind), pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _check_parquet_schema(path: Path, schema: pa.Schema) -> None:
    """Refuse, before reading, a column the profile cannot read or name (nested types; duplicate or empty names)."""
    check_names(schema.names, str(path))
    for column in schema:
        if not _profilable(column.type):
            raise AnalyzerInputError(
                f"{path}: column {echo(column.name)} has type {column.type}, which the analyzer cannot profile; "
                f"supported: {PARQUET_SUPPORTED}"
            )


def _is_binary(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_binary(kind.value_type)
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def _require_utf8(path: Path, name: str, values: pa.Array, first_row: int) -> None:
    """A binary column is profiled as text (as Model Monitor reads it): refuse one holding a value that is not UTF-8,
    naming the column, the row (1 for the file's first) and the value, rather than replace or drop bytes silently."""
    try:
        pc.cast(values, pa.string())
        return
    except pa.ArrowInvalid:
        pass
    for row, value in enumerate(values.to_pylist(), start=first_row):
        try:
            if value is not None:
                value.decode("utf-8")
        except UnicodeDecodeError:
            raise AnalyzerInputError(
                f"{path}: column {echo(name)} ({values.type}), row {row}: {echo(value)} is not UTF-8; a binary column "
                "is read as text, so every value must be UTF-8"
            ) from None


def iter_parquet(path: Path, report: ReadReport) -> Iterator[Chunk]:
    """Stream a Parquet file in row batches, keeping its column types (a binary column's values checked UTF-8)."""
    report.files += 1
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise AnalyzerInputError(f"{path}: not a readable Parquet file ({exc})") from exc
    _check_parquet_schema(path, parquet.schema_arrow)
    first_row = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_ROWS_PER_CHUNK):
        for name, values in zip(batch.schema.names, batch.columns, strict=True):
            if _is_binary(values.type):
                _require_utf8(path, name, values, first_row)
        first_row += batch.num_rows
        report.records += batch.num_rows
        report.rows += batch.num_rows
        yield {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
