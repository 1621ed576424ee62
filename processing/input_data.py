"""Preprocess's input: the data schema, and reading the raw CSV and Parquet files and checking them against it.

The input is one file or a directory (an S3 prefix on SageMaker) of ``.csv``, ``.parquet`` and ``.pq`` files, which
may be mixed: every file is checked against the schema on its own, and the rows are taken in sorted path order.
Parquet values become the text a CSV file would hold (numbers in their shortest round-trip decimal form, integral
ones without a decimal point), so the row-hash split treats a row the same whichever format carried it; a numeric
schema column must have a Parquet number type.

Container code (the SageMaker XGBoost image): standard library, numpy, pandas and pyarrow only. Every check raises
DataValidationError naming the file, the column, the row and an example bad value, before anything is written.
Parquet values become text in ``processing.parquet_text``; the header and range checks are ``processing.input_columns``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from processing.input_columns import (
    NUMBER_RANGE,
    DataValidationError,
    beyond_float32,
    delimiter_hint,
    read_csv_text,
    refuse_duplicates,
    refuse_nested,
)
from processing.parquet_text import column_text

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")

PROBLEM_TYPES = ("regression", "binary")


@dataclass(frozen=True)
class DataSchema:
    """What the raw data must hold: the target and the feature columns, and the kind of problem."""

    target: str
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    problem_type: str = "regression"
    positive_class: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "numeric", tuple(self.numeric))
        object.__setattr__(self, "categorical", tuple(self.categorical))

    @property
    def features(self) -> tuple[str, ...]:
        """All feature columns, numeric first."""
        return self.numeric + self.categorical


def validate_schema(schema: DataSchema) -> None:
    """Raise DataValidationError if the schema itself is inconsistent."""
    if schema.problem_type not in PROBLEM_TYPES:
        raise DataValidationError(
            f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {schema.problem_type!r}"
        )
    if not schema.target:
        raise DataValidationError("The target column name is empty")
    if not schema.features:
        raise DataValidationError("No feature columns: give at least one numeric or categorical column")
    seen: set[str] = set()
    for column in schema.features:
        if column == schema.target:
            raise DataValidationError(f"Column '{column}' is the target and cannot also be a feature")
        if column in seen:
            raise DataValidationError(f"Column '{column}' is listed twice among the features")
        seen.add(column)
    if schema.problem_type == "binary" and schema.positive_class is None:
        raise DataValidationError("problem_type binary needs positive_class: the target value that means 1")


def input_files(input_path: str | os.PathLike) -> list[Path]:
    """The file itself, or every CSV and Parquet file under a directory (sorted by path, hidden files skipped);
    DataValidationError if there is none, or if one is a broken symbolic link (it would be skipped unseen)."""
    path = Path(input_path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataValidationError(f"Input {path} does not exist: expected a CSV or Parquet file or a directory of them")
    suffixes = CSV_SUFFIXES + PARQUET_SUFFIXES
    entries = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in suffixes and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    broken = [p for p in entries if p.is_symlink() and not p.exists()]
    if broken:
        raise DataValidationError(
            f"Input {broken[0]} is a broken symbolic link (to {os.readlink(broken[0])}): remove it, or point it at "
            f"a data file ({len(broken)} broken link(s) under {path})"
        )
    files = [p for p in entries if p.is_file()]
    if not files:
        found = sorted(p.name for p in path.iterdir())[:10]
        raise DataValidationError(f"No .csv, .parquet or .pq files in {path}; found: {', '.join(found) or 'nothing'}")
    return files


csv_files = input_files  # the name Preprocess imports


def is_parquet(path: Path) -> bool:
    """Whether ``path`` is read as Parquet (by its suffix; anything else is read as CSV)."""
    return path.suffix.lower() in PARQUET_SUFFIXES


def _bad_numeric(values: pd.Series) -> tuple[int, int]:
    """(index of the first non-missing value that is not a number XGBoost can take or -1, how many there are): text
    that is no number, ``inf``, and numbers beyond 32-bit floats (``1e39``): XGBoost refuses infinite features and
    labels, naming neither file, column nor row."""
    converted = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = (np.isnan(converted) | beyond_float32(converted)) & values.notna().to_numpy()
    count = int(bad.sum())
    return (int(np.flatnonzero(bad)[0]) if count else -1), count


def _numeric_columns(schema: DataSchema) -> list[str]:
    return [*schema.numeric, schema.target] if schema.problem_type == "regression" else list(schema.numeric)


def _read_parquet(path: Path, schema: DataSchema) -> pd.DataFrame:
    """A Parquet file's columns as text (see the module docstring); numeric schema columns must be numbers."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"{path} is not a readable Parquet file: {exc}") from None
    names = [str(c).strip() for c in table.column_names]
    refuse_nested(table, names, (schema.target, *schema.features), path)
    for column in _numeric_columns(schema):
        if column not in names:
            continue  # reported with the other missing columns
        kind = table.column(names.index(column)).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
            raise DataValidationError(
                f"Column '{column}' in {path} has Parquet type {kind}: expected a number type (integer or "
                "floating point), as the schema lists it among the numeric columns"
                + (" (the target of a regression)" if column == schema.target else "")
            )
        _refuse_infinite(table.column(names.index(column)), column, path)
    columns = {n: column_text(table.column(i)) for i, n in enumerate(names)}
    return pd.DataFrame(columns, columns=names, dtype=object)


