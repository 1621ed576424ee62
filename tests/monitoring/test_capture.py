"""Capture files: SageMaker's fixtures parse, windows select by hour and time, bad lines are counted."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitoring.analyzer import NO_DATA, run_baseline, run_check
from monitoring.capture import CaptureReader, capture_files
from monitoring.iso_time import parse_time
from monitoring.profile import DatasetProfile
from monitoring.report import ReadReport
from monitoring.sources import DatasetFormat
from tests.conftest import ABALONE, MONITOR_FIXTURES
from tests.monitoring.capture_files import b64, capture_line, write_capture

T0 = datetime(2026, 11, 20, 10, 15, tzinfo=timezone.utc)


def profile_of(path: Path, names=None, **window) -> tuple[DatasetProfile, ReadReport]:
    report = ReadReport()
    profile = DatasetProfile().add_all(CaptureReader(names, report, **window).read(path))
    return profile, report


def test_sagemaker_csv_capture_fixture_parses():
    profile, report = profile_of(MONITOR_FIXTURES / "capture.jsonl")
    lines = (MONITOR_FIXTURES / "capture.jsonl").read_text().splitlines()
    assert report.malformed == 0 and profile.item_count == len(lines)
    assert list(profile.columns) == [f"_c{i}" for i in range(7)]
    assert profile.columns["_c0"].inferred_type == "Integral"


def test_sagemaker_json_capture_fixture_parses_with_baseline_names():
    profile, report = profile_of(MONITOR_FIXTURES / "captured-data.jsonl", names=["a", "b", "c"])
    assert report.malformed == 0 and profile.item_count == 2
    assert list(profile.columns) == ["a", "b", "c"]
    assert profile.columns["c"].sum == 10.0


def test_malformed_lines_are_counted_by_reason_and_the_rest_is_read(tmp_path):
    good = [capture_line("1,2,3", T0) for _ in range(50)]
    bad = [
        capture_line("1,2,3", T0)[:40],  # truncated JSON
        capture_line("1,2", T0),  # wrong column count
        capture_line("!!!not base64!!!", T0, encoding="BASE64"),
        b'{"captureData": {"endpointInput": {"data": "1,2,\xff\xfe", "encoding": "CSV"}}}',  # not UTF-8
        '{"eventMetadata": {}}',  # no input captured
    ]
    write_capture(tmp_path, T0, good[:25] + bad + good[25:] + [capture_line(b64("4,5,6"), T0, "BASE64")])
    profile, report = profile_of(tmp_path)
    assert profile.item_count == 51
    assert dict(report.skipped) == {
        "invalid_json": 1,
        "wrong_column_count": 1,
        "bad_base64": 1,
        "not_utf8": 1,
        "missing_endpoint_input": 1,
    }
    assert profile.columns["_c2"].sum == 50 * 3 + 6


def test_json_requests_in_capture_become_rows(tmp_path):
    lines = [
        capture_line('{"instances": [[1, 2], [3, 4]]}', T0, "JSON", "application/json"),
        capture_line('[{"x": 5, "y": 6}]', T0, "JSON", "application/json"),
        capture_line(b64('{"instances": [[7, 8]]}'), T0, "BASE64", "application/json"),
    ]
    write_capture(tmp_path, T0, lines)
    profile, report = profile_of(tmp_path, names=["x", "y"])
    assert report.malformed == 0 and profile.item_count == 4
    assert profile.columns["x"].sum == 1 + 3 + 5 + 7


def test_window_selects_hour_directories_and_record_times(tmp_path):
    for hours in range(5):
        when = T0 + timedelta(hours=hours)
        write_capture(
            tmp_path, when, [capture_line(f"{hours},1,1", when + timedelta(minutes=m)) for m in range(0, 40, 10)]
        )
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    files = capture_files(tmp_path, start, end)
    assert [p.parent.name for p in files] == ["11", "12", "13"]
    profile, report = profile_of(tmp_path, start=start, end=end)
    # hour 11 from 11:15 on (4 records), hour 12 (4), hour 13 before 13:15 (10:15+3h): 13:15 excluded -> 0
    assert profile.item_count == 8 and report.outside_window == 4
    assert profile.columns["_c0"].min == 1 and profile.columns["_c0"].max == 2


def test_empty_window_is_a_no_data_result(tmp_path):
    base = tmp_path / "base"
    run_baseline(ABALONE, base)
    write_capture(tmp_path / "capture", T0, [capture_line("M,0.4,0.3,0.1,0.5,0.2,0.1,0.1,9", T0)])
    result = run_check(
        tmp_path / "capture",
        base / "statistics.json",
        base / "constraints.json",
        tmp_path / "out",
        DatasetFormat("capture"),
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=1, hours=1),
    )
    assert result.status == NO_DATA and result.violations == ()
    assert result.message.startswith("No data to analyze: no records in")


def test_capture_of_abalone_traffic_checks_against_the_baseline(tmp_path):
    base = tmp_path / "base"
    run_baseline(ABALONE, base)
    with open(ABALONE, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    sample = random.Random(1).sample(rows, 2000)
    write_capture(tmp_path / "capture", T0, [capture_line(",".join(r), T0) for r in sample])
    result = run_check(tmp_path / "capture", base / "statistics.json", base / "constraints.json", tmp_path / "out")
    assert result.item_count == 2000 and result.violations == ()
    shifted = [[r[0], *(repr(float(v) * 1.5) for v in r[1:4]), *r[4:]] for r in sample]
    write_capture(tmp_path / "drifted", T0, [capture_line(",".join(r), T0) for r in shifted])
    result = run_check(tmp_path / "drifted", base / "statistics.json", base / "constraints.json", tmp_path / "out2")
    assert {(v.constraint_check_type, v.feature_name) for v in result.violations} == {
        ("baseline_drift_check", "length"),
        ("baseline_drift_check", "diameter"),
        ("baseline_drift_check", "height"),
    }


def test_record_preprocessor_script_shapes_rows(tmp_path):
    from monitoring.preprocessor import load_preprocessor

    script = tmp_path / "pre.py"
    script.write_text(
        "def preprocess_handler(inference_record):\n"
        "    values = inference_record.endpoint_input.data.split(',')\n"
        "    if values[0] == 'boom':\n"
        "        raise ValueError('bad record')\n"
        "    return {'first': values[0], 'output': inference_record.endpoint_output.data}\n"
    )
    write_capture(tmp_path / "cap", T0, [capture_line("1,2", T0), capture_line("boom,2", T0), capture_line("3,4", T0)])
    report = ReadReport()
    reader = CaptureReader(None, report, preprocessor=load_preprocessor(script))
    profile = DatasetProfile().add_all(reader.read(tmp_path / "cap"))
    assert list(profile.columns) == ["first", "output"] and profile.item_count == 2
    assert dict(report.skipped) == {"preprocessor_error": 1}
    with pytest.raises(ValueError, match="must define a function preprocess_handler"):
        (tmp_path / "empty.py").write_text("x = 1\n")
        load_preprocessor(tmp_path / "empty.py")


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z"])
def test_bad_times_are_clear_errors(text):
    with pytest.raises(ValueError, match="must be an ISO-8601 time"):
        parse_time(text, "start_time")
