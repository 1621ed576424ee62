"""The data-quality capture reader on damaged capture (from an abuse test): a malformed record is skipped and counted
by reason, never fatal, and the rest of the window is read; skip examples name the file and line."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitoring.analyzer import run_baseline, run_check
from monitoring.capture import CaptureReader
from monitoring.profile import DatasetProfile
from monitoring.report import ReadReport
from monitoring.sources import DatasetFormat
from tests.conftest import ABALONE
from tests.monitoring.capture_files import b64, capture_line, write_capture

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
WINDOW = {"start": T0, "end": T0 + timedelta(hours=1)}


def good_lines(count: int, when: datetime = T0 + timedelta(minutes=5)) -> list[str]:
    return [capture_line(f"{i},2,3", when) for i in range(count)]


def with_meta(line: str, **meta) -> str:
    """A capture line with eventMetadata fields replaced (a value None: the field removed)."""
    record = json.loads(line)
    for key, value in meta.items():
        if value is None:
            record["eventMetadata"].pop(key, None)
        else:
            record["eventMetadata"][key] = value
    return json.dumps(record)


def read(path: Path, names=None, **window) -> tuple[DatasetProfile, ReadReport]:
    report = ReadReport()
    profile = DatasetProfile().add_all(CaptureReader(names, report, **window).read(path))
    return profile, report


@pytest.mark.parametrize("window", [{}, WINDOW])
def test_a_number_for_the_inference_time_is_a_wrong_type_record_not_a_crash(tmp_path, window):
    lines = good_lines(20)
    lines[7] = with_meta(lines[7], inferenceTime=12345)
    lines[9] = json.dumps({**json.loads(lines[9]), "captureData": "not an object"})
    path = write_capture(tmp_path, T0, lines)
    profile, report = read(tmp_path, **window)
    assert dict(report.skipped) == {"wrong_type": 2}
    assert report.examples["wrong_type"].startswith(f"{path}: line 8")
    assert profile.item_count == 18 and profile.columns["_c0"].sum == sum(range(20)) - 7 - 9


def test_the_whole_check_runs_past_a_number_for_the_inference_time(tmp_path):
    base = tmp_path / "base"
    run_baseline(ABALONE, base)
    row = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15"
    lines = [capture_line(row, T0 + timedelta(minutes=m)) for m in range(30)]
    lines[3] = with_meta(lines[3], inferenceTime=12345)
    write_capture(tmp_path / "capture", T0, lines)
    result = run_check(
        tmp_path / "capture",
        base / "statistics.json",
        base / "constraints.json",
        tmp_path / "out",
        DatasetFormat("capture"),
        **WINDOW,
    )
    assert result.item_count == 29
    summary = json.loads((tmp_path / "out" / "analysis_summary.json").read_text())
    assert "wrong_type" in json.dumps(summary)


@pytest.mark.parametrize("field", ["data", "eventId"])
def test_a_byte_that_is_not_utf8_skips_its_line_only(tmp_path, field):
    lines = [line.encode() for line in good_lines(20)]
    old = b'"1,2,3"' if field == "data" else b'"eventId": "'
    new = b'"1,2,3\xe9"' if field == "data" else b'"eventId": "\xe9'  # inside a string: valid JSON but for the byte
    lines[1] = lines[1].replace(old, new, 1)
    assert b"\xe9" in lines[1]
    path = write_capture(tmp_path, T0, lines)
    profile, report = read(tmp_path)
    assert dict(report.skipped) == {"not_utf8": 1}
    assert report.examples["not_utf8"] == f"{path}: line 2"
    assert profile.item_count == 19 and profile.columns["_c0"].sum == sum(range(20)) - 1


def test_two_records_on_one_line_are_one_invalid_json_line(tmp_path):
    lines = good_lines(10)
    lines[4] = lines[4] + lines[5]
    del lines[5]
    path = write_capture(tmp_path, T0, lines)
    profile, report = read(tmp_path)
    assert dict(report.skipped) == {"invalid_json": 1}
    assert report.examples["invalid_json"].startswith(f"{path}: line 5: Extra data")
    assert profile.item_count == 8


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-30Tgarbage",
        "2026-13-45T08:00:00Z",
        "2026-02-30T08:00:00Z",
        "2026-11-30T24:00:00Z",
        "yesterday",
        "",
        None,  # no inferenceTime
    ],
)
def test_with_a_window_an_unreadable_inference_time_is_bad_inference_time(tmp_path, stamp):
    lines = good_lines(10)
    lines[2] = with_meta(lines[2], inferenceTime=stamp)
    write_capture(tmp_path, T0, lines)
    profile, report = read(tmp_path, start=T0 - timedelta(days=400), end=T0 + timedelta(days=400))
    assert dict(report.skipped) == {"bad_inference_time": 1} and report.outside_window == 0
    assert profile.item_count == 9


def test_with_a_window_a_record_without_event_metadata_is_bad_inference_time(tmp_path):
    lines = good_lines(10)
    record = json.loads(lines[0])
    del record["eventMetadata"]
    lines[0] = json.dumps(record)
    path = write_capture(tmp_path, T0, lines)
    profile, report = read(tmp_path, **WINDOW)
    assert dict(report.skipped) == {"bad_inference_time": 1} and report.outside_window == 0
    assert report.examples["bad_inference_time"].startswith(f"{path}: line 1")
    assert profile.item_count == 9
    assert read(tmp_path)[0].item_count == 10  # without a window the time is not read


def test_times_are_compared_as_utc_instants(tmp_path):
    stamps = {
        "2026-11-30T07:59:59.999Z": False,
        "2026-11-30T08:00:00Z": True,
        "2026-11-30T08:30:00.123Z": True,
        "2026-11-30T08:30:00.1234567Z": True,  # digits past the microsecond are dropped
        "2026-11-30T10:30:00+02:00": True,  # 08:30 UTC
        "2026-11-30T08:30:00+02:00": False,  # 06:30 UTC
        "2026-11-30T03:30:00-05:00": True,  # 08:30 UTC
        "2026-11-30T08:30:00": True,  # no zone: UTC
        "2026-11-30T08:59:59.999999Z": True,
        "2026-11-30T09:00:00Z": False,  # the end is excluded
        "2026-11-30T10:00:00+01:00": False,  # 09:00 UTC
    }
    lines = [with_meta(capture_line(f"{i},1,1", T0), inferenceTime=stamp) for i, stamp in enumerate(stamps)]
    write_capture(tmp_path, T0, lines)
    profile, report = read(tmp_path, **WINDOW)
    inside = [i for i, keep in enumerate(stamps.values()) if keep]
    assert report.malformed == 0 and report.outside_window == len(stamps) - len(inside)
    assert profile.item_count == len(inside) and profile.columns["_c0"].sum == sum(inside)


def test_a_record_is_read_alike_whatever_its_neighbours(tmp_path):
    """A time read on the fast path (a block of good times) or the slow one (a bad time next to it): one verdict."""
    odd = ["2026-11-30 08:10:00Z", "2026-11-30T08:10Z", "2026-11-30T08:10:00+0100", "2026-11-30T08:10:00.5+01"]
    for i, stamp in enumerate(odd):
        alone = [with_meta(capture_line("1,1,1", T0), inferenceTime=stamp)]
        mixed = [*alone, with_meta(capture_line("1,1,1", T0), inferenceTime="2026-13-45T08:00:00Z")]
        write_capture(tmp_path / f"alone{i}", T0, alone)
        write_capture(tmp_path / f"mixed{i}", T0, mixed)
        _, report_alone = read(tmp_path / f"alone{i}", **WINDOW)
        _, report_mixed = read(tmp_path / f"mixed{i}", **WINDOW)
        assert report_alone.records == report_mixed.records
        assert report_alone.outside_window == report_mixed.outside_window
        assert report_mixed.skipped["bad_inference_time"] == 1 + report_alone.skipped["bad_inference_time"]


def test_the_preprocessor_path_reads_times_as_the_vectorised_one():
    reader = CaptureReader(None, ReadReport(), start=T0, end=T0 + timedelta(hours=1))
    assert reader.in_window("2026-11-30T08:30:00Z") and reader.in_window("2026-11-30T10:30:00+02:00")
    assert reader.in_window("2026-11-30T08:30:00+02:00") is False  # a time, outside the window
    for unreadable in ("2026-11-30Tgarbage", "2026-13-45T08:00:00Z", None, 12345):
        assert reader.in_window(unreadable) is None  # no window can place it


def test_the_preprocessor_path_counts_unreadable_times_as_bad_not_outside(tmp_path):
    from monitoring.preprocessor import load_preprocessor

    script = tmp_path / "pre.py"
    script.write_text("def preprocess_handler(inference_record):\n    return {'x': inference_record.event_version}\n")
    lines = [capture_line("1,2", T0 + timedelta(minutes=5)) for _ in range(3)]
    for index, time in ((1, "2026-13-45T08:00:00Z"), (2, "2026-11-30T07:00:00Z")):
        record = json.loads(lines[index])
        record["eventMetadata"]["inferenceTime"] = time
        lines[index] = json.dumps(record)
    write_capture(tmp_path / "cap", T0, lines)
    report = ReadReport()
    reader = CaptureReader(None, report, start=T0, end=T0 + timedelta(hours=1), preprocessor=load_preprocessor(script))
    assert DatasetProfile().add_all(reader.read(tmp_path / "cap")).item_count == 1
    assert dict(report.skipped) == {"bad_inference_time": 1} and report.outside_window == 1
    example = report.examples["bad_inference_time"]
    assert "line 2: inferenceTime '2026-13-45T08:00:00Z' is not an ISO-8601 time" in example


def test_record_level_skips_name_the_file_and_line(tmp_path):
    lines = good_lines(12)
    lines[2] = capture_line("!!!not base64!!!", T0 + timedelta(minutes=5), encoding="BASE64")
    lines[4] = capture_line("1,2,3", T0 + timedelta(minutes=5), encoding="PARQUET")
    lines[6] = capture_line("1,2", T0 + timedelta(minutes=5))
    lines[8] = capture_line(base64.b64encode(b"\xff,1,2").decode(), T0 + timedelta(minutes=5), encoding="BASE64")
    record = json.loads(lines[10])
    del record["captureData"]["endpointInput"]
    lines[10] = json.dumps(record)
    lines.append(capture_line(b64("7,8,9"), T0 + timedelta(minutes=5), encoding="BASE64"))
    path = write_capture(tmp_path, T0, ["", *lines])  # a blank first line: line numbers count it
    profile, report = read(tmp_path, **WINDOW)
    assert dict(report.skipped) == {
        "bad_base64": 1,
        "unsupported_content": 1,
        "wrong_column_count": 1,
        "not_utf8": 1,
        "missing_endpoint_input": 1,
    }
    for reason, line in [
        ("bad_base64", 4),
        ("unsupported_content", 6),
        ("wrong_column_count", 8),
        ("not_utf8", 10),
        ("missing_endpoint_input", 12),
    ]:
        assert report.examples[reason].startswith(f"{path}: line {line}: "), (reason, report.examples[reason])
    assert profile.item_count == 8


def test_line_numbers_of_record_skips_after_a_slow_block(tmp_path):
    """A block read line by line (it has a truncated line) still names the right line of a later bad record."""
    lines = good_lines(8)
    lines[1] = lines[1][:30]
    lines[5] = capture_line("1,2,3", T0 + timedelta(minutes=5), encoding="PARQUET")
    path = write_capture(tmp_path, T0, lines)
    _, report = read(tmp_path)
    assert dict(report.skipped) == {"invalid_json": 1, "unsupported_content": 1}
    assert report.examples["unsupported_content"].startswith(f"{path}: line 6: ")
