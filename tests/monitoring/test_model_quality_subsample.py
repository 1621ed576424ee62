"""The subsamples of the model-quality standard deviations: chosen by a hash of the key that is checked against a
SipHash-2-4 written from the paper (Aumasson and Bernstein, 2012), so a change of pandas' hashing would be caught."""

from __future__ import annotations

import struct

import numpy as np

from monitoring.subsample import HASH_KEY, key_hashes, standard_deviation, subsample_masks

MASK = 2**64 - 1


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & MASK


def _round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & MASK
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & MASK
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & MASK
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & MASK
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: bytes, data: bytes) -> int:
    k0, k1 = struct.unpack("<QQ", key)
    v = (k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573)
    whole = len(data) - len(data) % 8
    last = (len(data) & 0xFF) << 56 | int.from_bytes(data[whole:], "little")
    for word in [*struct.unpack(f"<{whole // 8}Q", data[:whole]), last]:
        v = (v[0], v[1], v[2], v[3] ^ word)
        v = _round(*_round(*v))
        v = (v[0] ^ word, v[1], v[2], v[3])
    v = (v[0], v[1], v[2] ^ 0xFF, v[3])
    for _ in range(4):
        v = _round(*v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def splitmix64_finalizer(z: int) -> int:
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & MASK
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def test_key_hashes_are_siphash_2_4_of_the_utf8_key_then_splitmix64():
    keys = ["inference-1", "1", "", "é-ключ", "a-key-longer-than-sixteen-bytes-0123456789"]
    expected = [splitmix64_finalizer(siphash24(HASH_KEY.encode(), k.encode("utf-8"))) for k in keys]
    assert key_hashes(np.array(keys, dtype=object)).tolist() == expected
    assert key_hashes(np.array(keys)).tolist() == expected  # a numpy string array hashes the same


def test_subsamples_are_80_percent_distinct_and_independent_of_order():
    keys = np.array([f"k{i}" for i in range(1000)], dtype=object)
    masks = subsample_masks(keys)
    assert [int(m.sum()) for m in masks] == [800] * 5
    assert len({m.tobytes() for m in masks}) == 5
    order = np.random.default_rng(1).permutation(1000)
    assert all((a[order] == b).all() for a, b in zip(masks, subsample_masks(keys[order]), strict=True))


def test_duplicated_keys_are_kept_or_dropped_together():
    keys = np.array([f"k{i % 300}" for i in range(600)], dtype=object)
    for mask in subsample_masks(keys):
        assert (mask[:300] == mask[300:]).all() and mask.sum() >= 480


def test_standard_deviation_is_the_sample_one_or_nan():
    assert standard_deviation([1.0, 2.0, 3.0, 4.0, 5.0]) == np.std([1, 2, 3, 4, 5], ddof=1)
    assert standard_deviation([1.0, float("nan"), 3.0]) == "NaN"
    assert standard_deviation([]) == "NaN"
