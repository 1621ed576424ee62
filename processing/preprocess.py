"""Preprocess step: validate raw CSV data against a schema, split it, fit the feature transform, write the splits.

Runs in the SageMaker XGBoost framework image as a Processing job (``python3 preprocess.py --input-dir ...``),
with the project's packages on ``PYTHONPATH``; imports only the standard library, numpy and pandas.

Outputs under ``output_dir``:
- ``train/train.csv``, ``validation/validation.csv``, ``test/test.csv``: XGBoost-ready, target first, the
  transformed features after, no header, no index;
- ``baseline/baseline.csv``: the raw training features with a header (the data-quality baseline dataset);
- ``transform/transform.json``: the fitted feature transform plus the data schema.

The split is by a stable hash of each row's content (``processing.split``), never by its position: shuffling the
input, cutting it into other files or reordering its columns gives the same train / validation / test sets, identical
rows land in the same split, and each split is written in hash order, so its files are byte-identical too.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from inference.feature_transform import fit_transform
from mlops_errors import MlopsError
from processing.container import configure_logging, default_failure_file, write_failure
from processing.split import SPLITS, row_fractions, split_indices

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


@dataclass(frozen=True)
class PreprocessResult:
    """What the step wrote: row counts per split, the feature layout and the output files."""

    rows: dict[str, int]
    input_columns: tuple[str, ...]
    feature_names: tuple[str, ...]
    source_files: tuple[str, ...]
    outputs: dict[str, str]
    ignored_columns: tuple[str, ...] = field(default=())


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


def _split_fractions(split: Sequence[float]) -> tuple[float, float, float]:
    if len(split) != 3 or any(not np.isfinite(f) or f <= 0 for f in split) or abs(sum(split) - 1.0) > 1e-6:
        raise DataValidationError(
            f"split must be three positive fractions summing to 1 (train, validation, test), got {tuple(split)}"
        )
    return float(split[0]), float(split[1]), float(split[2])


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


def _write_all(contents: dict[Path, str]) -> None:
    """Write every file or none: temporary files first, renamed into place once all are written."""
    temporary: list[tuple[Path, Path]] = []
    try:
        for target, text in contents.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.partial")
            temporary.append((tmp, target))
            tmp.write_text(text, encoding="utf-8")
    except BaseException:
        for tmp, _ in temporary:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in temporary:
        os.replace(tmp, target)


def _labels(target: pd.Series, schema: DataSchema, files: Sequence[Path]) -> np.ndarray:
    """The target as numbers: 1.0 for the positive class and 0.0 otherwise (binary), else its values."""
    if schema.problem_type == "binary":
        return _binary_labels(target, schema, files)
    if schema.positive_class is not None:
        logger.warning("positive_class %r is ignored for problem_type regression", schema.positive_class)
    return pd.to_numeric(target).to_numpy(dtype=np.float64)


def preprocess(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    schema: DataSchema,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 42,
) -> PreprocessResult:
    """Validate, split by row hash (keyed with ``seed``), fit the transform on the training split, write the outputs.

    Everything is validated before anything is written; a DataValidationError names the file, the column and
    an example bad value.
    """
    validate_schema(schema)
    fractions = _split_fractions(split)
    files = csv_files(input_path)
    checked = [read_checked(path, schema) for path in files]
    order = [c for c in checked[0][0].columns if c != schema.target]
    data = pd.concat([frame[[schema.target, *order]] for frame, _ in checked], ignore_index=True)
    ignored = tuple(sorted({c for _, extra in checked for c in extra}))
    labels = _labels(data[schema.target], schema, files)

    n = len(data)
    indices = split_indices(row_fractions(data, schema, seed), fractions)
    counts = {name: len(rows) for name, rows in indices.items()}
    if min(counts.values()) < 1:
        raise DataValidationError(
            f"{n} data row(s) cannot be split {fractions} by row hash with a row in every split (got {counts}): "
            "give more rows"
        )

    features = data[order]
    try:
        transform = fit_transform(features.iloc[indices["train"]], schema.numeric, schema.categorical)
    except ValueError as exc:
        raise DataValidationError(str(exc)) from exc
    out = Path(output_dir)
    contents: dict[Path, str] = {}
    for name in SPLITS:
        rows = indices[name]
        matrix = np.column_stack([labels[rows], transform.apply(features.iloc[rows])])
        contents[out / name / f"{name}.csv"] = pd.DataFrame(matrix).to_csv(header=False, index=False)
    baseline = features.iloc[indices["train"]][list(transform.input_columns)]
    contents[out / "baseline" / "baseline.csv"] = baseline.to_csv(header=True, index=False)
    described = {"target": schema.target, "problem_type": schema.problem_type, "positive_class": schema.positive_class}
    info = {"schema": {**described, "input_columns": list(transform.input_columns)}}
    contents[out / "transform" / "transform.json"] = transform.to_json(info) + "\n"
    _write_all(contents)
    logger.info(
        "Preprocessed %d rows of %d file(s) into %s; %d features", n, len(files), counts, len(transform.feature_names)
    )
    return PreprocessResult(
        rows=counts,
        input_columns=transform.input_columns,
        feature_names=transform.feature_names,
        source_files=tuple(str(p) for p in files),
        outputs={p.parent.name: str(p) for p in contents},
        ignored_columns=ignored,
    )


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fractions like 0.7,0.15,0.15, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Container entry: parse arguments, run ``preprocess``; exit code 1 with a message on invalid data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", default="/opt/ml/processing/input/data", help="CSV file or directory")
    parser.add_argument("--output-dir", default="/opt/ml/processing/output")
    parser.add_argument("--failure-file", default=default_failure_file())
    parser.add_argument("--target", required=True)
    parser.add_argument("--numeric", type=_columns, default=[], help="comma-separated numeric feature columns")
    parser.add_argument("--categorical", type=_columns, default=[], help="comma-separated categorical columns")
    parser.add_argument("--problem-type", choices=PROBLEM_TYPES, default="regression")
    parser.add_argument("--positive-class", default=None, help="binary: the target value that means 1")
    parser.add_argument("--split", type=_fractions, default=(0.7, 0.15, 0.15), help="train,validation,test")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    configure_logging()
    schema = DataSchema(
        args.target, tuple(args.numeric), tuple(args.categorical), args.problem_type, args.positive_class
    )
    try:
        preprocess(args.input_dir, args.output_dir, schema, args.split, args.seed)
    except DataValidationError as exc:
        logger.error("%s", exc)
        write_failure(args.failure_file, str(exc))
        return 1
    except Exception as exc:
        write_failure(args.failure_file, f"Preprocess failed unexpectedly: {type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
