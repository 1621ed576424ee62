"""The join of captured predictions with ground truth, as Model Monitor's merge does.

- Capture records are kept when their ``inferenceTime`` is in [start, end] (both inclusive; no bound when None).
- The key is the capture record's ``inferenceId`` when it has one, else its ``eventId``; a ground-truth record's key
  is its ``eventMetadata.eventId``.
- Ground-truth files come in order (folder hour, then file name, as ``ground_truth_files`` lists them); for a key
  labelled more than once the latest label wins, and each replaced label is counted in ``duplicate_labels``.
- Predictions are read as ``monitoring.capture_predictions`` says. Binary: the probability is the value read by
  ``probability_attribute``, or by ``inference_attribute`` when that is None (the project's endpoint answers the
  probability), and the predicted label is always ``probability >= probability_threshold``.
- Nothing is fatal: a malformed line or record is skipped and counted as ``malformed.<capture|ground_truth>.<reason>``.

``counts`` also holds: ``capture_records`` (well-formed lines read), ``capture_outside_window``,
``capture_in_window`` (records with a prediction in the window), ``ground_truth_records``, ``ground_truth_labels``
(distinct keys), ``duplicate_labels``, ``matched``, ``unmatched_capture`` (predictions without a label),
``unmatched_ground_truth`` (labels whose key no capture record in the window has) and
``duplicate_capture_keys`` (capture records sharing a key with an earlier one; each is joined).

How (for speed): files are read side by side by ``monitoring.model_quality_read`` (threads); both sides' keys are
encoded to integers together (``key_codes``: Arrow's hash encoding in cache-sized parts), and the join, the latest
label and every count are numpy on those codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from monitoring.capture_predictions import MULTI_RECORD, Extract
from monitoring.jsonl_tables import SkipCounter
from monitoring.labelled import LabelledPredictions
from monitoring.model_quality_read import CapturePredictions, key_codes, read_capture_and_truth

PROBLEM_TYPES = ("regression", "binary")


@dataclass(frozen=True)
class MergeResult:
    """The joined pairs (keys = the join keys) and what the merge counted."""

    pairs: LabelledPredictions
    counts: dict[str, int]
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first example (file and line)
    # the join keys of the predictions in the window without a label, in record order (None: not kept)
    unmatched_keys: pa.Array | None = None


def window_capture_files(root: Path, start: datetime | None, end: datetime | None) -> list[Path]:
    """The capture files under ``root`` whose hour folder can hold a record of [start, end] (``end`` inclusive, so
    the folder of the hour starting at ``end`` is read too)."""
    from monitoring.capture import capture_files

    return capture_files(Path(root), start, None if end is None else end + timedelta(microseconds=1))


def _join(capture_keys: pa.Array, truth_keys: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, int]:
    """(the integer code of each capture key, of each ground-truth key, the number of codes): both sides encoded
    together (``key_codes``), so that the join runs on integers."""
    codes, size = key_codes(pa.concat_arrays([capture_keys, *truth_keys.chunks]))
    return codes[: len(capture_keys)], codes[len(capture_keys) :], size


def _latest(codes: np.ndarray, size: int) -> np.ndarray:
    """For each code, the position of its last occurrence in ``codes`` (-1 when none): the latest label wins."""
    last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last, codes, np.arange(len(codes), dtype=np.int64))  # no sort: one pass
    return last


def merge_capture_with_ground_truth(
    capture_files: Sequence[Path] | Iterable[Path],
    ground_truth_files: Sequence[Path] | Iterable[Path],
    *,
    problem_type: str,
    inference_attribute: str | None = None,
    probability_attribute: str | None = None,
    probability_threshold: float = 0.5,
    start: datetime | None = None,
    end: datetime | None = None,
) -> MergeResult:
    """Join the capture records in [start, end] with their latest ground-truth label (see the module docstring)."""
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}")
    if not 0 < probability_threshold < 1:
        raise ValueError(f"probability_threshold must be between 0 and 1, got {probability_threshold!r}")
    binary = problem_type == "binary"
    capture_skips, truth_skips = SkipCounter(), SkipCounter()
    at = Extract(inference_attribute)
    if binary and probability_attribute is not None:
        at = Extract(probability_attribute)
    found, (truth_keys, truth_labels, truth_records) = read_capture_and_truth(
        list(capture_files), list(ground_truth_files), at, binary, start, end, (capture_skips, truth_skips)
    )
    keys = pa.chunked_array(found.keys, type=pa.string()).combine_chunks()
    with ThreadPoolExecutor(1) as pool:  # the keys' Python strings are made while the join codes are computed
        texts = pool.submit(keys.to_numpy, zero_copy_only=False)
        capture_codes, truth_codes, size = _join(keys, truth_keys)
        last = _latest(truth_codes, size)  # position in truth_labels of each code's latest label
        where = last[capture_codes]
        pairs = _joined_pairs(found, texts.result(), where, truth_labels, probability_threshold if binary else None)
    matched = where >= 0
    labelled = last >= 0
    in_capture = np.zeros(size, dtype=bool)
    in_capture[capture_codes] = True
    counts = {
        "capture_records": found.records,
        "capture_outside_window": found.outside,
        "capture_in_window": len(keys),
        "ground_truth_records": truth_records,
        "ground_truth_labels": int(labelled.sum()),
        "duplicate_labels": len(truth_codes) - int(labelled.sum()),
        "matched": int(matched.sum()),
        "unmatched_capture": int((~matched).sum()),
        "unmatched_ground_truth": int((labelled & ~in_capture).sum()),
        "duplicate_capture_keys": len(keys) - int(in_capture.sum()),
    }
    examples = _add_skip_counts(counts, capture_skips, truth_skips)
    return MergeResult(pairs, counts, examples, keys.filter(pa.array(~matched)))


def _joined_pairs(
    found: CapturePredictions, keys: np.ndarray, where: np.ndarray, labels: np.ndarray, threshold: float | None
) -> LabelledPredictions:
    """The matched capture records (``keys``: their join keys' texts) with their labels (``where[i]``: the index in
    ``labels`` of record i's label, -1 when it has none). Binary when a ``threshold`` is given: the value read is
    the probability, and the predicted label is probability >= threshold."""
    matched = where >= 0
    joined_labels = labels[where[matched]]
    joined_keys = keys[matched]
    values = (np.concatenate(found.values) if found.values else np.empty(0))[matched]
    if threshold is not None:
        return LabelledPredictions(joined_keys, joined_labels, (values >= threshold).astype(np.float64), values)
    return LabelledPredictions(joined_keys, joined_labels, values)


def _add_skip_counts(counts: dict[str, int], capture_skips: SkipCounter, truth_skips: SkipCounter) -> dict[str, str]:
    """Add ``multi_record_requests`` and ``malformed.<side>.<reason>`` to ``counts``; the first example of each
    malformed reason."""
    counts["multi_record_requests"] = capture_skips.counts.pop(MULTI_RECORD, 0)
    capture_skips.examples.pop(MULTI_RECORD, None)
    examples: dict[str, str] = {}
    for side, skips in (("capture", capture_skips), ("ground_truth", truth_skips)):
        for reason, number in sorted(skips.counts.items()):
            counts[f"malformed.{side}.{reason}"] = number
            examples[f"malformed.{side}.{reason}"] = skips.examples[reason]
    return examples
