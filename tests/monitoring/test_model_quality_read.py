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
