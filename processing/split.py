"""Preprocess's split: each row placed in [0, 1) by a keyed hash of its content, cut at the configured fractions.

Container code (the SageMaker XGBoost image): standard library, numpy and pandas only. A row's place depends on its
raw text and the seed, never on its position, its file or the file's column order, so the split of a data set does
not change when its rows are shuffled or re-cut into files, and identical rows always share a split.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")
FIELD_SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur inside a CSV field read as text
HASH_BYTES = 8


class Columns(Protocol):
    """What the split reads of a schema: the target and the feature columns, in the schema's order."""

    @property
    def target(self) -> str: ...

    @property
    def features(self) -> tuple[str, ...]: ...


def row_fractions(data: pd.DataFrame, schema: Columns, seed: int) -> np.ndarray:
    """Each row's place in [0, 1): the first 8 bytes of BLAKE2b (keyed with the seed as decimal text) over the row's
    raw text fields, target then numeric then categorical columns (the schema's order, not the file's), joined by
    U+001F (a missing value is the empty string), read as a big-endian integer and divided by 2**64.

    It depends on the row's content and the seed only, never on the row's position, file or column order."""
    key = str(seed).encode()
    columns = [data[c].fillna("").astype(str).tolist() for c in (schema.target, *schema.features)]
    places = np.empty(len(data), dtype=np.float64)
    for i, fields in enumerate(zip(*columns, strict=True)):
        digest = hashlib.blake2b(FIELD_SEPARATOR.join(fields).encode(), digest_size=HASH_BYTES, key=key).digest()
        places[i] = int.from_bytes(digest, "big") / 2.0 ** (8 * HASH_BYTES)
    return places


def split_indices(places: np.ndarray, fractions: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """Row indices per split, in hash order: train below the train fraction, validation up to train + validation,
    test above (ties, i.e. identical rows, stay together)."""
    order = np.argsort(places, kind="stable")
    cut_train, cut_validation = fractions[0], fractions[0] + fractions[1]
    ordered = places[order]
    bounds = [0, int(np.searchsorted(ordered, cut_train)), int(np.searchsorted(ordered, cut_validation)), len(order)]
    return {name: order[bounds[i] : bounds[i + 1]] for i, name in enumerate(SPLITS)}
