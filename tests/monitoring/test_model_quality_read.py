"""The merge's reading side: join keys encoded to integers in parts side by side, equal keys to equal codes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from monitoring import model_quality_read
from monitoring.model_quality_read import in_threads, key_codes


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_equal_keys_get_equal_codes_and_distinct_keys_distinct_ones(monkeypatch, threads):
    monkeypatch.setattr(model_quality_read, "usable_cpus", lambda: threads)
    rng = np.random.default_rng(5)
    words = [f"req-{i:09d}" for i in range(40_000)] + [f"5c0f3e2a-{i:012x}" for i in range(30_000)] + ["é", "ab", "b"]
    texts = [words[i] for i in rng.integers(0, len(words), 100_000)]
    keys = pa.array(texts, pa.string()).slice(7)  # an offset into the buffers, as a filtered array may have
    codes, size = key_codes(keys)
    expected = {text: index for index, text in enumerate(dict.fromkeys(texts[7:]))}
    assert size == len(expected) and codes.min() == 0 and codes.max() == size - 1
    first_code: dict[str, int] = {}
    for text, code in zip(texts[7:], codes.tolist(), strict=True):
        assert first_code.setdefault(text, code) == code
    assert len(set(first_code.values())) == size


def test_work_in_threads_comes_back_in_the_items_order(monkeypatch):
    monkeypatch.setattr(model_quality_read, "usable_cpus", lambda: 4)
    assert in_threads(lambda item: item * item, list(range(50))) == [item * item for item in range(50)]


def test_work_in_threads_starts_the_heaviest_first_and_comes_back_in_the_items_order(monkeypatch):
    class InOrder:  # a pool that runs the work one item at a time, in the order it was handed over
        def __init__(self, workers: int) -> None:
            assert workers == 2

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

        def map(self, work, items):
            return [work(item) for item in items]

    monkeypatch.setattr(model_quality_read, "usable_cpus", lambda: 2)
    monkeypatch.setattr(model_quality_read, "ThreadPoolExecutor", InOrder)
    started: list[int] = []

    def work(item: int) -> int:
        started.append(item)
        return item * 10

    assert in_threads(work, list(range(5)), [1.0, 5.0, 3.0, 5.0, 2.0]) == [0, 10, 20, 30, 40]
    assert started == [1, 3, 2, 4, 0]  # by weight, equal weights in the items' order
