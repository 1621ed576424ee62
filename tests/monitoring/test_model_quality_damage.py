"""The model-quality join on damaged capture and ground truth (from an abuse test): a malformed line or record is
skipped and counted by reason, never fatal, whatever its neighbours; skip examples name the file and line."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitoring.ground_truth_records import ground_truth_lines
from monitoring.model_quality_merge import merge_capture_with_ground_truth
from tests.monitoring.test_model_quality_merge import record, truth, write

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
KEYS = [f"k{i}" for i in range(12)]


def capture_lines() -> list[bytes]:
    return [record(key, f"0.{i + 1}", inference_id=f"req-{key}").encode() for i, key in enumerate(KEYS)]


def labels(tmp_path: Path) -> Path:
    return truth(tmp_path / "gt.jsonl", [(f"req-{key}", "1") for key in KEYS])


def write_bytes(path: Path, lines: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def merge(capture: Path, truth_file: Path, **window):
    return merge_capture_with_ground_truth([capture], [truth_file], problem_type="regression", **window)


def malformed(result) -> dict[str, int]:
    return {k: v for k, v in result.counts.items() if k.startswith("malformed.")}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"inferenceId": "req-k3"', b'"inferenceId": "req-k\xe93"'),
        (b'"data": "0.4"', b'"data": "0.\xe94"'),
        (b'"eventId": "k3"', b'"eventId": "k\xe93"'),
        (b'"data": "M,0.4"', b'"data": "M,0.\xe9"'),  # a field the join does not read: the line is still bad
    ],
)
def test_a_byte_that_is_not_utf8_skips_its_line_only(tmp_path, old, new):
    lines = capture_lines()
    assert old in lines[3]
    lines[3] = lines[3].replace(old, new)
    capture = write_bytes(tmp_path / "c.jsonl", lines)
    result = merge(capture, labels(tmp_path))
    assert malformed(result) == {"malformed.capture.not_utf8": 1}
    assert result.examples["malformed.capture.not_utf8"].startswith(f"{capture}: line 4")
    assert sorted(result.pairs.keys.tolist()) == sorted(f"req-{key}" for key in KEYS if key != "k3")


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-13-45T08:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-11-30T24:00:00Z",
        "2026-11-30T10:00:00+99:00",
        "2026-11-30Tgarbage",
        "2026-11-30",
    ],
)
def test_an_impossible_inference_time_is_bad_inference_time(tmp_path, stamp):
    lines = capture_lines()
    lines[5] = record("k5", "0.6", inference_id="req-k5", stamp=stamp).encode()
    capture = write_bytes(tmp_path / "c.jsonl", lines)
    result = merge(capture, labels(tmp_path), start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    assert malformed(result) == {"malformed.capture.bad_inference_time": 1}
    assert result.examples["malformed.capture.bad_inference_time"].startswith(f"{capture}: line 6: ")
    assert result.counts["matched"] == len(KEYS) - 1


def test_a_record_is_read_alike_whatever_its_neighbours(tmp_path):
    """One verdict for a time read by Arrow's cast of a clean block or by the fallback next to a bad time."""
    odd = [
        "2026-11-30 10:10:00Z",
        "2026-11-30T10:10Z",
        "2026-11-30T11:10:00+0100",
        "2026-11-30T10:10:00.123456789Z",
        "2026-11-30T10:10:00",
        "2026-11-30T10:10:00.5+01",
    ]
    window = {"start": T0, "end": T0 + timedelta(hours=1)}
    for i, stamp in enumerate(odd):
        alone = [record("a", "0.5", stamp=stamp)]
        mixed = [*alone, record("b", "0.5", stamp="2026-13-45T08:00:00Z")]
        gt = truth(tmp_path / f"g{i}.jsonl", [("a", "1"), ("b", "1")])
        one = merge(write(tmp_path / f"alone{i}.jsonl", alone), gt, **window)
        two = merge(write(tmp_path / f"mixed{i}.jsonl", mixed), gt, **window)
        assert (one.counts["matched"], one.counts["capture_outside_window"]) == (
            two.counts["matched"],
            two.counts["capture_outside_window"],
        ), stamp
        assert two.counts["malformed.capture.bad_inference_time"] == 1 + one.counts.get(
            "malformed.capture.bad_inference_time", 0
        )


