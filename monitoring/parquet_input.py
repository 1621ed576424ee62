"""Parquet datasets streamed in row batches, keeping their column types.

What is read: columns of numbers, booleans, text, dates, times, timestamps and durations (``PARQUET_SUPPORTED``);
nested types (list, struct, map, union) and intervals are refused naming the column and its type, as are repeated or
empty names. A binary column is profiled as text, as a string column of the same bytes would be (Model Monitor reads
it as text): a value that is not UTF-8 is refused naming the column and the row, never replaced or dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from monitoring.errors import AnalyzerInputError
from monitoring.report import ReadReport
from monitoring.sources import Chunk, check_names, echo

PARQUET_ROWS_PER_CHUNK = 131_072
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
