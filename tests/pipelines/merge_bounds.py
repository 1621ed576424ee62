"""Issue 13's equality between a one-host analysis and a merged (profile + merge) one, on the files they wrote.

Integer fields, min / max, value frequencies and constraints are identical; sum, mean and std_dev agree within 1e-12
relative; KLL bucket counts within twice the sketches' error weights (W1 + W2, ``KLLSketch.error_weight``), which
the caller computes from the one-host profile and the merged partial profiles."""

from __future__ import annotations

from pathlib import Path

from monitoring.analyzer import read_dataset
from monitoring.partial_profile import read_partials
from monitoring.profile import DatasetProfile
from monitoring.profile_merge import merge_profiles
from monitoring.report import ReadReport
from monitoring.sources import DatasetFormat

RELATIVE = 1e-12


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def error_weights(dataset: Path, partials: Path, fmt: DatasetFormat | None = None, **read) -> dict[str, float]:
    """Per column, W1 + W2: the one-host sketch's error weight (profiling ``dataset`` in process) plus the merged
    sketch's (merging the partial profiles in ``partials``)."""
    one = DatasetProfile().add_all(read_dataset(Path(dataset), fmt, ReadReport(), **read))
    merged, _ = merge_profiles(read_partials(Path(partials)))
    return {
        name: one.columns[name].sketch.error_weight + merged.columns[name].sketch.error_weight
        for name in one.columns
        if name in merged.columns
    }


def assert_statistics_within_bounds(one: dict, merged: dict, weights: dict[str, float]) -> None:
    """``one`` and ``merged`` are statistics.json documents of the same data."""
    assert one["dataset"] == merged["dataset"]
    assert [f["name"] for f in one["features"]] == [f["name"] for f in merged["features"]]
    for fa, fb in zip(one["features"], merged["features"], strict=True):
        assert fa["inferred_type"] == fb["inferred_type"], fa["name"]
        if "numerical_statistics" not in fa:
            assert fa == fb  # counts, distinct count, categorical buckets: exact
            continue
        na, nb = fa["numerical_statistics"], fb["numerical_statistics"]
        assert (na["common"], na["min"], na["max"]) == (nb["common"], nb["min"], nb["max"]), fa["name"]
        for key in ("sum", "mean", "std_dev"):
            assert rel(na[key], nb[key]) <= RELATIVE, (fa["name"], key, na[key], nb[key])
        buckets_a, buckets_b = na["distribution"]["kll"]["buckets"], nb["distribution"]["kll"]["buckets"]
        assert [(x["lower_bound"], x["upper_bound"]) for x in buckets_a] == [
            (x["lower_bound"], x["upper_bound"]) for x in buckets_b
        ], fa["name"]
        bound = 2 * weights[fa["name"]]
        for x, y in zip(buckets_a, buckets_b, strict=True):
            assert abs(x["count"] - y["count"]) <= bound, (fa["name"], x, y, bound)