def test_two_records_on_one_line_are_one_invalid_json_line(tmp_path):
    lines = capture_lines()
    lines[6] = lines[6] + lines[7]
    del lines[7]
    capture = write_bytes(tmp_path / "c.jsonl", lines)
    truth_file = tmp_path / "gt.jsonl"
    rows = ground_truth_lines([(f"req-{key}", "1") for key in KEYS]).splitlines()
    rows[2] = rows[2] + b" " + rows[3]  # two labels on one line
    del rows[3]
    write_bytes(truth_file, rows)
    result = merge(capture, truth_file)
    assert malformed(result) == {"malformed.capture.invalid_json": 1, "malformed.ground_truth.invalid_json": 1}
    assert result.examples["malformed.capture.invalid_json"].startswith(f"{capture}: line 7: Extra data")
    assert result.examples["malformed.ground_truth.invalid_json"].startswith(f"{truth_file}: line 3: Extra data")
    assert result.counts["capture_records"] == len(KEYS) - 2
    assert result.counts["ground_truth_records"] == len(KEYS) - 2


def test_a_ground_truth_line_that_is_not_utf8_is_counted(tmp_path):
    capture = write_bytes(tmp_path / "c.jsonl", capture_lines())
    rows = ground_truth_lines([(f"req-{key}", "1") for key in KEYS]).splitlines()
    rows[4] = rows[4].replace(b'"eventId":"req-k4"', b'"eventId":"req-k\xe94"')
    rows[8] = rows[8].replace(b'"eventVersion":"0"', b'"eventVersion":"\xe9"')
    assert b"\xe9" in rows[4] and b"\xe9" in rows[8]
    truth_file = write_bytes(tmp_path / "gt.jsonl", rows)
    result = merge(capture, truth_file)
    assert malformed(result) == {"malformed.ground_truth.not_utf8": 2}
    assert result.examples["malformed.ground_truth.not_utf8"].startswith(f"{truth_file}: line 5")
    assert result.counts["matched"] == len(KEYS) - 2


def test_record_level_skips_name_the_file_and_line(tmp_path):
    lines = capture_lines()
    lines[1] = record("k1", "not base64!", inference_id="req-k1", encoding="BASE64").encode()
    lines[3] = record("k3", "0.5", inference_id="req-k3", encoding="PARQUET").encode()
    lines[5] = record("k5", base64.b64encode(b"\xff").decode(), inference_id="req-k5", encoding="BASE64").encode()
    lines[7] = json.dumps(
        {"captureData": {}, "eventMetadata": {"eventId": "k7", "inferenceTime": "2026-11-30T10:00:00Z"}}
    ).encode()
    lines[8] = record("k8", "high", inference_id="req-k8").encode()
    lines[9] = record("", "0.5").encode()
    lines[10] = record("k10", "0.5\n0.6", inference_id="req-k10").encode()
    capture = write_bytes(tmp_path / "c.jsonl", [b"", lines[0], b'{"truncated', *lines[1:]])  # 2 lines before
    result = merge(capture, labels(tmp_path))
    for reason, line in [
        ("bad_base64", 4),
        ("unsupported_content", 6),
        ("missing_endpoint_output", 10),
        ("bad_prediction", 11),
        ("missing_id", 12),
    ]:
        example = result.examples[f"malformed.capture.{reason}"]
        assert example.startswith(f"{capture}: line {line}: "), (reason, example)
    assert result.counts["malformed.capture.bad_base64"] == 2
    assert result.counts["multi_record_requests"] == 1
