"""The KLL sketch reproduces Deequ's sketch exactly and keeps its rank-error bound."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mlops_errors import MlopsError
from monitoring.kll import KLLSketch
from tests.conftest import QUALITY_BASELINE


class SequentialDeequSketch:
    """A literal, one-item-at-a-time port of Deequ's QuantileNonSample / NonSampleCompactor (the oracle)."""

    def __init__(self, k: int = 2048, c: float = 0.64) -> None:
        self.k, self.c = k, c
        self.buffers: list[list[float]] = []
        self.num_compress: list[int] = []
        self.offsets: list[int] = []
        self.actual = 0
        self.total = 0
        self.expand()

    def capacity(self, h: int) -> int:
        return 2 * (math.ceil(self.k * self.c**h / 2) + 1)

    def expand(self) -> None:
        self.buffers.append([])
        self.num_compress.append(0)
        self.offsets.append(0)
        self.total = sum(self.capacity(h) for h in range(len(self.buffers)))

    def compact(self, h: int) -> list[float]:
        buf = self.buffers[h]
        items = len(buf)
        even = items - items % 2
        if self.num_compress[h] % 2 == 1:
            self.offsets[h] = 1 - self.offsets[h]
        ordered = sorted(buf[:even])
        out = ordered[self.offsets[h] : even : 2]
        self.buffers[h] = [buf[items - 1]] if items % 2 else []
        self.num_compress[h] += 1
        return out

    def update(self, x: float) -> None:
        self.buffers[0].append(x)
        self.actual += 1
        if self.actual > self.total:
            for h in range(len(self.buffers)):
                if len(self.buffers[h]) >= self.capacity(h):
                    if h + 1 >= len(self.buffers):
                        self.expand()
                    self.buffers[h + 1].extend(self.compact(h))
                    self.actual = sum(len(b) for b in self.buffers)
                    break


def test_reproduces_the_container_sketch_and_buckets_of_the_reference_baseline():
    reference = json.loads((QUALITY_BASELINE / "statistics.json").read_text())
    data = np.loadtxt(QUALITY_BASELINE / "baseline_dataset.csv", delimiter=",")
    for column, feature in enumerate(reference["features"]):
        kll = feature["numerical_statistics"]["distribution"]["kll"]
        sketch = KLLSketch()
        sketch.update(data[:, column])
        assert sketch.to_dict() == kll["sketch"], feature["name"]
        assert sketch.buckets(data[:, column].min(), data[:, column].max()) == kll["buckets"], feature["name"]


@pytest.mark.parametrize("chunk", [1, 7, 1000, 65_536])
def test_bulk_updates_equal_the_sequential_algorithm_on_multi_level_data(chunk):
    values = np.random.default_rng(3).normal(size=40_000).round(3)
    oracle = SequentialDeequSketch()
    for x in values.tolist():
        oracle.update(x)
    sketch = KLLSketch()
    for start in range(0, values.size, chunk):
        sketch.update(values[start : start + chunk])
    assert len(sketch.levels) >= 4
    assert [level.tolist() for level in sketch.levels] == oracle.buffers


def test_small_parameters_equal_the_sequential_algorithm():
    values = np.random.default_rng(5).integers(0, 50, size=3_000).astype(float)
    oracle = SequentialDeequSketch(k=16, c=0.5)
    for x in values.tolist():
        oracle.update(x)
    sketch = KLLSketch(16, 0.5)
    sketch.update(values)
    assert [level.tolist() for level in sketch.levels] == oracle.buffers


def test_rank_error_for_a_million_values_stays_within_the_kll_bound():
    n = 1_000_000
    values = np.random.default_rng(11).lognormal(size=n)
    sketch = KLLSketch()
    for start in range(0, n, 100_000):
        sketch.update(values[start : start + 100_000])
    assert sketch.count == n
    # Each compaction of level h moves any rank by at most 2**h: the deterministic bound of this variant.
    bound = sum(c.num_compress << h for h, c in enumerate(sketch._compactors))
    ordered = np.sort(values)
    probes = np.quantile(values, np.linspace(0.001, 0.999, 199))
    ranks = np.rint(sketch.cdf(probes) * n)  # weighted items at or below each probe
    worst = max(abs(ranks - np.searchsorted(ordered, probes, side="right")))
    assert worst <= bound
    assert worst / n < 0.005  # far inside the bound in practice: well under half a percent
    held = sum(level.size for level in sketch.levels)
    assert held < 8_000  # memory is the sketch's, not the data's


def test_serialisation_round_trip_keeps_counts_and_ranks():
    left = KLLSketch()
    left.update(np.random.default_rng(2).normal(size=30_000))
    restored = KLLSketch.from_dict(json.loads(json.dumps(left.to_dict())))
    assert restored.count == left.count
    assert [level.tolist() for level in restored.levels] == [level.tolist() for level in left.levels]
    points = np.linspace(-3, 3, 13)
    assert restored.cdf(points).tolist() == left.cdf(points).tolist()


def test_invalid_sketch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"where\.json: invalid KLL sketch"):
        KLLSketch.from_dict({"parameters": {"c": 0.64}, "data": [[1.0]]}, "where.json")


def deequ_merge(left: SequentialDeequSketch, right: SequentialDeequSketch) -> SequentialDeequSketch:
    """A literal port of Deequ's ``QuantileNonSample.merge`` on the oracle (left keeps its offsets)."""
    while len(left.buffers) < len(right.buffers):
        left.expand()
    for h, buffer in enumerate(right.buffers):
        left.buffers[h] = left.buffers[h] + buffer
    left.actual = sum(len(b) for b in left.buffers)
    while left.actual >= left.total:
        for h in range(len(left.buffers)):
            if len(left.buffers[h]) >= left.capacity(h):
                if h + 1 >= len(left.buffers):
                    left.expand()
                left.buffers[h + 1].extend(left.compact(h))
                left.actual = sum(len(b) for b in left.buffers)
                break
    return left


