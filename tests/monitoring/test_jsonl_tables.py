"""JSON Lines read by Arrow in blocks: every well-formed line read once, every bad one counted by reason with its
exact line number, whatever the block size (lines longer than a block included)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from monitoring.jsonl_tables import INVALID_JSON, NOT_UTF8, WRONG_TYPE, SkipCounter, equal_block_size, read_jsonl

SCHEMA = pa.schema([("id", pa.string()), ("value", pa.float64())])


def _lines() -> list[bytes]:
    good = [json.dumps({"id": f"k{i}", "value": i / 2, "extra": "x" * (i % 7) * 30}).encode() for i in range(40)]
    lines = list(good)
    lines[3] = good[3][:-9]  # truncated: does not end with }
    lines[10] = b'{"id": "k10", "value": 5.0,}'  # ends with } but is not JSON
    lines[17] = b'{"id": "k17", "value": "five"}'  # valid JSON, wrong type
    lines[25] = good[25][:20] + b"\xff\xfe" + b'"}'  # not UTF-8
    lines[30] = b"   "  # blank
    return lines


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize("block_bytes", [64, 1000, 1 << 20])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_good_lines_are_read_and_bad_ones_counted_with_their_line_number(tmp_path, block_bytes, ending, threads):
    path = tmp_path / "lines.jsonl"
    path.write_bytes(ending.join(_lines()))  # no newline after the last line
    skips = SkipCounter()
    tables = list(read_jsonl(path, SCHEMA, skips, block_bytes=block_bytes, threads=threads))
    ids = pa.concat_tables(tables).column("id").to_pylist()
    assert ids == [f"k{i}" for i in range(40) if i not in (3, 10, 17, 25, 30)]
    assert dict(skips.counts) == {INVALID_JSON: 2, WRONG_TYPE: 1, NOT_UTF8: 1}
    assert f"{path}: line 4: does not end with }}" in skips.examples[INVALID_JSON]
    assert "line 18" in skips.examples[WRONG_TYPE]
    assert "line 26" in skips.examples[NOT_UTF8]


def test_counters_add_up_with_the_earlier_example_first():
    first, second = SkipCounter(), SkipCounter()
    first.skip(INVALID_JSON, "a: line 2")
    second.skip(INVALID_JSON, "b: line 1", 3)
    second.skip(WRONG_TYPE, "b: line 5")
    first.add(second)
    assert dict(first.counts) == {INVALID_JSON: 4, WRONG_TYPE: 1}
    assert first.examples == {INVALID_JSON: "a: line 2", WRONG_TYPE: "b: line 5"}


@pytest.mark.parametrize(
    ("file_size", "size", "buffer"), [(0, 8 << 20, 1), (100, 8 << 20, 101), (9 << 20, 8 << 20, None)]
)
def test_a_file_is_read_in_equal_blocks_with_room_for_a_carried_line(file_size, size, buffer):
    got = equal_block_size(file_size, size)
    if buffer is not None:
        assert got == buffer
    else:  # 9 MiB in blocks of about 8 MiB: two of about 4.5 MiB, not 8 MiB and a 1 MiB tail
        assert (9 << 20) // 2 < got < (9 << 20) // 2 + (128 << 10)
