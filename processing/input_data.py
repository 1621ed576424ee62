"""Preprocess's input: the data schema, and reading the raw CSV files and checking them against it.

Container code (the SageMaker XGBoost image): standard library, numpy and pandas only. Every check raises
DataValidationError naming the file, the column, the row and an example bad value, before anything is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_errors import MlopsError

logger = logging.getLogger(__name__)

PROBLEM_TYPES = ("regression", "binary")


class DataValidationError(MlopsError, ValueError):
    """The input data or the schema is not what the step expects; the message says what and where."""


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


def csv_files(input_path: str | os.PathLike) -> list[Path]:
    """The CSV file itself, or every ``*.csv`` under a directory (sorted); DataValidationError if there is none."""
    path = Path(input_path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataValidationError(f"Input {path} does not exist: expected a CSV file or a directory of CSV files")
    files = sorted(p for p in path.rglob("*.csv") if p.is_file() and not p.name.startswith("."))
    if not files:
        found = sorted(p.name for p in path.iterdir())[:10]
        raise DataValidationError(f"No .csv files in {path}; found: {', '.join(found) or 'nothing'}")
    return files


def _bad_numeric(values: pd.Series) -> tuple[int, int]:
    """(index of the first non-numeric non-missing value or -1, how many there are)."""
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna().to_numpy() & values.notna().to_numpy()
    count = int(bad.sum())
    return (int(np.flatnonzero(bad)[0]) if count else -1), count


def read_checked(path: Path, schema: DataSchema) -> tuple[pd.DataFrame, list[str]]:
    """Read one CSV file as text and check it against the schema.

    Returns the target and feature columns (as text, in the file's order) and the names of the other columns.
    """
    try:
        frame = pd.read_csv(path, dtype=str)
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{path} is empty: expected a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path} is not a readable CSV file: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    wanted = (schema.target, *schema.features)
    for column in wanted:
        if column not in frame.columns:
            raise DataValidationError(f"Column '{column}' not found in {path}; columns are: {', '.join(frame.columns)}")
    if frame.empty:
        raise DataValidationError(f"{path} has a header row but no data rows")
    extra = [c for c in frame.columns if c not in wanted]
    if extra:
        logger.warning("Ignoring column(s) not in the schema in %s: %s", path, ", ".join(extra))
    missing_target = frame[schema.target].isna().to_numpy()
    if missing_target.any():
        row = int(np.flatnonzero(missing_target)[0])
        raise DataValidationError(
            f"Column '{schema.target}' (the target) is empty at row {row + 2} of {path} (row 1 is the header); "
            f"{int(missing_target.sum())} row(s) have no target: fill them in or drop them"
        )
    numeric = [*schema.numeric, schema.target] if schema.problem_type == "regression" else list(schema.numeric)
    for column in numeric:
        first, count = _bad_numeric(frame[column])
        if count:
            raise DataValidationError(
                f"Column '{column}' in {path} must be numeric, but row {first + 2} (row 1 is the header) holds "
                f"{frame[column].iloc[first]!r}; {count} non-numeric value(s) in the column"
            )
    return frame[[c for c in frame.columns if c in wanted]], extra


def _binary_labels(target: pd.Series, schema: DataSchema, files: Sequence[Path]) -> np.ndarray:
    values = target.str.strip()
    counts = values.value_counts()
    where = files[0] if len(files) == 1 else f"{len(files)} files under {files[0].parent}"
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