def _shards(values: np.ndarray, parts: int) -> list[np.ndarray]:
    return [values[i::parts] for i in range(parts)]


@pytest.mark.parametrize(("k", "c", "n", "parts"), [(2048, 0.64, 30_000, 3), (16, 0.5, 2_000, 2), (16, 0.5, 5_000, 5)])
def test_merge_equals_deequs_merge_item_for_item(k, c, n, parts):
    values = np.random.default_rng(n).normal(size=n).round(4)
    oracle = SequentialDeequSketch(k, c)  # Spark's aggregation merges partition sketches into an empty one
    merged = KLLSketch(k, c)
    for shard in _shards(values, parts):
        part = SequentialDeequSketch(k, c)
        for x in shard.tolist():
            part.update(x)
        oracle = deequ_merge(oracle, part)
        sketch = KLLSketch(k, c)
        sketch.update(shard)
        merged.merge(sketch)
    assert [level.tolist() for level in merged.levels] == oracle.buffers
    assert merged.count == n


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_merged_ranks_stay_within_the_error_weight(parts):
    n = 300_000
    values = np.random.default_rng(parts).lognormal(size=n)
    merged = KLLSketch()
    for shard in _shards(values, parts):
        sketch = KLLSketch()
        sketch.update(shard)
        merged.merge(sketch)
    one = KLLSketch()
    one.update(values)
    assert merged.count == one.count == n
    ordered = np.sort(values)
    probes = np.concatenate([np.quantile(values, np.linspace(0.0005, 0.9995, 400)), ordered[:3], ordered[-3:]])
    exact = np.searchsorted(ordered, probes, side="right")
    merged_ranks = np.rint(merged.cdf(probes) * n)
    one_ranks = np.rint(one.cdf(probes) * n)
    assert max(abs(merged_ranks - exact)) <= merged.error_weight
    assert max(abs(one_ranks - exact)) <= one.error_weight
    assert max(abs(merged_ranks - one_ranks)) <= merged.error_weight + one.error_weight
    # the stated bound is loose (about 0.5-0.7% of n per sketch here); the observed difference is far smaller
    assert (merged.error_weight + one.error_weight) / n < 0.015
    assert max(abs(merged_ranks - one_ranks)) / n < 0.003


def test_error_weight_of_one_pass_is_the_compactions_weight():
    sketch = KLLSketch()
    sketch.update(np.random.default_rng(1).normal(size=100_000))
    assert sketch.error_weight == sum(c.num_compress << h for h, c in enumerate(sketch._compactors)) > 0


def test_merging_an_empty_sketch_changes_nothing_below_capacity():
    sketch = KLLSketch()
    sketch.update(np.arange(1000.0))
    before = [level.tolist() for level in sketch.levels]
    sketch.merge(KLLSketch())
    assert [level.tolist() for level in sketch.levels] == before
    assert sketch.error_weight == 0


def test_merge_of_different_parameters_is_refused():
    with pytest.raises(ValueError, match="different parameters"):
        KLLSketch(2048).merge(KLLSketch(1024))


def test_state_round_trip_is_exact_and_keeps_compacting_alike():
    values = np.random.default_rng(4).normal(size=50_000)
    original = KLLSketch()
    original.update(values[:30_000])
    restored = KLLSketch.from_state(json.loads(json.dumps(original.to_state())))
    assert restored.to_state() == original.to_state()
    original.update(values[30_000:])
    restored.update(values[30_000:])  # offsets and compaction counts came back: the same future compactions
    assert restored.to_state() == original.to_state()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_compress": [0]}, "one entry per level"),
        ({"offsets": "twos"}, "bad compaction state"),
        ({"error_weight": -1}, "error_weight must be a non-negative integer"),
        ({"levels": "x"}, "invalid KLL sketch"),
    ],
)
def test_invalid_state_is_a_clear_error(change, message):
    sketch = KLLSketch(16, 0.5)
    sketch.update(np.arange(100.0))
    state = sketch.to_state()
    if change.get("offsets") == "twos":
        change = {"offsets": [2] * len(state["offsets"])}
    state.update(change)
    with pytest.raises(ValueError, match=message):
        KLLSketch.from_state(state, "partial.json: column 'x'")


@pytest.mark.parametrize(
    ("sketch", "message"),
    [
        ({"parameters": {"c": "a", "k": -1}, "data": [[1.0]]}, "could not convert string to float"),
        ({"parameters": {"c": 0.64, "k": float("inf")}, "data": [[1.0]]}, "cannot convert float infinity"),
        ({"parameters": {"c": 0.64, "k": 2048}, "data": [[1.0, "x"]]}, "could not convert string to float"),
    ],
)
def test_a_damaged_sketch_is_the_users_error_not_a_bug(sketch, message):
    with pytest.raises(MlopsError, match=rf"statistics\.json: .*invalid KLL sketch \(.*{message}"):
        KLLSketch.from_dict(sketch, "statistics.json: features[0]")
    state = {"k": 16, "c": 0.5, "levels": [[1.0]], "num_compress": [0], "offsets": [2], "error_weight": 0}
    with pytest.raises(MlopsError, match="bad compaction state"):
        KLLSketch.from_state(state, "partial.json")
