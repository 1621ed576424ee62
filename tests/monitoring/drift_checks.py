"""Helpers producing real analyzer output (baseline, clean and drifted checks) on the bundled abalone data."""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path

from monitoring.analyzer import CheckResult, run_baseline, run_check
from tests.conftest import ABALONE

DRIFTED = ("length", "diameter", "whole_weight")


def write_sample(
    path: Path, rows: int = 1500, scale: float = 1.0, features: tuple[str, ...] = DRIFTED, seed: int = 7
) -> Path:
    """A random sample of abalone rows; ``scale`` multiplies ``features``; below 1.0 no infants ('I' -> 'M')."""
    with open(ABALONE, newline="") as handle:
        header, *data = list(csv.reader(handle))
    sample = random.Random(seed).sample(data, rows)
    for row in sample:
        if scale != 1.0:
            for name in features:
                i = header.index(name)
                row[i] = repr(round(float(row[i]) * scale, 4))
            if row[0] == "I":
                row[0] = "M"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(sample)
    return path


def make_baseline(directory: Path) -> Path:
    run_baseline(ABALONE, directory)
    return directory


def make_check(baseline: Path, dataset: Path, output: Path, now: datetime, endpoint: str = "ep") -> CheckResult:
    return run_check(
        dataset,
        baseline / "statistics.json",
        baseline / "constraints.json",
        output,
        endpoint=endpoint,
        schedule="hourly",
        now=now,
    )
