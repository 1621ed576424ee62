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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.capture_predictions import (
    BAD_PREDICTION,
    BAD_TIME,
    CAPTURE_SCHEMA,
    MISSING_ID,
    MULTI,
    MULTI_RECORD,
    OK,
    Extract,
    extract,
    inference_times,
    join_keys,
    payloads,
)
from monitoring.ground_truth import read_ground_truth
from monitoring.jsonl_tables import SkipCounter, read_jsonl
from monitoring.labelled import LabelledPredictions

PROBLEM_TYPES = ("regression", "binary")


@dataclass(frozen=True)
class MergeResult:
    """The joined pairs (keys = the join keys) and what the merge counted."""

    pairs: LabelledPredictions
    counts: dict[str, int]
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first example (file and line)


@dataclass
class _Predictions:
    keys: list[pa.Array] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    records: int = 0
    outside: int = 0


def _micros(moment: datetime | None) -> pa.Scalar | None:
    return None if moment is None else pa.scalar(moment, pa.timestamp("us", tz="UTC"))


def _read_capture(files, binary, value_at, probability_at, start, end, skips) -> _Predictions:
    """Keys, predictions and probabilities of the capture records in the window."""
    found = _Predictions()
    low, high = _micros(start), _micros(end)
    for path in files:
        where = str(path)
        for table in read_jsonl(Path(path), CAPTURE_SCHEMA, skips):
            found.records += table.num_rows
            meta = table.column("eventMetadata")
            keys = join_keys(meta)
            times, good_time = inference_times(meta)
            skips.skip(BAD_TIME, f"{where}: inferenceTime is not an ISO-8601 time", _count(pc.invert(good_time)))
            inside = good_time
            if low is not None:
                inside = pc.and_(inside, pc.greater_equal(times, low))
            if high is not None:
                inside = pc.and_(inside, pc.less_equal(times, high))
            found.outside += _count(pc.and_(good_time, pc.invert(inside)))
            has_key = pc.is_valid(keys)
            skips.skip(
                MISSING_ID,
                f"{where}: a record without eventId or inferenceId",
                _count(pc.and_(inside, pc.invert(has_key))),
            )
            chosen = pc.and_(inside, has_key)
            if not _count(chosen):
                continue
            output = pc.filter(pc.struct_field(table.column("captureData"), "endpointOutput"), chosen)
            keys = pc.filter(keys, chosen)
            text, is_json, readable = payloads(output, skips, where)
            values, status = extract(text, is_json, probability_at if binary else value_at)
            probabilities = values
            readable_np = np.asarray(readable.to_numpy(zero_copy_only=False), dtype=bool)
            skips.skip(
                MULTI_RECORD, f"{where}: a request with several records", int(((status == MULTI) & readable_np).sum())
            )
            skips.skip(
                BAD_PREDICTION,
                f"{where}: a prediction that is missing or not a finite number",
                int(((status > MULTI) & readable_np).sum()),
            )
            keep = readable_np & (status == OK)
            if binary:
                out_of_range = keep & ((probabilities < 0) | (probabilities > 1))
                skips.skip(BAD_PREDICTION, f"{where}: a probability outside [0, 1]", int(out_of_range.sum()))
                keep &= ~out_of_range
            found.keys.append(
                pc.filter(keys, pa.array(keep)).combine_chunks()
                if isinstance(keys, pa.ChunkedArray)
                else pc.filter(keys, pa.array(keep))
            )
            found.values.append(values[keep])
            found.probabilities.append(probabilities[keep])
    return found


def window_capture_files(root: Path, start: datetime | None, end: datetime | None) -> list[Path]:
    """The capture files under ``root`` whose hour folder can hold a record of [start, end] (``end`` inclusive, so
    the folder of the hour starting at ``end`` is read too)."""
    from monitoring.capture import capture_files

    return capture_files(Path(root), start, None if end is None else end + timedelta(microseconds=1))


def _latest_labels(keys: pa.ChunkedArray, labels: np.ndarray) -> tuple[pa.Array, np.ndarray, int]:
    """(distinct keys, the latest label of each, number of labels replaced by a later one)."""
    if len(keys) == 0:
        return pa.array([], pa.string()), np.empty(0), 0
    encoded = pc.dictionary_encode(keys).combine_chunks()
    codes = encoded.indices.to_numpy()
    reversed_codes = codes[::-1]
    distinct, first_from_end = np.unique(reversed_codes, return_index=True)
    latest_positions = len(codes) - 1 - first_from_end
    return encoded.dictionary.take(pa.array(distinct)), labels[latest_positions], len(codes) - len(distinct)


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
    found = _read_capture(
        list(capture_files),
        binary,
        Extract(inference_attribute),
        Extract(probability_attribute if probability_attribute is not None else inference_attribute),
        start,
        end,
        capture_skips,
    )
    truth_keys, truth_labels, truth_records = read_ground_truth(list(ground_truth_files), truth_skips)
    label_keys, latest, duplicates = _latest_labels(truth_keys, truth_labels)

    keys = pa.chunked_array(found.keys, type=pa.string()).combine_chunks()
    where = pc.fill_null(pc.index_in(keys, value_set=label_keys), -1).to_numpy().astype(np.int64)
    pairs = _joined_pairs(found, keys, where, latest, probability_threshold if binary else None)
    matched = where >= 0
    counts = {
        "capture_records": found.records,
        "capture_outside_window": found.outside,
        "capture_in_window": len(keys),
        "ground_truth_records": truth_records,
        "ground_truth_labels": len(label_keys),
        "duplicate_labels": duplicates,
        "matched": int(matched.sum()),
        "unmatched_capture": int((~matched).sum()),
        "unmatched_ground_truth": len(label_keys) - len(np.unique(where[matched])),
        "duplicate_capture_keys": len(keys) - len(pc.unique(keys)),
    }
    examples = _add_skip_counts(counts, capture_skips, truth_skips)
    return MergeResult(pairs, counts, examples)


def _joined_pairs(
    found: _Predictions, keys: pa.Array, where: np.ndarray, latest: np.ndarray, threshold: float | None
) -> LabelledPredictions:
    """The matched capture records with their labels (``where[i]``: the index in ``latest`` of record i's label,
    -1 when it has none). Binary when a ``threshold`` is given: the predicted label is probability >= threshold."""
    matched = where >= 0
    labels = latest[where[matched]]
    joined_keys = keys.filter(pa.array(matched)).to_numpy(zero_copy_only=False)
    if threshold is not None:
        probabilities = np.concatenate(found.probabilities) if found.probabilities else np.empty(0)
        chosen = probabilities[matched]
        return LabelledPredictions(joined_keys, labels, (chosen >= threshold).astype(np.float64), chosen)
    values = np.concatenate(found.values) if found.values else np.empty(0)
    return LabelledPredictions(joined_keys, labels, values[matched])


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


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)
