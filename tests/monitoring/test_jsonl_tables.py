"""JSON Lines read by Arrow in blocks: every well-formed line read once, every bad one counted by reason with its
exact line number, whatever the block size (lines longer than a block included); each row's line number known."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from monitoring.jsonl_rescue import INVALID_JSON, NOT_UTF8, WRONG_TYPE
from monitoring.jsonl_tables import SkipCounter, equal_block_size, read_jsonl, read_jsonl_lines, utf8_valid

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


def _quiet_damage() -> list[bytes]:
    """Lines Arrow's reader takes without a word: two objects on a line, a byte that is not UTF-8 in a string."""
    good = [json.dumps({"id": f"k{i}", "value": i, "note": "a}{b" if i % 5 == 0 else "x"}).encode() for i in range(30)]
    lines = list(good)
    lines[4] = good[4] + good[5]  # two objects: one invalid_json line (k4 and k5 are not read)
    lines[5] = b""
    lines[9] = good[9] + b"  \t" + good[9]
    lines[12] = good[12].replace(b'"k12"', b'"k\xe912"')  # not UTF-8 in a field that is read
    lines[21] = good[21].replace(b'"x"', b'"\xe9"')  # not UTF-8 in a field that is not read
    assert all(b"\xe9" in lines[i] for i in (12, 21))
    return lines


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize("block_bytes", [64, 700, 1 << 20])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_several_objects_on_a_line_and_bad_utf8_in_a_string_are_counted(tmp_path, block_bytes, ending, threads):
    path = tmp_path / "lines.jsonl"
    path.write_bytes(ending.join(_quiet_damage()) + ending)
    skips = SkipCounter()
    parts = list(read_jsonl_lines(path, SCHEMA, skips, block_bytes=block_bytes, threads=threads))
    ids = pa.concat_tables([table for table, _ in parts]).column("id").to_pylist()
    expected = [i for i in range(30) if i not in (4, 5, 9, 12, 21)]
    assert ids == [f"k{i}" for i in expected]  # "a}{b" in a string is no second object
    assert [int(line) for _, lines in parts for line in lines] == [i + 1 for i in expected]
    assert dict(skips.counts) == {INVALID_JSON: 2, NOT_UTF8: 2}
    assert skips.examples[INVALID_JSON].startswith(f"{path}: line 5: Extra data")
    assert skips.examples[NOT_UTF8].startswith(f"{path}: line 13: not UTF-8")


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])
def test_row_line_numbers_survive_the_rescue_of_a_rejected_block(tmp_path, block_bytes):
    lines = [json.dumps({"id": f"k{i}", "value": i}).encode() for i in range(12)]
    lines[3] = b'{"id": "k3", "value": "three"}'  # wrong type: Arrow rejects the block
    lines[7] = b'{"id": "k7", "value": 7,}'  # invalid JSON ending in }
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"\n".join([b"", *lines, b""]) + b"\n")
    skips = SkipCounter()
    parts = list(read_jsonl_lines(path, SCHEMA, skips, block_bytes=block_bytes))
    rows = [(table.column("id").to_pylist(), lines.tolist()) for table, lines in parts]
    assert [key for keys, _ in rows for key in keys] == [f"k{i}" for i in range(12) if i not in (3, 7)]
    assert [line for _, numbers in rows for line in numbers] == [i + 2 for i in range(12) if i not in (3, 7)]
    assert dict(skips.counts) == {WRONG_TYPE: 1, INVALID_JSON: 1}


def test_row_skips_name_the_line_of_the_first_row():
    skips = SkipCounter()
    lines = np.array([3, 8, 9])
    skips.skip_rows("bad_base64", 2, "f.jsonl", "not base64", lines, pa.chunked_array([[False, None], [True]]))
    skips.skip_rows("bad_base64", 1, "f.jsonl", "not base64", lines, np.array([True, False, False]))
    skips.skip_rows("missing_id", 1, "f.jsonl", "no id")
    skips.skip_rows("bad_prediction", 0, "f.jsonl", "never", lines, np.array([False, False, False]))
    assert dict(skips.counts) == {"bad_base64": 3, "missing_id": 1}
    assert skips.examples == {"bad_base64": "f.jsonl: line 9: not base64", "missing_id": "f.jsonl: no id"}


def test_utf8_validation_of_a_block():
    assert utf8_valid(b'{"a": "\xc3\xa9"}\n') and utf8_valid(memoryview(bytearray(b"abc")))
    assert not utf8_valid(b'{"a": "\xe9"}\n') and not utf8_valid(b"\xff")
