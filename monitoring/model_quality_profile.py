"""The profile stage of a model-quality check across instances: this host's capture joined with all ground truth.

Each host calls ``merge_capture_with_ground_truth`` on its capture files (ShardedByS3Key) and every ground-truth
file (FullyReplicated): every label is on every host, so a record is matched on its host exactly as on one host,
and a key captured in several records (on one host or on several) has each of its records joined, as one host
joins them. What a host cannot see alone is which keys other hosts captured too: the partial therefore carries
the keys of its unmatched predictions beside its matched pairs, and the merge stage recounts
``duplicate_capture_keys`` and ``unmatched_ground_truth`` from the keys of all hosts.

The join hands back the keys of the predictions it left unmatched (``MergeResult.unmatched_keys``), so each host
reads its shard once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from monitoring.host_role import HostRole
from monitoring.labelled import LabelledPredictions
from monitoring.model_quality_merge import MergeResult, merge_capture_with_ground_truth
from monitoring.model_quality_partial import ModelQualityPartial, write_partial

log = logging.getLogger(__name__)


def _unmatched_keys(merged: MergeResult) -> np.ndarray:
    """Keys of this host's predictions without a label, in record order."""
    keys = merged.unmatched_keys
    if keys is None or not len(keys):
        return np.empty(0, dtype=object)
    return np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)


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
    unmatched = _unmatched_keys(merged)
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
