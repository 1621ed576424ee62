"""The profile stage of a model-quality check across instances: this host's capture joined with all ground truth.

Each host calls ``merge_capture_with_ground_truth`` on its capture files (ShardedByS3Key) and every ground-truth
file (FullyReplicated): every label is on every host, so a record is matched on its host exactly as on one host,
and a key captured in several records (on one host or on several) has each of its records joined, as one host
joins them. What a host cannot see alone is which keys other hosts captured too: the partial therefore carries
the keys of its unmatched predictions beside its matched pairs, and the merge stage recounts
``duplicate_capture_keys`` and ``unmatched_ground_truth`` from the keys of all hosts.

The join does not hand back the keys of the predictions it left unmatched, so when a host has some, its capture is
read once more by the join's own reader for the join keys of its in-window predictions (``window_keys``);
unmatched = those whose key has no label, i.e. is not among the matched keys (a key is labelled or not for every
record). Hosts whose predictions all matched skip that read; one that has some reads its shard twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.capture_predictions import Extract
from monitoring.jsonl_tables import SkipCounter
from monitoring.labelled import LabelledPredictions
from monitoring.model_quality_merge import MergeResult, merge_capture_with_ground_truth
from monitoring.model_quality_partial import ModelQualityPartial, write_partial
from monitoring.model_quality_read import read_capture
from monitoring.shard import HostRole

log = logging.getLogger(__name__)


def window_keys(
    files: Sequence[Path],
    *,
    binary: bool,
    at: Extract,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pa.Array:
    """The join keys of the capture records the join keeps (in the window, with a key and a readable, finite
    prediction, a probability in [0, 1] for binary), in record order: the join's own reader
    (``monitoring.model_quality_read.read_capture``). ``at``: where the joined value is read."""
    found = read_capture(list(files), at, binary, start, end, SkipCounter())  # the join counted the skips already
    return pa.chunked_array(found.keys, type=pa.string()).combine_chunks()


def _unmatched_keys(merged: MergeResult, files: Sequence[Path], binary: bool, at: Extract, start, end) -> np.ndarray:
    """Keys of this host's predictions without a label (a second read of the capture, only when there are some)."""
    if not merged.counts.get("unmatched_capture"):
        return np.empty(0, dtype=object)
    keys = window_keys(files, binary=binary, at=at, start=start, end=end)
    if len(keys) != merged.counts.get("capture_in_window"):
        log.warning(
            "the key read found %d predictions in the window, the join %s: duplicate_capture_keys may differ from a "
            "one-host check",
            len(keys),
            merged.counts.get("capture_in_window"),
        )
    labelled = pa.array(np.asarray(merged.pairs.keys, dtype=object), pa.string())
    unmatched = pc.filter(keys, pc.invert(pc.is_in(keys, value_set=labelled)))
    return np.asarray(unmatched.to_numpy(zero_copy_only=False), dtype=object)


def _by_score(pairs: LabelledPredictions) -> LabelledPredictions:
    """Binary pairs sorted by score (stable): the merge stage merges the hosts' sorted runs."""
    scores = pairs.probabilities if pairs.probabilities is not None else pairs.predictions
    order = np.argsort(scores, kind="stable")
    probabilities = None if pairs.probabilities is None else pairs.probabilities[order]
    return LabelledPredictions(pairs.keys[order], pairs.labels[order], pairs.predictions[order], probabilities)


def profile_capture(
    capture_files: Sequence[Path],
    ground_truth_files: Sequence[Path],
    role: HostRole,
    *,
    problem_type: str,
    inference_attribute: str | None = None,
    probability_attribute: str | None = None,
    probability_threshold: float = 0.5,
    start: datetime | None = None,
    end: datetime | None = None,
) -> ModelQualityPartial:
    """This host's join of ``capture_files`` with all ``ground_truth_files`` as a partial (not yet written)."""
    capture_files, binary = list(capture_files), problem_type == "binary"
    merged = merge_capture_with_ground_truth(
        capture_files,
        list(ground_truth_files),
        problem_type=problem_type,
        inference_attribute=inference_attribute,
        probability_attribute=probability_attribute,
        probability_threshold=probability_threshold,
        start=start,
        end=end,
    )
    at = Extract(
        (probability_attribute if probability_attribute is not None else inference_attribute)
        if binary
        else inference_attribute
    )
    unmatched = _unmatched_keys(merged, capture_files, binary, at, start, end)
    settings = {
        "problem_type": problem_type,
        "inference_attribute": inference_attribute,
        "probability_attribute": probability_attribute,
        "probability_threshold": probability_threshold,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }
    pairs = _by_score(merged.pairs) if binary else merged.pairs
    return ModelQualityPartial(
        role.current_host, role.hosts, settings, pairs, unmatched, dict(merged.counts), dict(merged.examples)
    )


def run_profile_stage(
    capture_files: Sequence[Path], ground_truth_files: Sequence[Path], output: Path, role: HostRole, **settings
) -> tuple[int, str]:
    """Profile this host's shard and write its partial into ``output``; (exit code, exit message)."""
    partial = profile_capture(capture_files, ground_truth_files, role, **settings)
    path = write_partial(partial, output)
    log.info("model-quality profile of %s: %s", role.current_host, partial.counts)
    return 0, (
        f"Completed: Job completed successfully. Host {role.current_host} of {len(role.hosts)} joined "
        f"{len(partial.pairs)} predictions with ground truth into {path}; the merge stage writes the results."
    )
