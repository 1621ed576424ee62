"""Deterministic subsamples for the standard deviations of model-quality metrics.

Model Monitor reports a metric's standard deviation only with at least 200 records, computed over 5 random
subsamples of 80% of the data; otherwise the string "NaN". Random subsamples would make two runs on the same data
disagree, so here each subsample is chosen by a hash of the record key:

- every key is hashed once by ``pandas.util.hash_array``: SipHash-2-4 of the UTF-8 bytes of the key with the fixed
  16-byte hash key ``HASH_KEY``, then SplitMix64's finalizer (pandas spreads every hash that way): a 64-bit value that
  depends on neither the platform, the process nor Python's hash seed (a test checks it against a SipHash written
  from the paper);
- subsample ``i`` (0..4) mixes that value with SplitMix64's finalizer after adding ``(i + 1)`` times the golden
  ratio constant 0x9E3779B97F4A7C15 (modulo 2**64), and keeps the records whose mixed value is at most the
  ``ceil(0.8 n)``-th smallest: 80% of the records, whatever their order. Records sharing a key share the hash
  and are kept or dropped together, so duplicated keys at the boundary can make a subsample a little larger.

The standard deviation is the sample one (``ddof=1``, as Spark's ``stddev``) of the 5 subsample values; it is "NaN"
when any of them is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

MIN_RECORDS = 200  # fewer records: standard deviations are "NaN"
SUBSAMPLES = 5
FRACTION = 0.8
NAN = "NaN"
HASH_KEY = "mlops-subsamples"  # 16 characters, as SipHash needs
GOLDEN = 0x9E3779B97F4A7C15


def key_hashes(keys: np.ndarray) -> np.ndarray:
    """``pandas.util.hash_array`` of each key's text (SipHash-2-4 with ``HASH_KEY``, then SplitMix64), as uint64."""
    array = np.asarray(keys)
    text = array if array.dtype.kind == "O" else array.astype(str).astype(object)
    try:
        return pd.util.hash_array(text, hash_key=HASH_KEY, categorize=False)
    except TypeError:  # an object array holding non-strings
        return pd.util.hash_array(array.astype(str).astype(object), hash_key=HASH_KEY, categorize=False)


def _mix(hashes: np.ndarray, index: int) -> np.ndarray:
    """SplitMix64 of ``hashes + (index + 1) * golden``, elementwise, wrapping modulo 2**64."""
    with np.errstate(over="ignore"):
        z = hashes + np.uint64(((index + 1) * GOLDEN) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def subsample_masks(keys: np.ndarray, count: int = SUBSAMPLES, fraction: float = FRACTION) -> list[np.ndarray]:
    """Boolean masks of ``count`` subsamples of ``fraction`` of the records, chosen by a hash of each key."""
    hashes = key_hashes(keys)
    keep = max(1, math.ceil(fraction * len(hashes)))
    masks = []
    for index in range(count):
        mixed = _mix(hashes, index)
        cut = np.partition(mixed, keep - 1)[keep - 1]
        masks.append(mixed <= cut)
    return masks


def standard_deviation(values: Sequence[float]) -> float | str:
    """Sample standard deviation of the subsample values; "NaN" when fewer than two or any is not finite."""
    array = np.asarray(values, dtype=float)
    if array.size < 2 or not np.all(np.isfinite(array)):
        return NAN
    return float(np.std(array, ddof=1))
