"""Data capture: SageMaker's record shape and encodings, sampling, the hourly layout, what the analyzer reads back,
and durability: every record after a graceful stop, at most the last second lost on a real SIGKILL."""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from inference.capture import CaptureSettings, CaptureWriter
from inference.server import BackgroundServer, ServeOptions
from monitoring.capture import CaptureReader
from monitoring.report import ReadReport
from pipelines.build import config_from_kwargs, local_config
from pipelines.deploy.local import deploy_local
from pipelines.objectstore import local_path, locator
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT
from tests.inference.test_server_model import ROW, abalone_rows, approve, state_copy

FEATURES = ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
T0 = datetime(2024, 3, 9, 17, 59, 58, 250000, tzinfo=timezone.utc).timestamp()


def settings(**changes) -> CaptureSettings:
    values = {
        "enabled": True,
        "sampling_percentage": 100,
        "capture_input": True,
        "capture_output": True,
        "csv_content_types": ("text/csv",),
        "json_content_types": ("application/json",),
        "destination": "s3://bucket/capture",
    }
    values.update(changes)
    return CaptureSettings(**values)


class StepClock:
    """A clock that advances by ``step`` seconds per reading, from ``start``."""

    def __init__(self, start: float, step: float) -> None:
        self.now, self.step = start, step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


