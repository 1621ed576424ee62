"""The reading side of the model-quality merge: capture predictions and ground-truth labels, files read side by side.

Each file is read whole by one thread (``in_threads``: one a usable core, at most ``MAX_THREADS``): Arrow's JSON
parser and compute kernels and numpy's loops release the GIL, so two files are parsed at once on two cores without
the cost of processes (no start-up, nothing pickled). Results and skip counts are put together in the files' order,
so they do not depend on which thread finished first: the latest label still wins by file order, and the first
example of a skipped line is still that of the first file that has one. ``key_codes`` turns the join keys into
integers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.capture_predictions import (
    BAD_PREDICTION,
    CAPTURE_SCHEMA,
    MISSING_ID,
    MULTI,
    MULTI_RECORD,
    OK,
    Extract,
    extract,
    join_keys,
    payloads,
)
from monitoring.capture_times import BAD_TIME, inference_times
from monitoring.ground_truth import read_ground_truth
from monitoring.jsonl_tables import SkipCounter, read_jsonl_lines
from monitoring.profile import usable_cpus

MAX_THREADS = 8  # files read at once, at most (and at most one a core)
KEY_PARTS = 32  # the join keys are encoded in this many parts (at most 256)
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


@dataclass
class CapturePredictions:
    """The capture records in the window with a readable prediction: their join keys and values (the
    probability for binary), with the numbers of records read and outside the window."""

    keys: list[pa.Array] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    records: int = 0
    outside: int = 0


def _side_by_side(files: Sequence[object]) -> bool:
    """Whether there are files enough (two a thread) that reading them side by side keeps every core busy: then
    each is parsed on its own thread (``read_jsonl(threads=False)``); with fewer, each file's parse uses all cores."""
    return len(files) >= 2 * min(usable_cpus(), MAX_THREADS)


def in_threads(
    work: Callable[[_Item], _Result], items: Sequence[_Item], weights: Sequence[float] | None = None
) -> list[_Result]:
    """``[work(item) for item in items]`` in that order, the items shared among threads (one a core). With
    ``weights`` (file sizes) the heaviest items are started first, so that no core is left alone with a large one
    at the end; the results still come back in the items' order."""
    workers = min(len(items), usable_cpus(), MAX_THREADS)
    if workers <= 1:
        return [work(item) for item in items]
    order = list(range(len(items)))
    if weights is not None:
        order.sort(key=lambda index: -weights[index])  # stable: equal weights in the items' order
    results: list = [None] * len(items)
    with ThreadPoolExecutor(workers) as pool:
        for index, result in zip(order, pool.map(lambda index: work(items[index]), order), strict=True):
            results[index] = result
    return results


def _sizes(paths: Sequence[Path]) -> list[float]:
    """Each file's size in bytes (0 when it cannot be read: its reading says why)."""
    sizes = []
    for path in paths:
        try:
            sizes.append(float(os.path.getsize(path)))
        except OSError:
            sizes.append(0.0)
    return sizes


def _micros(moment: datetime | None) -> pa.Scalar | None:
    return None if moment is None else pa.scalar(moment, pa.timestamp("us", tz="UTC"))


def _window(meta: pa.ChunkedArray, low, high, where: str, lines, found: CapturePredictions, skips) -> pa.Array:
    """Which records are in the window [low, high] (``lines``: each record's line number, for the examples)."""
    times, good_time = inference_times(meta)
    bad = pc.invert(good_time)
    skips.skip_rows(BAD_TIME, _count(bad), where, "inferenceTime is not an ISO-8601 time", lines, bad)
    inside = good_time
    if low is not None:
        inside = pc.and_(inside, pc.greater_equal(times, low))
    if high is not None:
        inside = pc.and_(inside, pc.less_equal(times, high))
    found.outside += _count(pc.and_(good_time, pc.invert(inside)))
    return inside


def capture_file(
    path: Path, at: Extract, binary: bool, low, high, threads: bool = True
) -> tuple[CapturePredictions, SkipCounter]:
    """Keys and values (read ``at``) of one capture file's records in the window [low, high] (UTC microsecond
    scalars, None: no bound), and what was skipped (each reason's example with its line). ``threads``: as
    ``read_jsonl``'s."""
    found, skips, where = CapturePredictions(), SkipCounter(), str(path)
    for table, lines in read_jsonl_lines(Path(path), CAPTURE_SCHEMA, skips, threads=threads):
        found.records += table.num_rows
        meta = table.column("eventMetadata")
        inside = _window(meta, low, high, where, lines, found, skips)
        keys = join_keys(meta)
        has_key = pc.is_valid(keys)
        no_key = pc.and_(inside, pc.invert(has_key))
        skips.skip_rows(MISSING_ID, _count(no_key), where, "a record without eventId or inferenceId", lines, no_key)
        chosen = pc.and_(inside, has_key)
        if not _count(chosen):
            continue
        chosen_lines = lines[np.asarray(pc.fill_null(chosen, False).to_numpy(zero_copy_only=False), dtype=bool)]
        output = pc.filter(pc.struct_field(table.column("captureData"), "endpointOutput"), chosen)
        text, is_json, readable = payloads(output, skips, where, chosen_lines)
        values, status = extract(text, is_json, at)
        readable_np = np.asarray(readable.to_numpy(zero_copy_only=False), dtype=bool)
        multi, bad = (status == MULTI) & readable_np, (status > MULTI) & readable_np
        skips.skip_rows(MULTI_RECORD, int(multi.sum()), where, "a request with several records", chosen_lines, multi)
        what = "a prediction that is missing or not a finite number"
        skips.skip_rows(BAD_PREDICTION, int(bad.sum()), where, what, chosen_lines, bad)
        keep = readable_np & (status == OK)
        if binary:
            out_of_range = keep & ((values < 0) | (values > 1))
            what = "a probability outside [0, 1]"
            skips.skip_rows(BAD_PREDICTION, int(out_of_range.sum()), where, what, chosen_lines, out_of_range)
            keep &= ~out_of_range
        kept = pc.filter(pc.filter(keys, chosen), pa.array(keep))
        found.keys.extend(kept.chunks if isinstance(kept, pa.ChunkedArray) else [kept])
        found.values.append(values[keep])
    return found, skips


