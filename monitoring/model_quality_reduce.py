"""The merge stage of a model-quality check across instances: the hosts' partials as one join.

A one-instance job (``analysis_stage=merge``) reads every ``model_quality_partial-<host>.parquet`` (env
``partial_profiles``) and hands the merged pairs and counts to ``run_model_quality_check``, so it writes what a
one-host check writes (statistics.json, constraint_violations.json, the exit message, the CloudWatch metrics).

- **Pairs:** the hosts' matched pairs, concatenated in the job's host order. Binary partials are sorted by score;
  the statistics sort the concatenation by score with a stable sort, which merges the sorted runs. auc, au_prc and
  the curves are sums of integer counts at each distinct score, so they equal one host's bit for bit; so do the
  confusion matrix and the counting metrics. Regression sums are taken in the concatenated order, one host's in file
  order: equal up to the order of floating-point additions (within 1e-12 relative; identical when each host holds
  a contiguous run of the files, as with contiguous assignment).
- **Standard deviations:** the subsamples are chosen by the hash of each record's key (``monitoring.subsample``),
  so they are the same records as on one host, whichever host read them.
- **Counts:** capture-side counts add up (``capture_records``, ``capture_outside_window``, ``capture_in_window``,
  ``matched``, ``unmatched_capture``, ``multi_record_requests``, ``malformed.capture.*``). Ground-truth counts
  (``ground_truth_records``, ``ground_truth_labels``, ``duplicate_labels``, ``malformed.ground_truth.*``) are the
  same on every host, since every host reads all the labels: taken once, and a host that disagrees fails the merge
  (its ground truth was not FullyReplicated). ``unmatched_ground_truth`` and ``duplicate_capture_keys`` are
  recounted from the keys of all hosts, so a key captured on two hosts counts as on one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.labelled import LabelledPredictions
from monitoring.model_quality_merge import MergeResult
from monitoring.model_quality_partial import ModelQualityPartial, ModelQualityPartialError, read_partials

LABEL_SIDE = ("ground_truth_records", "ground_truth_labels", "duplicate_labels")
RECOUNTED = ("unmatched_ground_truth", "duplicate_capture_keys")


def _label_side(name: str) -> bool:
    return name in LABEL_SIDE or name.startswith("malformed.ground_truth.")


def _counts(partials: Sequence[ModelQualityPartial], matched_keys: pa.Array, all_keys: pa.Array) -> dict[str, int]:
    first = partials[0]
    counts: dict[str, int] = {}
    for partial in partials:
        labels = {k: v for k, v in partial.counts.items() if _label_side(k)}
        expected = {k: v for k, v in first.counts.items() if _label_side(k)}
        if labels != expected:
            raise ModelQualityPartialError(
                f"hosts {first.host} and {partial.host} read different ground truth ({expected} against {labels}): "
                "the ground-truth input must be FullyReplicated"
            )
        for name, value in partial.counts.items():
            if not _label_side(name) and name not in RECOUNTED:
                counts[name] = counts.get(name, 0) + value
    counts.update({k: v for k, v in first.counts.items() if _label_side(k)})
    counts["unmatched_ground_truth"] = first.counts.get("ground_truth_labels", 0) - len(pc.unique(matched_keys))
    counts["duplicate_capture_keys"] = len(all_keys) - len(pc.unique(all_keys))
    return {name: counts[name] for name in _ordered(first.counts, counts)}


def _ordered(reference: dict[str, int], counts: dict[str, int]) -> list[str]:
    """The counts' names in the join's order: its own counts, then ``malformed.<side>.<reason>`` sorted (capture
    before ground_truth), whichever hosts met them."""
    malformed = sorted(name for name in counts if name.startswith("malformed."))
    return [name for name in reference if name in counts and not name.startswith("malformed.")] + malformed


def _keys(arrays: Sequence[np.ndarray]) -> pa.Array:
    chunks = [pa.array(np.asarray(a, dtype=object), pa.string()) for a in arrays]
    return pa.chunked_array(chunks, type=pa.string()).combine_chunks()


def merge_partials(partials: Sequence[ModelQualityPartial]) -> MergeResult:
    """One join's pairs, counts and examples from the partials of every host (see the module docstring)."""
    if not partials:
        raise ModelQualityPartialError("no model-quality partials to merge")
    binary = partials[0].settings.get("problem_type") == "binary"
    pairs = [p.pairs for p in partials]
    keys = np.concatenate([np.asarray(p.keys, dtype=object) for p in pairs])
    merged = LabelledPredictions(
        keys,
        np.concatenate([p.labels for p in pairs]),
        np.concatenate([p.predictions for p in pairs]),
        np.concatenate([p.probabilities for p in pairs if p.probabilities is not None]) if binary else None,
    )
    matched_keys = _keys([p.keys for p in pairs])
    all_keys = _keys([*(p.keys for p in pairs), *(p.unmatched_keys for p in partials)])
    examples: dict[str, str] = {}
    for partial in partials:
        for reason, example in partial.examples.items():
            examples.setdefault(reason, f"{partial.host}: {example}")
    return MergeResult(merged, _counts(partials, matched_keys, all_keys), examples)


def merge_partials_in(directory: Path) -> MergeResult:
    """``merge_partials`` of every partial under ``directory`` (one complete job: each host exactly once)."""
    return merge_partials(read_partials(Path(directory)))