def lines_under(root: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(root.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def read_back(root: Path) -> tuple[int, ReadReport]:
    report = ReadReport()
    rows = sum(len(next(iter(chunk.values()))) for chunk in CaptureReader(FEATURES, report).read(root))
    return rows, report


def test_records_have_sagemakers_shape_and_rotate_per_hour(tmp_path):
    writer = CaptureWriter(settings(), tmp_path, "ep", "AllTraffic", clock=StepClock(T0, 0.9))
    for _ in range(10):  # 17:59:58.25 .. 18:00:06.35: two hours
        assert writer.capture(ROW, "text/csv", b"9.5\n", "text/csv")
    writer.close()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert [f.rsplit("/", 1)[0] for f in files] == ["ep/AllTraffic/2024/03/09/17", "ep/AllTraffic/2024/03/09/18"]
    assert all(re.fullmatch(r"\d\d-\d\d-\d{3}-[0-9a-f-]{36}\.jsonl", f.rsplit("/", 1)[1]) for f in files)
    records = lines_under(tmp_path)
    assert len(records) == 10 == writer.written
    first = records[0]
    assert list(first) == ["captureData", "eventMetadata", "eventVersion"] and first["eventVersion"] == "0"
    assert first["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": ROW.decode(), "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "9.5\n", "encoding": "CSV"},
    }
    assert first["eventMetadata"]["inferenceTime"] == "2024-03-09T17:59:58.250Z"
    assert all(STAMP.match(r["eventMetadata"]["inferenceTime"]) for r in records)
    ids = [r["eventMetadata"]["eventId"] for r in records]
    assert len(set(ids)) == 10 and all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", i) for i in ids
    )
    hours = {r["eventMetadata"]["inferenceTime"][11:13] for r in lines_under(tmp_path / "ep/AllTraffic/2024/03/09/18")}
    assert hours == {"18"}


def test_encodings_follow_the_content_type_lists(tmp_path):
    writer = CaptureWriter(
        settings(csv_content_types=("text/csv", "text/x-csv")), tmp_path, "ep", "v", clock=StepClock(T0, 0.001)
    )
    body = json.dumps({"instances": [ROW.decode().split(",")]}).encode()
    writer.capture(body, "application/json", b'{"predictions": [9.5]}', "application/json")
    writer.capture(ROW, "text/csv; charset=utf-8", b"9.5\n", "text/csv")
    writer.capture(ROW, "text/x-csv", b"9.5\n", "text/csv")
    writer.capture(b"\x00\x01binary", "application/x-npy", b"\xff", "application/octet-stream")
    writer.capture(b"M,\xff,1", "text/csv", b"1\n", "text/csv")  # not UTF-8: base64 even though CSV
    writer.capture(b'{"a": "\\u00e9\\n"}', "application/json", "é".encode(), "application/json")
    writer.close()
    records = lines_under(tmp_path)
    inputs = [r["captureData"]["endpointInput"] for r in records]
    assert [i["encoding"] for i in inputs] == ["JSON", "CSV", "CSV", "BASE64", "BASE64", "JSON"]
    assert inputs[0]["data"] == body.decode() and inputs[1]["observedContentType"] == "text/csv; charset=utf-8"
    assert base64.b64decode(inputs[3]["data"]) == b"\x00\x01binary"
    assert base64.b64decode(inputs[4]["data"]) == b"M,\xff,1"
    assert records[5]["captureData"]["endpointOutput"]["data"] == "é"
    rows, report = read_back(tmp_path)
    # two JSON records and two CSV rows; the binary payload and the non-UTF-8 one are skipped by reason
    assert rows == 4 and report.records == 6 and sum(report.skipped.values()) == 2


def test_the_callers_inference_id_is_event_metadata_inference_id(tmp_path):
    writer = CaptureWriter(settings(), tmp_path, "ep", "v", clock=StepClock(T0, 0.001))
    writer.capture(ROW, "text/csv", b"9.5\n", "text/csv", inference_id='order-7 "quoted"')
    writer.capture(ROW, "text/csv", b"9.5\n", "text/csv")
    writer.close()
    with_id, without = (r["eventMetadata"] for r in lines_under(tmp_path))
    assert list(with_id) == ["eventId", "inferenceTime", "inferenceId"] and with_id["inferenceId"] == 'order-7 "quoted"'
    assert "inferenceId" not in without


@pytest.mark.parametrize(("capture_input", "capture_output"), [(True, False), (False, True)])
def test_capture_options_choose_input_and_or_output(tmp_path, capture_input, capture_output):
    writer = CaptureWriter(settings(capture_input=capture_input, capture_output=capture_output), tmp_path, "e", "v")
    writer.capture(ROW, "text/csv", b"1\n", "text/csv")
    writer.close()
    (record,) = lines_under(tmp_path)
    assert ("endpointInput" in record["captureData"]) is capture_input
    assert ("endpointOutput" in record["captureData"]) is capture_output


def test_sampling_percentage(tmp_path):
    counts = {}
    for percentage in (0, 30, 100):
        writer = CaptureWriter(
            settings(sampling_percentage=percentage), tmp_path / str(percentage), "e", "v", rng=random.Random(7)
        )
        captured = sum(writer.capture(ROW, "text/csv", b"1\n", "text/csv") for _ in range(5000))
        writer.close()
        counts[percentage] = (captured, len(lines_under(tmp_path / str(percentage))))
    assert counts[0] == (0, 0) and counts[100] == (5000, 5000)
    captured, written = counts[30]
    assert captured == written and 1350 <= captured <= 1650  # 1500 +- 5 standard deviations


def test_disabled_capture_writes_nothing(tmp_path):
    writer = CaptureWriter(settings(enabled=False), tmp_path, "e", "v")
    assert not writer.capture(ROW, "text/csv", b"1\n", "text/csv")
    writer.close()
    assert not list(tmp_path.rglob("*.jsonl"))


def test_records_reach_disk_within_a_second_without_a_stop(tmp_path):
    writer = CaptureWriter(settings(), tmp_path, "e", "v")
    for _ in range(100):
        writer.capture(ROW, "text/csv", b"1\n", "text/csv")
    deadline = time.monotonic() + 1.0
    while len(lines_under(tmp_path)) < 100 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(lines_under(tmp_path)) == 100
    writer.close()


def test_flush_interval_must_keep_the_loss_bound(tmp_path):
    with pytest.raises(ValueError, match=r"flush_seconds must be in \(0, 1\]"):
        CaptureWriter(settings(), tmp_path, "e", "v", flush_seconds=5)


# -- through the server ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def config():
    return local_config(config_from_kwargs({}, str(ROOT / "mlops.yaml")))


@pytest.fixture()
def deployed(tmp_path, config) -> Path:
    state = state_copy(tmp_path / "state")
    approve(state, 1)
    deploy_local(config, state, SQLiteRegistry(state / "registry.db"))
    return state


def capture_root(state: Path, config) -> Path:
    return local_path(config.capture_destination, state) / config.endpoint_name / "AllTraffic"


def post(connection: http.client.HTTPConnection, body: bytes, content_type: str) -> int:
    connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    response.read()
    return response.status


def test_graceful_stop_writes_every_captured_request_readable_by_the_analyzer(deployed, config):
    rows = abalone_rows()[:300]
    with BackgroundServer(ServeOptions(deployed, config.endpoint_name, locate=locator(deployed), port=0)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        statuses = [post(connection, ",".join(row).encode(), "text/csv") for row in rows[:200]]
        statuses += [
            post(connection, json.dumps([dict(zip(FEATURES, row, strict=True))]).encode(), "application/json")
            for row in rows[200:]
        ]
        statuses.append(post(connection, b"bad,row", "text/csv"))  # a failed request is not captured
        connection.close()
    assert statuses.count(200) == 300 and statuses[-1] == 400
    root = capture_root(deployed, config)
    records = lines_under(root)
    assert len(records) == 300
    assert [r["captureData"]["endpointInput"]["data"] for r in records[:200]] == [",".join(r) for r in rows[:200]]
    count, report = read_back(root)
    assert count == 300 and not report.skipped


def test_injected_clock_writes_into_past_hours(deployed, config):
    clock = StepClock(T0, 60.0)  # a minute per request, from 2024-03-09 17:59
    with BackgroundServer(
        ServeOptions(deployed, config.endpoint_name, locate=locator(deployed), port=0, clock=clock)
    ) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        assert all(post(connection, ROW, "text/csv") == 200 for _ in range(3))
        connection.close()
    hours = sorted(
        p.parent.relative_to(capture_root(deployed, config)).as_posix()
        for p in capture_root(deployed, config).rglob("*.jsonl")
    )
    assert hours == ["2024/03/09/17", "2024/03/09/18"]


def serve_subprocess(state: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.commands.serve",
            "--config",
            str(ROOT / "mlops.yaml"),
            "--state-dir",
            str(state),
            "--port",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        raise AssertionError(f"server did not start: {line!r} {process.stderr.read()}")
    return process, int(match.group(1))


def test_sigkill_loses_at_most_the_last_second_and_leaves_no_unskippable_line(deployed, config):
    process, port = serve_subprocess(deployed)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        assert all(post(connection, ROW, "text/csv") == 200 for _ in range(300))
        time.sleep(1.2)  # older than a second: must be on disk whatever happens next
        root = capture_root(deployed, config)
        assert len(lines_under(root)) == 300
        for _ in range(200):
            assert post(connection, ROW, "text/csv") == 200
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        connection.close()
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    data = b"".join(p.read_bytes() for p in root.rglob("*.jsonl"))
    complete = data.count(b"\n")
    assert 300 <= complete <= 500 and (data.endswith(b"\n") or complete < 500)
    count, report = read_back(root)
    assert count == complete  # every whole line is read; at most a truncated last one is skipped
    # a truncated last line (as a kill in the middle of a write leaves) is skipped, and a restarted server
    # writes a new file instead of appending to the damaged one
    damaged = sorted(root.rglob("*.jsonl"))[-1]
    with open(damaged, "ab") as handle:
        handle.write(b'{"captureData":{"endpointInput":{"observedContentType":"text/csv","mo')
    process, port = serve_subprocess(deployed)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        assert post(connection, ROW, "text/csv") == 200
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    assert len(list(root.rglob("*.jsonl"))) == 2
    count, report = read_back(root)
    assert count == complete + 1 and sum(report.skipped.values()) == 1


def test_capture_file_descriptors_are_closed_after_stop(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    writer = CaptureWriter(settings(), tmp_path, "e", "v", clock=StepClock(T0, 3600))
    for _ in range(8):  # eight hours: at most four files open at once, all closed at the end
        writer.capture(ROW, "text/csv", b"1\n", "text/csv")
    writer.close()
    assert len(list(tmp_path.rglob("*.jsonl"))) == 8
    assert len(os.listdir("/proc/self/fd")) == before
