"""Deequ's KLL quantile sketch (``QuantileNonSample``), reproduced item for item.

SageMaker Model Monitor writes the raw compactor buffers of this sketch into statistics.json
(``distribution.kll.sketch.data``: one list per level, level ``h`` weighing ``2**h``). To make baselines
interchangeable with the container's, this class follows Deequ's algorithm exactly:

- compactor capacity at level ``h`` is ``2 * (ceil(k * c**h / 2) + 1)`` (k=2048, c=0.64 by default);
- ``update`` appends to level 0 and, once the items held exceed the total capacity, ``condense`` compacts
  the lowest full level once (sort all but an odd trailing item, keep every other item from ``offset``);
- the offset alternates deterministically: it flips before every odd-numbered compaction of a level
  (Deequ ships the random choice for even compactions commented out).

Updates are applied in bulk with numpy between condense points, which is exact: between two condense calls
the sequential algorithm only appends.

Merging (``merge``) is Deequ's ``QuantileNonSample.merge``, which Spark's aggregation applies to partition sketches:
the other sketch's buffers are appended level by level to this one's (this sketch's offsets and compaction counts
are kept, the other's dropped), then ``condense`` runs while the items held are at least the total capacity.

Error bound. Compacting a sorted buffer of level ``h`` (weight ``2**h``) changes the estimated rank of any value
(count at or below it, or strictly below it) by at most ``2**h``; appending buffers changes no rank. So a sketch's
rank error is at most ``error_weight``, the sum of ``2**h`` over every compaction that built it, counted across
shards and merges (``merge`` adds the other sketch's). Two sketches of the same values (one pass, or shards merged)
therefore differ by at most ``a.error_weight + b.error_weight`` in any rank, by twice that in a bucket count, and
their CDFs by that sum over ``n``. ``error_weight`` lives in the partial-profile state (``to_state``), not in
statistics.json, whose sketch holds only the buffers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from monitoring.errors import AnalyzerInputError

DEFAULT_SKETCH_SIZE = 2048
DEFAULT_SHRINKING_FACTOR = 0.64


class _Compactor:
    """One level of the sketch: a buffer of items plus Deequ's offset state."""

    __slots__ = ("num_compress", "offset", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.size = 0
        self.num_compress = 0
        self.offset = 0

    def items(self) -> np.ndarray:
        if not self.parts:
            return np.empty(0, dtype=np.float64)
        if len(self.parts) > 1:
            self.parts = [np.concatenate(self.parts)]
        return self.parts[0]

    def append(self, values: np.ndarray) -> None:
        if values.size:
            self.parts.append(values)
            self.size += int(values.size)

    def compact(self) -> np.ndarray:
        buffer = self.items()
        items = buffer.size
        even = items - (items % 2)
        if self.num_compress % 2 == 1:
            self.offset = 1 - self.offset
        ordered = np.sort(buffer[:even], kind="stable")
        output = ordered[self.offset :: 2]
        self.parts = [buffer[items - 1 : items].copy()] if items % 2 else []
        self.size = items % 2
        self.num_compress += 1
        return output


class KLLSketch:
    """Quantile sketch compatible with Deequ / SageMaker Model Monitor."""

    def __init__(self, sketch_size: int = DEFAULT_SKETCH_SIZE, shrinking_factor: float = DEFAULT_SHRINKING_FACTOR):
        if sketch_size < 2:
            raise ValueError(f"KLL sketch size must be at least 2, got {sketch_size}")
        if not 0.0 < shrinking_factor <= 1.0:
            raise ValueError(f"KLL shrinking factor must be in (0, 1], got {shrinking_factor}")
        self.sketch_size = int(sketch_size)
        self.shrinking_factor = float(shrinking_factor)
        self._compactors: list[_Compactor] = []
        self._actual_size = 0
        self._total_capacity = 0
        self.error_weight = 0  # sum of 2**h over the compactions behind this sketch: its rank-error bound
        self._expand()

    # -- Deequ's mechanics -------------------------------------------------------------------------
    def _capacity(self, height: int) -> int:
        return 2 * (math.ceil(self.sketch_size * self.shrinking_factor**height / 2) + 1)

    def _expand(self) -> None:
        self._compactors.append(_Compactor())
        self._total_capacity = sum(self._capacity(h) for h in range(len(self._compactors)))

    def _condense(self) -> bool:
        for height, compactor in enumerate(self._compactors):
            if compactor.size >= self._capacity(height):
                if height + 1 >= len(self._compactors):
                    self._expand()
                self._compactors[height + 1].append(compactor.compact())
                self._actual_size = sum(c.size for c in self._compactors)
                self.error_weight += 1 << height
                return True
        return False

    def merge(self, other: KLLSketch) -> KLLSketch:
        """Deequ's ``QuantileNonSample.merge``: append ``other``'s buffers level by level, then condense while the
        items held reach the total capacity. Returns self; ``other`` is left unchanged."""
        if (other.sketch_size, other.shrinking_factor) != (self.sketch_size, self.shrinking_factor):
            raise ValueError(
                f"cannot merge KLL sketches of different parameters: k={self.sketch_size}, c={self.shrinking_factor}"
                f" and k={other.sketch_size}, c={other.shrinking_factor}"
            )
        while len(self._compactors) < len(other._compactors):
            self._expand()
        for mine, theirs in zip(self._compactors, other._compactors, strict=False):
            mine.append(theirs.items().copy())
        self._actual_size = sum(c.size for c in self._compactors)
        while self._actual_size >= self._total_capacity and self._condense():
            pass
        self.error_weight += other.error_weight
        return self

    def update(self, values: np.ndarray | Sequence[float]) -> None:
        """Add values in order, exactly as that many calls of Deequ's ``update`` would."""
        data = np.ascontiguousarray(values, dtype=np.float64)
        start, total = 0, data.size
        level0 = self._compactors[0]
        while start < total:
            # Deequ condenses as soon as the items held exceed the capacity: append up to that item.
            room = self._total_capacity - self._actual_size + 1
            stop = min(total, start + max(room, 1))
            level0.append(data[start:stop])
            self._actual_size += stop - start
            start = stop
            if self._actual_size > self._total_capacity:
                self._condense()
                level0 = self._compactors[0]

    # -- queries -----------------------------------------------------------------------------------
    @property
    def levels(self) -> list[np.ndarray]:
        """The compactor buffers, level 0 first (what statistics.json stores as ``data``)."""
        return [c.items() for c in self._compactors]

    def weighted_items(self) -> tuple[np.ndarray, np.ndarray]:
        """All items with their weights (``2**level``), sorted by value."""
        levels = self.levels
        if not any(level.size for level in levels):
            return np.empty(0), np.empty(0, dtype=np.int64)
        values = np.concatenate(levels)
        weights = np.concatenate([np.full(level.size, 1 << h, dtype=np.int64) for h, level in enumerate(levels)])
        order = np.argsort(values, kind="stable")
        return values[order], weights[order]

    @property
    def count(self) -> int:
        """Total weight held: the number of values seen."""
        return int(sum(level.size << h for h, level in enumerate(self.levels)))

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """Fraction of the weight at or below each point."""
        values, weights = self.weighted_items()
        if values.size == 0:
            return np.zeros(len(points))
        cumulative = np.cumsum(weights)
        idx = np.searchsorted(values, points, side="right")
        ranks = np.where(idx > 0, cumulative[np.maximum(idx - 1, 0)], 0)
        return ranks / cumulative[-1]

    def buckets(self, minimum: float, maximum: float, num_buckets: int = 10) -> list[dict[str, float]]:
        """Deequ's equal-width buckets from min to max, counted from the sketch's ranks."""
        values, weights = self.weighted_items()
        cumulative = np.concatenate([[0], np.cumsum(weights)])

        def rank_below(x: float) -> int:
            return int(cumulative[np.searchsorted(values, x, side="left")])

        def rank_at_or_below(x: float) -> int:
            return int(cumulative[np.searchsorted(values, x, side="right")])

        result = []
        for i in range(num_buckets):
            low = minimum + (maximum - minimum) * i / float(num_buckets)
            high = minimum + (maximum - minimum) * (i + 1) / float(num_buckets)
            upper = rank_at_or_below(high) if i == num_buckets - 1 else rank_below(high)
            result.append({"lower_bound": low, "upper_bound": high, "count": float(upper - rank_below(low))})
        return result

    # -- (de)serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The ``sketch`` object of statistics.json."""
        return {
            "parameters": {"c": self.shrinking_factor, "k": float(self.sketch_size)},
            "data": [level.tolist() for level in self.levels],
        }

    @classmethod
    def from_dict(cls, sketch: dict, where: str = "sketch") -> KLLSketch:
        """Rebuild a sketch from statistics.json's ``sketch`` object (the offsets restart at 0). A damaged one is the
        user's input: ``AnalyzerInputError`` (a ``ValueError``) naming ``where``."""
        try:
            params = sketch["parameters"]
            instance = cls(int(params["k"]), float(params["c"]))
            data = sketch["data"]
            if not isinstance(data, list) or not all(isinstance(level, list) for level in data):
                raise TypeError("data must be a list of lists of numbers")
            levels = [np.asarray(level, dtype=np.float64) for level in data]
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise AnalyzerInputError(
                f"{where}: invalid KLL sketch ({exc}); expected parameters.c, parameters.k and data"
            ) from exc
        while len(instance._compactors) < len(levels):
            instance._expand()
        for compactor, level in zip(instance._compactors, levels, strict=False):
            compactor.parts = [level] if level.size else []
            compactor.size = int(level.size)
        instance._actual_size = sum(int(level.size) for level in levels)
        return instance

    def to_state(self) -> dict:
        """Everything a merge needs, JSON-ready: Deequ's serialised state (buffers, compaction counts, offsets)
        plus ``error_weight``."""
        return {
            "k": self.sketch_size,
            "c": self.shrinking_factor,
            "levels": [level.tolist() for level in self.levels],
            "num_compress": [c.num_compress for c in self._compactors],
            "offsets": [c.offset for c in self._compactors],
            "error_weight": self.error_weight,
        }

    @classmethod
    def from_state(cls, state: dict, where: str = "sketch") -> KLLSketch:
        """Rebuild a sketch from ``to_state`` exactly (an ``AnalyzerInputError``, a ValueError, naming ``where``
        otherwise)."""
        try:
            instance = cls.from_dict({"parameters": {"k": state["k"], "c": state["c"]}, "data": state["levels"]}, where)
            counts, offsets = list(state["num_compress"]), list(state["offsets"])
            if not len(counts) == len(offsets) == len(instance._compactors):
                raise ValueError("num_compress and offsets need one entry per level")
            for compactor, count, offset in zip(instance._compactors, counts, offsets, strict=True):
                if isinstance(count, bool) or not isinstance(count, int) or count < 0 or offset not in (0, 1):
                    raise ValueError(f"bad compaction state {count!r}, {offset!r}")
                compactor.num_compress, compactor.offset = count, int(offset)
            weight = state["error_weight"]
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ValueError(f"error_weight must be a non-negative integer, got {weight!r}")
            instance.error_weight = weight
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise AnalyzerInputError(f"{where}: invalid KLL sketch state ({exc})") from exc
        return instance
