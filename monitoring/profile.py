"""Streaming dataset profile: per-column accumulators merged chunk by chunk in bounded memory.

What each column keeps is what statistics.json needs (Deequ's analyzers): type counts, missing count,
sum / mean / population standard deviation (Welford's moments, merged with Chan's formula as Deequ's
``StatefulStdDevPop`` does), min, max, the KLL sketch of the numeric values, and value frequencies for
low-cardinality columns (dropped once a column exceeds ``max_distinct`` values, so memory stays bounded).

Arrow is imported where chunks are added, not at the top: merging, reading and writing profiles (the merge job of
a sharded analysis) never touch it, and its import is 0.2 s of such a job's 0.5 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from monitoring.kll import DEFAULT_SHRINKING_FACTOR, DEFAULT_SKETCH_SIZE, KLLSketch
from monitoring.type_names import infer_type

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_MAX_DISTINCT = 10_000


def usable_cpus() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one (a host pinned with ``taskset`` to
    one core gets 1), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


WORKERS = min(4, usable_cpus())


class ColumnProfile:
    """Accumulates one column's statistics over any number of chunks."""

    def __init__(
        self,
        name: str,
        sketch_size: int = DEFAULT_SKETCH_SIZE,
        shrinking_factor: float = DEFAULT_SHRINKING_FACTOR,
        max_distinct: int = DEFAULT_MAX_DISTINCT,
    ) -> None:
        self.name = name
        self.num_missing = 0
        self.num_integral = 0
        self.num_fractional = 0
        self.num_boolean = 0
        self.num_string = 0
        self.count = 0  # numeric values seen
        self.sum = 0.0
        self.moment_mean = 0.0
        self.m2 = 0.0
        self.min = np.inf
        self.max = -np.inf
        self.sketch = KLLSketch(sketch_size, shrinking_factor)
        self.max_distinct = max_distinct
        self.frequencies: dict[str, int] | None = {}
        self.distinct_overflow = 0  # distinct values seen when frequency tracking stopped

    @property
    def num_present(self) -> int:
        return self.num_integral + self.num_fractional + self.num_boolean + self.num_string

    @property
    def inferred_type(self) -> str:
        return infer_type(self.num_present, self.num_integral, self.num_fractional, self.num_boolean, self.num_string)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0

    @property
    def std_dev(self) -> float:
        return float(np.sqrt(self.m2 / self.count)) if self.count else 0.0

    def add_missing(self, rows: int) -> None:
        """Count rows in which this column did not appear at all."""
        self.num_missing += rows

    def add(self, values: pa.Array) -> None:
        """Add one chunk of this column's values, in row order."""
        import pyarrow as pa

        from monitoring.datatypes import classify, classify_with_counts, is_text

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        counts = None
        if not is_text(values):
            self._stop_frequencies(self.distinct_count())  # typed numbers are never a String feature's domain
        elif self.frequencies is not None:
            counts = self._add_frequencies(values.drop_null() if values.null_count else values, self.frequencies)
        chunk = classify_with_counts(values, counts) if counts is not None else classify(values)
        self.num_missing += chunk.num_missing
        self.num_integral += chunk.num_integral
        self.num_fractional += chunk.num_fractional
        self.num_boolean += chunk.num_boolean
        self.num_string += chunk.num_string
        self._add_numbers(chunk.numbers)

    def _add_numbers(self, numbers: np.ndarray) -> None:
        n = int(numbers.size)
        if n == 0:
            return
        chunk_sum = float(np.sum(numbers))
        chunk_mean = chunk_sum / n
        chunk_m2 = float(np.sum((numbers - chunk_mean) ** 2))
        total = self.count + n
        delta = chunk_mean - self.moment_mean
        self.moment_mean += delta * n / total
        self.m2 += chunk_m2 + delta * delta * self.count * n / total
        self.count = total
        self.sum += chunk_sum
        self.min = min(self.min, float(np.min(numbers)))
        self.max = max(self.max, float(np.max(numbers)))
        self.sketch.update(numbers)

    def _stop_frequencies(self, seen: int) -> None:
        if self.frequencies is not None:
            self.distinct_overflow = seen
            self.frequencies = None

    def _add_frequencies(self, texts: pa.Array, freq: dict[str, int]) -> pa.StructArray | None:
        """Merge this chunk's value counts into ``freq`` (``self.frequencies``); returns them, or None once the column
        has too many values."""
        import pyarrow.compute as pc

        if len(texts) == 0:
            return None
        counts = pc.value_counts(texts)
        if len(counts) > self.max_distinct:
            self._stop_frequencies(max(len(counts), len(freq)))
            return None
        # through numpy, not to_pylist (7x faster for strings; this ran for every chunk of a low-cardinality column)
        values = counts.field("values").to_numpy(zero_copy_only=False).tolist()
        if len(counts) + len(freq) > self.max_distinct:
            union = len(set(freq).union(values))
            if union > self.max_distinct:
                self._stop_frequencies(union)
                return None
        for value, count in zip(values, counts.field("counts").to_numpy().tolist(), strict=True):
            freq[value] = freq.get(value, 0) + count
        return counts

    def distinct_count(self) -> int:
        """Exact distinct count, or a lower bound once tracking stopped (``frequencies`` is then None)."""
        return len(self.frequencies) if self.frequencies is not None else self.distinct_overflow


class DatasetProfile:
    """Profiles a stream of tables whose columns may come and go (as JSON records can)."""

    def __init__(
        self,
        sketch_size: int = DEFAULT_SKETCH_SIZE,
        shrinking_factor: float = DEFAULT_SHRINKING_FACTOR,
        max_distinct: int = DEFAULT_MAX_DISTINCT,
    ) -> None:
        self.item_count = 0
        self.columns: dict[str, ColumnProfile] = {}
        self._options = (sketch_size, shrinking_factor, max_distinct)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def options(self) -> tuple[int, float, int]:
        """(sketch size, shrinking factor, distinct-value cap): profiles merge only when these are equal."""
        return self._options

    def add(self, columns: Mapping[str, pa.Array] | pa.Table) -> None:
        """Add one chunk given as a table or a mapping of column name to equally long arrays."""
        import pyarrow as pa

        if isinstance(columns, pa.Table):
            columns = {name: columns.column(name) for name in columns.column_names}
        rows = len(next(iter(columns.values()))) if columns else 0
        work = []
        for name, values in columns.items():
            if len(values) != rows:
                raise ValueError(f"column {name!r} has {len(values)} values in a chunk of {rows} rows")
            profile = self.columns.get(name)
            if profile is None:
                profile = self.columns[name] = ColumnProfile(name, *self._options)
                profile.add_missing(self.item_count)
            work.append((profile, values))
        for name, profile in self.columns.items():
            if name not in columns:
                profile.add_missing(rows)
        # Columns are independent: profile them on all cores (sorting, regexes and casts release the GIL).
        if self._pool is None and len(work) > 1 and WORKERS > 1:
            self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="profile")
        if self._pool is not None:
            for future in [self._pool.submit(profile.add, values) for profile, values in work]:
                future.result()
        else:
            for profile, values in work:
                profile.add(values)
        self.item_count += rows

    def add_all(self, chunks: Iterable[Mapping[str, pa.Array] | pa.Table]) -> DatasetProfile:
        """Add every chunk of a stream; returns self."""
        try:
            for chunk in chunks:
                self.add(chunk)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        return self
