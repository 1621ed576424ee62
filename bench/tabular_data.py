"""Deterministic reference/current Parquet pair for the tabular peer benchmark (numpy + pyarrow only).

20 features: 11 float (four with ~5% missing values), 3 integer and 6 categorical strings with 3 to 200
categories. The current dataset drifts on purpose: three floats shift their mean and two categoricals
change their category mix; everything else is drawn from the same distributions as the reference.

    python bench/tabular_data.py --out bench/.work --reference-rows 100000 --current-rows 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SEED = 20_240_611
ROW_GROUP_ROWS = 131_072
Draw = Callable[[np.random.Generator, int, bool], np.ndarray]

# name -> (draw(rng, rows, drifted), share of missing values)
FLOATS: dict[str, tuple[Draw, float]] = {
    "float_00": (lambda g, n, d: g.normal(50.0 + (4.0 if d else 0.0), 10.0, n), 0.0),
    "float_01": (lambda g, n, d: g.lognormal(3.0, 0.6, n), 0.05),
    "float_02": (lambda g, n, d: g.uniform(-1.0, 1.0, n), 0.0),
    "float_03": (lambda g, n, d: g.exponential(2.0, n) + (1.0 if d else 0.0), 0.0),
    "float_04": (lambda g, n, d: g.gamma(2.0, 3.0, n), 0.05),
    "float_05": (lambda g, n, d: g.beta(2.0, 5.0, n), 0.0),
    "float_06": (lambda g, n, d: g.normal(0.0 + (0.3 if d else 0.0), 1.0, n), 0.0),
    "float_07": (lambda g, n, d: g.standard_t(5.0, n) * 3.0 + 100.0, 0.05),
    "float_08": (lambda g, n, d: np.where(g.random(n) < 0.3, g.normal(-5.0, 1.0, n), g.normal(5.0, 2.0, n)), 0.0),
    "float_09": (lambda g, n, d: g.normal(1_000.0, 250.0, n).round(2), 0.05),
    "float_10": (lambda g, n, d: g.weibull(1.5, n) * 10.0, 0.0),
}
INTEGERS: dict[str, Draw] = {
    "int_0": lambda g, n, d: g.poisson(3.0, n),
    "int_1": lambda g, n, d: g.integers(0, 10_000, n),
    "int_2": lambda g, n, d: g.integers(18, 91, n),
}
# name -> (categories, Zipf exponent in the reference, exponent in the current, current order reversed)
CATEGORICALS: dict[str, tuple[int, float, float, bool]] = {
    "cat_3": (3, 0.5, 0.5, False),
    "cat_5": (5, 0.8, 0.8, True),
    "cat_12": (12, 1.0, 1.0, False),
    "cat_40": (40, 0.7, 1.6, False),
    "cat_100": (100, 1.1, 1.1, False),
    "cat_200": (200, 0.9, 0.9, False),
}


def _category_weights(count: int, exponent: float, reverse: bool) -> np.ndarray:
    """Zipf-like probabilities over ``count`` categories, optionally in reverse order."""
    weights = 1.0 / np.arange(1, count + 1, dtype=np.float64) ** exponent
    weights /= weights.sum()
    return weights[::-1].copy() if reverse else weights


def make_table(rows: int, drifted: bool, seed: int = SEED) -> pa.Table:
    """One dataset of ``rows`` rows; each column has its own generator, so columns do not depend on each other."""
    kind = 1 if drifted else 0
    columns: dict[str, pa.Array] = {}
    for index, (name, (draw, missing)) in enumerate(FLOATS.items()):
        rng = np.random.default_rng([seed, kind, index])
        values = draw(rng, rows, drifted).astype(np.float64)
        mask = rng.random(rows) < missing if missing else None
        columns[name] = pa.array(values, type=pa.float64(), mask=mask)
    for index, (name, draw) in enumerate(INTEGERS.items(), start=100):
        rng = np.random.default_rng([seed, kind, index])
        columns[name] = pa.array(draw(rng, rows, drifted).astype(np.int64), type=pa.int64())
    for index, (name, (count, ref_exp, cur_exp, reverse)) in enumerate(CATEGORICALS.items(), start=200):
        rng = np.random.default_rng([seed, kind, index])
        weights = _category_weights(count, cur_exp if drifted else ref_exp, reverse and drifted)
        codes = rng.choice(count, size=rows, p=weights).astype(np.int32)
        labels = pa.array([f"{name}_v{i:03d}" for i in range(count)], type=pa.string())
        columns[name] = pc.take(labels, pa.array(codes))
    return pa.table(columns)


def row_count(path: Path) -> int | None:
    """Rows in a Parquet file, or None when it is missing or unreadable."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None


def ensure_dataset(path: Path, rows: int, drifted: bool) -> None:
    """Write ``path`` unless it already holds ``rows`` rows."""
    if row_count(path) == rows:
        print(f"  {path} exists with {rows:,} rows, kept", flush=True)
        return
    started = time.perf_counter()
    table = make_table(rows, drifted)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="snappy")
    os.replace(tmp, path)
    size = path.stat().st_size / 2**20
    print(
        f"  wrote {path} ({rows:,} rows, {table.num_columns} columns, {size:.1f} MiB) "
        f"in {time.perf_counter() - started:.1f}s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Generate (or keep) reference.parquet and current.parquet in ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for reference.parquet and current.parquet")
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--current-rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ensure_dataset(args.out / "reference.parquet", args.reference_rows, drifted=False)
    ensure_dataset(args.out / "current.parquet", args.current_rows, drifted=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