def _refuse_infinite(values: pa.ChunkedArray, column: str, path: Path) -> None:
    """A numeric Parquet column holding inf, -inf or a number beyond 32-bit floats (1e39) is refused (row numbered
    from 1), as such CSV text is: XGBoost would refuse it later without naming it. NaN reads as a missing value."""
    if not pa.types.is_floating(values.type):
        return
    infinite = beyond_float32(values.to_numpy())
    count = int(infinite.sum())
    if count:
        first = int(np.flatnonzero(infinite)[0])
        raise DataValidationError(
            f"Column '{column}' in {path} must be a finite number, but row {first + 1} holds "
            f"{values[first].as_py()!r}; {count} value(s) in the column that are not {NUMBER_RANGE}"
        )


def read_checked(path: Path, schema: DataSchema) -> tuple[pd.DataFrame, list[str]]:
    """Read one CSV or Parquet file as text and check it against the schema.

    Returns the target and feature columns (as text, in the file's order) and the names of the other columns.
    """
    parquet = is_parquet(path)
    frame = _read_parquet(path, schema) if parquet else read_csv_text(path)
    header = "" if parquet else " (row 1 is the header)"
    first_row = 1 if parquet else 2  # the file's row number of data row 0
    wanted = (schema.target, *schema.features)
    for column in wanted:
        if column not in frame.columns:
            raise DataValidationError(
                f"Column '{column}' not found in {path}; columns are: {', '.join(frame.columns)}"
                + delimiter_hint(list(frame.columns))
            )
    refuse_duplicates(list(frame.columns), wanted, path)
    if frame.empty:
        raise DataValidationError(f"{path} has no rows" if parquet else f"{path} has a header row but no data rows")
    extra = [c for c in frame.columns if c not in wanted]
    if extra:
        logger.warning("Ignoring column(s) not in the schema in %s: %s", path, ", ".join(extra))
    missing_target = frame[schema.target].isna().to_numpy()
    if missing_target.any():
        row = int(np.flatnonzero(missing_target)[0])
        raise DataValidationError(
            f"Column '{schema.target}' (the target) is empty at row {row + first_row} of {path}{header}; "
            f"{int(missing_target.sum())} row(s) have no target: fill them in or drop them"
        )
    for column in [] if parquet else _numeric_columns(schema):  # Parquet's are numbers by type (_read_parquet)
        first, count = _bad_numeric(frame[column])
        if count:
            raise DataValidationError(
                f"Column '{column}' in {path} must be numeric, but row {first + first_row}{header} holds "
                f"{frame[column].iloc[first]!r}; {count} value(s) in the column that are not {NUMBER_RANGE}"
            )
    return frame[[c for c in frame.columns if c in wanted]], extra


def files_named(files: Sequence[Path]) -> str:
    """The input files as an error names them: the one file, or how many under which folder."""
    return str(files[0]) if len(files) == 1 else f"{len(files)} files under {files[0].parent}"


def _binary_labels(target: pd.Series, schema: DataSchema, files: Sequence[Path]) -> np.ndarray:
    values = target.str.strip()
    counts = values.value_counts()
    where = files_named(files)
    if len(counts) != 2:
        listed = ", ".join(f"{v!r} ({n})" for v, n in counts.head(10).items())
        raise DataValidationError(
            f"Column '{schema.target}' in {where} must have exactly two distinct values for problem_type binary, "
            f"found {len(counts)}: {listed}"
        )
    positive = str(schema.positive_class).strip()
    if positive not in counts.index:
        raise DataValidationError(
            f"positive_class {schema.positive_class!r} is not a value of column '{schema.target}' in {where}; "
            f"its values are {', '.join(repr(v) for v in counts.index)}"
        )
    return (values == positive).to_numpy(dtype=np.float64)


def target_labels(target: pd.Series, schema: DataSchema, files: Sequence[Path]) -> np.ndarray:
    """The target as numbers: 1.0 for the positive class and 0.0 otherwise (binary), else its values."""
    if schema.problem_type == "binary":
        return _binary_labels(target, schema, files)
    if schema.positive_class is not None:
        logger.warning("positive_class %r is ignored for problem_type regression", schema.positive_class)
    return pd.to_numeric(target).to_numpy(dtype=np.float64)
