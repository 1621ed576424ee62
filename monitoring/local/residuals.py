"""What a regression model-quality check keeps of its labelled pairs for the report: a histogram of the residuals
(label - prediction), as ``residuals.json`` beside its statistics.json (Model Monitor's statistics carry none)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

RESIDUAL_BINS = 20
RESIDUALS_FILE = "residuals.json"


def residual_histogram(labels: Sequence[float], predictions: Sequence[float], bins: int = RESIDUAL_BINS) -> dict:
    """Counts of label - prediction in ``bins`` equal-width bins, with their edges, count, mean and std_dev."""
    residuals = np.asarray(labels, dtype=float) - np.asarray(predictions, dtype=float)
    residuals = residuals[np.isfinite(residuals)]
    if not residuals.size:
        return {"residual": "label - prediction", "count": 0, "bin_edges": [], "counts": []}
    counts, edges = np.histogram(residuals, bins=bins)
    return {
        "residual": "label - prediction",
        "count": int(residuals.size),
        "mean": float(residuals.mean()),
        "std_dev": float(residuals.std()),
        "bin_edges": [float(x) for x in edges],
        "counts": [int(c) for c in counts],
    }


def write_residuals(folder: Path, labels: Sequence[float], predictions: Sequence[float]) -> Path:
    """Keep a regression check's ``residual_histogram`` as ``RESIDUALS_FILE`` in its report folder."""
    path = Path(folder) / RESIDUALS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(residual_histogram(labels, predictions)), encoding="utf-8")
    return path


def read_residuals(folder: Path) -> dict | None:
    """A check folder's ``RESIDUALS_FILE``, or None when the check kept none (or it cannot be read)."""
    try:
        return json.loads((Path(folder) / RESIDUALS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
