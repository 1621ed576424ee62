"""CSV datasets read as string columns (Spark's reading: every value text, empty fields missing), streamed by Arrow in
blocks of BLOCK_BYTES.

What is refused or counted, file by file: UTF-8 text; a leading BOM is dropped. The header line (sniffed by
``monitoring.csv_header``) names every column once. A field of any length is data. A row with another field count is
skipped and counted (``wrong_column_count``); a quoted value never closed before the end of the file (it would hold
every line after it) is skipped and counted (``unterminated_quote``, with its line). A byte that is not UTF-8 is
refused naming the line, the column and the value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from monitoring.csv_header import SURROGATE, csv_column_count, field_limit, header_names
from monitoring.errors import AnalyzerInputError
from monitoring.report import WRONG_COLUMN_COUNT, ReadReport
from monitoring.sources import BLOCK_BYTES, Chunk, echo, positional_names

UNTERMINATED_QUOTE = "unterminated_quote"


def _line(row) -> str:
    """`: line N` when Arrow knows the row's line (it does not when it parses blocks in parallel)."""
    return f": line {row.number}" if getattr(row, "number", None) is not None else ""


def read_csv_text(data: bytes, names: list[str], report: ReadReport, where: str) -> pa.Table:
    """Parse headerless CSV bytes into string columns; rows with another field count are skipped and counted."""

    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=True),
        parse_options=pacsv.ParseOptions(
            invalid_row_handler=_counting_wrong_widths(where, report), newlines_in_values=False
        ),
        convert_options=_as_text(names),
    )


def _counting_wrong_widths(where: object, report: ReadReport) -> Callable[[Any], str]:
    """Arrow's invalid-row handler: a row with another number of fields is skipped and counted, named by ``where``
    and its line."""

    def on_invalid(row) -> str:
        report.skip(
            WRONG_COLUMN_COUNT,
            f"{where}{_line(row)}: {row.text[:80]!r} has {row.actual_columns} fields, expected {row.expected_columns}",
        )
        return "skip"

    return on_invalid


def _as_text(names: list[str]) -> pacsv.ConvertOptions:
    """Every column as strings, an empty field (quoted or not) as missing."""
    return pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
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
    with field_limit(len(raw) + 1):
        fields = next(csv.reader([raw.decode("utf-8", "surrogateescape").rstrip("\r\n")]), [])
    position = next((i for i, value in enumerate(fields) if SURROGATE.search(value)), None)
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
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=columns, skip_rows=skip, block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(invalid_row_handler=_counting_wrong_widths(path, report)),
        convert_options=_as_text(columns),
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
        columns = header_names(path)
        skip = 1
    else:
        columns = positional_names(csv_column_count(path), names)
        skip = 0
    report.files += 1
    if not columns:
        return
    for batch in _batches(path, columns, skip, report):
        if batch.num_rows:
            report.records += batch.num_rows
            report.rows += batch.num_rows
            yield {name: batch.column(i) for i, name in enumerate(columns)}
