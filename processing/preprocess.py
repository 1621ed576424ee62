"""Preprocess step: validate raw CSV data against a schema, split it, fit the feature transform, write the splits.

Runs in the SageMaker XGBoost framework image as a Processing job (``python3 preprocess.py --input-dir ...``),
with the project's packages on ``PYTHONPATH``; imports only the standard library, numpy and pandas.

Outputs under ``output_dir``:
- ``train/train-00.csv`` .. ``train/train-15.csv``, ``validation/validation.csv``, ``test/test.csv``: XGBoost-ready,
  target first, the transformed features after, no header, no index;
- ``baseline/baseline-00.csv`` .. ``baseline/baseline-15.csv``: the raw training features, each file with the header
  (the data-quality baseline dataset);
- ``transform/transform.json``: the fitted feature transform plus the data schema.

The train split and the baseline dataset are cut into ``processing.shards.SHARD_FILES`` objects (twice the largest
supported instance count, ``MAX_INSTANCE_COUNT``) so that multi-instance training and analysis can read them
``ShardedByS3Key``: contiguous chunks in the split's row order under zero-padded names, so the files in name order
hold the rows of the one-file split in the same order (train: the same bytes). With fewer rows than files the last
files hold no rows: empty train files, header-only baseline files.

The split is by a stable hash of each row's content (``processing.split``), never by its position: shuffling the
input, cutting it into other files or reordering its columns gives the same train / validation / test sets, identical
rows land in the same split, and each split is written in hash order, so its files are byte-identical too.

The schema and the reading and checking of the input files are in ``processing.input_data``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from inference.feature_transform import FeatureTransform, fit_transform
from processing.container import configure_logging, default_failure_file, run_program
from processing.input_data import (  # DataSchema and DataValidationError are this step's API too
    PROBLEM_TYPES,
    DataSchema,
    DataValidationError,
    csv_files,
    files_named,
    read_checked,
    target_labels,
    validate_schema,
)
from processing.shards import SHARD_FILES, shard_bounds, shard_names
from processing.split import SPLITS, row_fractions, split_indices

logger = logging.getLogger(__name__)

MAX_CATEGORIES = 1000  # distinct training values of a categorical column: each is one dense feature column


@dataclass(frozen=True)
class PreprocessResult:
    """What the step wrote: row counts per split, the feature layout and the output files."""

    rows: dict[str, int]
    input_columns: tuple[str, ...]
    feature_names: tuple[str, ...]
    source_files: tuple[str, ...]
    outputs: dict[str, tuple[str, ...]]  # output name -> its files, in name (= row) order
    ignored_columns: tuple[str, ...] = field(default=())


def _split_fractions(split: Sequence[float]) -> tuple[float, float, float]:
    if len(split) != 3 or any(not np.isfinite(f) or f <= 0 for f in split) or abs(sum(split) - 1.0) > 1e-6:
        raise DataValidationError(
            f"split must be three positive fractions summing to 1 (train, validation, test), got {tuple(split)}"
        )
    return float(split[0]), float(split[1]), float(split[2])


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


def _sharded(directory: Path, stem: str, frame: pd.DataFrame, header: bool) -> dict[Path, str]:
    """``frame`` as ``SHARD_FILES`` CSV texts of contiguous rows (``processing.shards``), each with the header if
    ``header``: an empty chunk is an empty file, or the header alone."""
    names = shard_names(stem, SHARD_FILES)
    bounds = shard_bounds(len(frame), SHARD_FILES)
    return {
        directory / name: frame.iloc[start:stop].to_csv(header=header, index=False)
        for name, (start, stop) in zip(names, bounds, strict=True)
    }


def _split_contents(
    out: Path, indices: dict[str, np.ndarray], labels: np.ndarray, features: pd.DataFrame, transform: FeatureTransform
) -> dict[Path, str]:
    """The splits' CSV texts by path: train (sharded: ShardedByS3Key across training hosts), validation and test
    transformed with the target first; the baseline dataset (sharded like train) the raw training features."""
    contents: dict[Path, str] = {}
    for name in SPLITS:
        rows = indices[name]
        matrix = pd.DataFrame(np.column_stack([labels[rows], transform.apply(features.iloc[rows])]))
        if name == "train":
            contents.update(_sharded(out / name, name, matrix, header=False))
        else:
            contents[out / name / f"{name}.csv"] = matrix.to_csv(header=False, index=False)
    baseline = features.iloc[indices["train"]][list(transform.input_columns)]
    contents.update(_sharded(out / "baseline", "baseline", baseline, header=True))
    return contents


def _refuse_wide_categories(transform: FeatureTransform, train_rows: int, files: Sequence[Path]) -> None:
    """A categorical column of more than ``MAX_CATEGORIES`` distinct training values is refused before it is one-hot
    encoded: an identifier (one value per row) made a dense matrix of rows x values (20,000 rows: 14,000 features,
    5 GB of memory, 1 GB of files and 7 minutes) for a model that had seen each value once."""
    where = files_named(files)
    for column, categories in transform.categories:
        if len(categories) > MAX_CATEGORIES:
            example = ", ".join(repr(c) for c in categories[:3])
            raise DataValidationError(
                f"Categorical column '{column}' in {where} has {len(categories)} distinct values in the {train_rows} "
                f"training rows (e.g. {example}): at most {MAX_CATEGORIES} are one-hot encoded. An identifier or a "
                "free-text column is no feature: leave it out of data.categorical, or group its values"
            )


def _refuse_one_class_splits(
    indices: dict[str, np.ndarray], labels: np.ndarray, target: pd.Series, schema: DataSchema, files: Sequence[Path]
) -> None:
    """Binary: every split must hold both classes. A train split of one class learns nothing, a validation split of
    one class gives early stopping an undefined AUC, and a test split of one class an undefined AUC and an accuracy
    that says nothing about the other class (a model that never predicts it scored 1.0 and passed the gate)."""
    where = files_named(files)
    for name, rows in indices.items():
        present = set(labels[rows].tolist())
        if len(present) == 2:
            continue
        absent = 1.0 - present.pop()
        value = repr(target[labels == absent].iloc[0].strip())
        total = int((labels == absent).sum())
        placed = {n: int((labels[r] == absent).sum()) for n, r in indices.items()}
        raise DataValidationError(
            f"Column '{schema.target}' in {where}: the {name} split holds no row of the class {value}, so it cannot "
            f"train or score a binary model; the {total} row(s) of that class fell {placed} by row hash: give more "
            "rows of that class (or change data.seed)"
        )


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
    labels = target_labels(data[schema.target], schema, files)

    n = len(data)
    places = row_fractions(data, schema, seed)
    indices = split_indices(places, fractions)
    counts = {name: len(rows) for name, rows in indices.items()}
    if min(counts.values()) < 1:
        raise DataValidationError(
            f"{n} data row(s) ({len(np.unique(places))} distinct: identical rows share a split) cannot be split "
            f"{fractions} by row hash with a row in every split (got {counts}): give more distinct rows"
        )

    if schema.problem_type == "binary":
        _refuse_one_class_splits(indices, labels, data[schema.target], schema, files)
    features = data[order]
    try:
        transform = fit_transform(features.iloc[indices["train"]], schema.numeric, schema.categorical)
    except ValueError as exc:
        raise DataValidationError(str(exc)) from exc
    _refuse_wide_categories(transform, len(indices["train"]), files)
    out = Path(output_dir)
    contents = _split_contents(out, indices, labels, features, transform)
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
        outputs={p.parent.name: tuple(str(q) for q in contents if q.parent == p.parent) for p in contents},
        ignored_columns=ignored,
    )


def _columns(text: str) -> list[str]:
    """Column names: comma-separated, or a JSON list of strings (names that hold a comma can only travel so)."""
    if not text.lstrip().startswith("["):
        return [c.strip() for c in text.split(",") if c.strip()]
    try:
        names = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON list of column names, got {text!r}: {exc}") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise argparse.ArgumentTypeError(f"expected a JSON list of column names (strings), got {text!r}")
    return [n.strip() for n in names if n.strip()]


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
    work = partial(preprocess, args.input_dir, args.output_dir, schema, args.split, args.seed)
    return run_program("Preprocess", work, DataValidationError, args.failure_file, logger)


if __name__ == "__main__":
    sys.exit(main())
