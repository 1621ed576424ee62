"""The generated data set of bench/scale_out.py: abalone-like rows, written once per size and reused.

Rows are drawn from the bundled abalone (data/abalone.csv) with replacement, each size and weight scaled by its own
factor (normal, 3 % spread), rounded to 4 decimals; sex and rings are kept, so a model learns what it learns on
abalone. The drifted copy applies the demo's drift (``pipelines.demo_data.drifted``: sizes and weights x1.35, 70 %
of the animals turned infant), vectorised. Under ``root``:

- ``analyzer/part-00.csv`` .. ``part-15.csv``: the raw features with a header (the data-quality dataset, all rows);
- ``drifted/part-00.csv`` .. ``part-15.csv``: the same rows drifted (the dataset the check runs on);
- ``train/train-00.csv`` .. ``train-15.csv``, ``validation/validation.csv``, ``test/test.csv``: 70 / 15 / 15 % of
  the rows (by position within each object; the rows are independent draws), target first and the features through
  the Preprocess step's own feature transform, no header, as Preprocess writes them;
- ``transform/transform.json``: that transform, fitted by ``processing.preprocess`` on the bundled abalone.

Nothing here is committed: the default location is bench/.work (ignored by git).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from inference.feature_transform import FeatureTransform
from processing.input_data import DataSchema
from processing.preprocess import preprocess

ROOT = Path(__file__).resolve().parents[1]
ABALONE = ROOT / "data" / "abalone.csv"
OBJECTS = 16  # twice the largest instance count, as Preprocess writes the train split
NUMERIC = ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight")
SCHEMA = DataSchema("rings", NUMERIC, ("sex",), "regression")
SPREAD = 0.03
DRIFT_SCALE, DRIFT_INFANTS = 1.35, 0.7  # pipelines.demo_data.drifted
SPLIT = (0.70, 0.15, 0.15)
SEED = 20_261_130
VERSION = "1"


@dataclass(frozen=True)
class DataSet:
    """Where the generated data set's parts are (each a directory of CSV objects)."""

    root: Path
    rows: int

    def part(self, name: str) -> Path:
        """``analyzer``, ``drifted``, ``train``, ``validation``, ``test`` or ``transform``."""
        return self.root / name


def _fit_transform(root: Path) -> FeatureTransform:
    """Preprocess the bundled abalone into a scratch directory; keep its transform.json."""
    with tempfile.TemporaryDirectory() as scratch:
        preprocess(ABALONE, scratch, SCHEMA)
        (root / "transform").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(scratch) / "transform" / "transform.json", root / "transform" / "transform.json")
    return FeatureTransform.from_json((root / "transform" / "transform.json").read_text(encoding="utf-8"))


def draw(source: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` abalone-like rows: bundled rows with replacement, sizes and weights jittered."""
    frame = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    for name in NUMERIC:
        frame[name] = (frame[name] * rng.normal(1.0, SPREAD, rows)).clip(lower=0.0).round(4)
    return frame


def drift(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The demo's drift (``pipelines.demo_data.drifted``) on a whole frame."""
    out = frame.copy()
    for name in NUMERIC:
        out[name] = (out[name] * DRIFT_SCALE).round(4)
    out["sex"] = np.where(rng.random(len(out)) < DRIFT_INFANTS, "I", out["sex"].to_numpy())
    return out


def _write(frame: pd.DataFrame, path: Path, header: bool) -> None:
    """``frame`` as CSV (Arrow's writer: fast at 10M rows), the header unquoted as pandas writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with open(path, "ab" if not header else "wb") as out:
        if header:
            out.write((",".join(frame.columns) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def _matrix(frame: pd.DataFrame, transform: FeatureTransform) -> pd.DataFrame:
    """Target first, the transformed features after (Preprocess's train / validation / test layout)."""
    features = frame[list(transform.input_columns)]
    matrix = np.column_stack([frame[SCHEMA.target].to_numpy(np.float64), transform.apply(features)])
    return pd.DataFrame(matrix, columns=[f"c{i}" for i in range(matrix.shape[1])])


def generate(rows: int, root: Path) -> DataSet:
    """The data set of ``rows`` rows under ``root`` (written unless a complete one of that size is there)."""
    data = DataSet(root, rows)
    marker = root / "complete.txt"
    if marker.is_file() and marker.read_text(encoding="utf-8") == f"{VERSION} {rows}":
        return data
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    transform = _fit_transform(root)
    source = pd.read_csv(ABALONE)
    features = list(transform.input_columns)
    width = len(str(OBJECTS - 1))
    bounds = np.linspace(0, rows, OBJECTS + 1).astype(int)
    for index in range(OBJECTS):
        rng = np.random.default_rng([SEED, index])
        chunk = draw(source, int(bounds[index + 1] - bounds[index]), rng)
        name = f"{index:0{width}d}.csv"
        _write(chunk[features], data.part("analyzer") / f"part-{name}", header=True)
        _write(drift(chunk[features], rng), data.part("drifted") / f"part-{name}", header=True)
        train_end = round(len(chunk) * SPLIT[0])
        valid_end = train_end + round(len(chunk) * SPLIT[1])
        _write(_matrix(chunk.iloc[:train_end], transform), data.part("train") / f"train-{name}", header=False)
        _write(_matrix(chunk.iloc[train_end:valid_end], transform), data.part("validation") / "validation.csv", False)
        _write(_matrix(chunk.iloc[valid_end:], transform), data.part("test") / "test.csv", header=False)
    marker.write_text(f"{VERSION} {rows}", encoding="utf-8")
    return data