def _gather_capture(parts: list, skips: SkipCounter) -> CapturePredictions:
    found = CapturePredictions()
    for part, part_skips in parts:
        found.keys.extend(part.keys)
        found.values.extend(part.values)
        found.records += part.records
        found.outside += part.outside
        skips.add(part_skips)
    return found


def _truth_file(path: Path, threads: bool = True) -> tuple[tuple[pa.ChunkedArray, np.ndarray, int], SkipCounter]:
    skips = SkipCounter()
    return read_ground_truth([path], skips, threads), skips


def _gather_truth(parts: list, skips: SkipCounter) -> tuple[pa.ChunkedArray, np.ndarray, int]:
    chunks: list[pa.Array] = []
    labels: list[np.ndarray] = []
    records = 0
    for (keys, values, count), part_skips in parts:
        chunks.extend(keys.chunks)
        labels.append(values)
        records += count
        skips.add(part_skips)
    return pa.chunked_array(chunks, pa.string()), (np.concatenate(labels) if labels else np.empty(0)), records


def read_capture_and_truth(
    capture_files: Sequence[Path],
    truth_files: Sequence[Path],
    at: Extract,
    binary: bool,
    start: datetime | None,
    end: datetime | None,
    skips: tuple[SkipCounter, SkipCounter],
) -> tuple[CapturePredictions, tuple[pa.ChunkedArray, np.ndarray, int]]:
    """``capture_file`` and ``read_ground_truth`` of every file (``skips``: the capture's counter, the ground
    truth's) by one set of threads, the largest files first (so no core waits alone at the end), put together in the
    files' order."""
    low, high = _micros(start), _micros(end)
    capture_files, truth_files = list(capture_files), list(truth_files)

    files = [*capture_files, *truth_files]
    threads = not _side_by_side(files)

    def work(item: tuple[int, Path]) -> tuple:
        index, path = item
        if index < len(capture_files):
            return capture_file(path, at, binary, low, high, threads)
        return _truth_file(path, threads)

    parts = in_threads(work, list(enumerate(files)), _sizes(files))
    count = len(capture_files)
    return _gather_capture(parts[:count], skips[0]), _gather_truth(parts[count:], skips[1])


def _encode(keys: pa.Array) -> tuple[np.ndarray, int]:
    encoded = pc.dictionary_encode(keys)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(encoded.dictionary)


def _parts(keys: pa.StringArray, count: int) -> np.ndarray:
    """A part (0..count-1, uint8) for each key from its length and its last three bytes (a byte before a shorter
    key's start counts as 0): equal keys, one part."""
    offsets = np.frombuffer(keys.buffers()[1], np.int32)[keys.offset : keys.offset + len(keys) + 1]
    data = np.frombuffer(keys.buffers()[2], np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    lengths = (ends - starts).astype(np.uint32)
    mixed = lengths
    for back in (3, 2, 1):  # uint32 arithmetic, wrapping: the same for equal keys
        byte = data[np.minimum(np.maximum(ends - back, starts), len(data) - 1)]
        mixed = mixed * np.uint32(31) + byte * (lengths >= back)
    return (mixed % count).astype(np.uint8)


def key_codes(keys: pa.Array, parts: int = KEY_PARTS) -> tuple[np.ndarray, int]:
    """(an integer code for each key, the number of codes): equal keys get equal codes. Arrow's hash encoding, the
    keys first split in ``parts`` by a function of their bytes (equal keys land in one part): a part's hash table
    fits in a core's cache (4x faster than one table of a million keys here), and the parts are encoded side by
    side."""
    if len(keys) < 1 << 16 or keys.null_count or not isinstance(keys, pa.StringArray) or not keys.buffers()[2]:
        return _encode(keys)
    part = _parts(keys, parts)
    order = np.argsort(part, kind="stable")  # a radix sort of bytes: the keys grouped by part
    bounds = np.concatenate(([0], np.cumsum(np.bincount(part, minlength=parts))))
    # each part's keys gathered by its own thread, then encoded
    encoded = in_threads(lambda i: _encode(keys.take(pa.array(order[bounds[i] : bounds[i + 1]]))), list(range(parts)))
    sizes = np.array([size for _, size in encoded], dtype=np.int64)
    firsts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    codes = np.empty(len(keys), dtype=np.int64)
    codes[order] = np.concatenate([part_codes + first for (part_codes, _), first in zip(encoded, firsts, strict=True)])
    return codes, int(sizes.sum())


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)
