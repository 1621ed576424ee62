"""Labelled predictions: what model-quality statistics are computed from.

One record per row of a baseline data set (Evaluate's ``label,prediction[,probability]`` file) or per capture
record joined with its ground truth. ``keys`` identify the records (the row number for a data set, the inference or
event id for a join) and choose the subsamples of the standard deviations, so those do not depend on record order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelledPredictions:
    """Parallel arrays, one entry per record: ground truth, prediction and (binary) probability."""

    keys: np.ndarray  # str: record keys (row numbers as text for a data set; inference or event ids)
    labels: np.ndarray  # float64: the ground truth (0/1 for binary)
    predictions: np.ndarray  # float64: the model's output (the predicted label for binary)
    probabilities: np.ndarray | None = None  # float64 in [0, 1], binary only

    def __post_init__(self) -> None:
        sizes = {len(self.keys), len(self.labels), len(self.predictions)}
        if self.probabilities is not None:
            sizes.add(len(self.probabilities))
        if len(sizes) != 1:
            raise ValueError(f"labelled predictions need arrays of one length, got lengths {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.keys)
