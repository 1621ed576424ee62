"""Alert sinks: a real webhook server on 127.0.0.1 (failures, timeouts, final 4xx), the JSONL file, the log."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from monitoring.local.alarms import Transition
from monitoring.local.alerts import (
    Alert,
    DriftedFeature,
    JsonLinesSink,
    LogSink,
    WebhookSink,
    alert_from_transition,
    deliver,
    drifted_features,
)
from tests.monitoring.drift_checks import make_baseline, make_check, write_sample

WHEN = datetime(2024, 5, 1, 13, 5, tzinfo=timezone.utc)
ALERT = Alert(
    endpoint="abalone-ep",
    model_version="abalone/3",
    alarm_name="abalone-ep-drift",
    new_state="ALARM",
    old_state="OK",
    reason="Alarm rule ALARM(x) is TRUE: x is ALARM",
    features=(DriftedFeature("length", 0.4757, 0.1, "Robust"), DriftedFeature("sex", 0.2818, 0.1, "LInfinity")),
    report="/state/reports/abalone-ep/2024/05/01/13/report.html",
    time=WHEN,
)


class ScriptedWebhook:
    """An HTTP server on 127.0.0.1 answering POSTs from a script of (status, delay, headers).

    It serves at most as many requests as the script holds and stops by itself, also when no request comes
    for ``idle`` seconds.
    """

    def __init__(self, script: list[tuple[int, float, dict]], idle: float = 5.0) -> None:
        self.script, self.received = script, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((dict(self.headers), body))
                status, delay, headers = outer.script[len(outer.received) - 1]
                time.sleep(delay)
                self.send_response(status)
                for key, value in {"Content-Length": "2", **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        class Server(HTTPServer):
            idle_expired = False

            def handle_timeout(self) -> None:
                self.idle_expired = True

            def handle_error(self, request, client_address) -> None:
                pass  # the client gave up (timeout test): nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.timeout = idle
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in self.script:
            self.server.handle_request()
            if self.server.idle_expired:
                break
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/drift"

    def stop(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture()
def webhook():
    started = []

    def start(*script: tuple) -> ScriptedWebhook:
        server = ScriptedWebhook([(s[0], s[1] if len(s) > 1 else 0.0, s[2] if len(s) > 2 else {}) for s in script])
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_webhook_retries_failures_with_exponential_backoff_then_succeeds(webhook):
    server = webhook((503,), (500,), (200,))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    (result,) = deliver(ALERT, [WebhookSink(server.url, timeout=2.0, retries=3, backoff=0.01)], sleep=sleep)
    assert (result.ok, result.attempts, result.status, result.error) == (True, 3, 200, "")
    assert waits == [0.01, 0.02]
    assert len(server.received) == 3
    for headers, body in server.received:
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == ALERT.to_json()


def test_webhook_400_is_final(webhook):
    server = webhook((400,))
    waits: list[float] = []
    (result,) = deliver(ALERT, [WebhookSink(server.url, retries=3, backoff=0.01)], sleep=waits.append)
    assert (result.ok, result.attempts, result.status) == (False, 1, 400)
    assert result.error == "HTTP 400 Bad Request (not retried)"
    assert waits == [] and len(server.received) == 1


def test_webhook_429_is_retried_after_retry_after(webhook):
    server = webhook((429, 0.0, {"Retry-After": "3"}), (204,))
    waits: list[float] = []
    (result,) = deliver(ALERT, [WebhookSink(server.url, retries=2, backoff=0.5)], sleep=waits.append)
    assert (result.ok, result.attempts, result.status) == (True, 2, 204)
    assert waits == [3.0]


def test_webhook_timeouts_are_bounded_and_reported(webhook):
    server = webhook((200, 0.5), (200, 0.5))
    waits: list[float] = []
    started = time.monotonic()
    (result,) = deliver(ALERT, [WebhookSink(server.url, timeout=0.15, retries=1, backoff=0.05)], sleep=waits.append)
    elapsed = time.monotonic() - started
    assert (result.ok, result.attempts, result.status) == (False, 2, None)
    assert "timed out" in result.error
    assert waits == [0.05]
    assert elapsed < 0.9  # two attempts of 0.15 s, not the server's 0.5 s each


def test_webhook_gives_up_after_its_retries_and_does_not_follow_redirects(webhook):
    failing = webhook((503,), (502,), (503,))
    (result,) = deliver(ALERT, [WebhookSink(failing.url, retries=2, backoff=0.0)], sleep=lambda s: None)
    assert (result.ok, result.attempts, result.status) == (False, 3, 503)
    assert result.error.startswith("HTTP 503")
    moved = webhook((302, 0.0, {"Location": "http://127.0.0.1:9/elsewhere"}))
    (result,) = deliver(ALERT, [WebhookSink(moved.url, retries=2)], sleep=lambda s: None)
    assert (result.ok, result.attempts, result.status) == (False, 1, 302)
    assert len(moved.received) == 1


def test_unreachable_webhook_is_a_failed_result_not_an_exception():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    waits: list[float] = []
    (result,) = deliver(ALERT, [WebhookSink(f"http://127.0.0.1:{port}/", retries=2, backoff=0.1)], sleep=waits.append)
    assert (result.ok, result.attempts) == (False, 3)
    assert "ConnectionRefusedError" in result.error
    assert waits == [0.1, 0.2]


def test_jsonl_sink_appends_whole_lines(tmp_path):
    path = tmp_path / "alerts" / "alerts.jsonl"
    second = Alert(**{**ALERT.__dict__, "new_state": "OK", "old_state": "ALARM", "features": ()})
    assert [r.ok for r in deliver(ALERT, [JsonLinesSink(path)])] == [True]
    assert [r.ok for r in deliver(second, [JsonLinesSink(path)])] == [True]
    text = path.read_text()
    assert text.endswith("\n")
    first, last = (json.loads(line) for line in text.splitlines())
    assert first == ALERT.to_json()
    assert first["features"][0] == {"name": "length", "distance": 0.4757, "threshold": 0.1, "method": "Robust"}
    assert first["time"] == "2024-05-01T13:05:00Z"
    assert (last["new_state"], last["features"]) == ("OK", [])


def test_jsonl_sink_keeps_lines_whole_under_concurrency_and_after_a_torn_line(tmp_path):
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"torn": ')  # a writer died mid-line

    def writer() -> None:
        for _ in range(25):
            deliver(ALERT, [JsonLinesSink(path)])

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    torn, *lines = path.read_text().splitlines()
    assert torn == '{"torn": '
    assert len(lines) == 100
    assert all(json.loads(line) == ALERT.to_json() for line in lines)


def test_log_sink_logs_the_summary(caplog):
    with caplog.at_level(logging.INFO, logger="monitoring.alerts"):
        (result,) = deliver(ALERT, [LogSink(logging.ERROR)])
    assert result.ok
    (record,) = [r for r in caplog.records if r.message.startswith("ALERT ")]
    assert record.levelno == logging.ERROR
    assert record.message == (
        "ALERT abalone-ep-drift is ALARM (was OK) on endpoint abalone-ep, model version abalone/3; "
        "drifted: length 0.476 > 0.1, sex 0.282 > 0.1; report: /state/reports/abalone-ep/2024/05/01/13/report.html"
    )
    assert record.alert["model_version"] == "abalone/3"


def test_a_failing_sink_never_stops_the_others(tmp_path, caplog):
    class Broken:
        name = "broken"

        def send(self, alert, sleep):
            raise RuntimeError("sink exploded")

    good = tmp_path / "ok.jsonl"
    sinks = [Broken(), JsonLinesSink(tmp_path), JsonLinesSink(good)]  # a directory is not a file to append to
    with caplog.at_level(logging.ERROR, logger="monitoring.alerts"):
        results = deliver(ALERT, sinks)
    assert [(r.sink, r.ok) for r in results] == [("broken", False), ("jsonl", False), ("jsonl", True)]
    assert results[0].error == "RuntimeError: sink exploded"
    assert results[1].error.startswith("IsADirectoryError")
    assert len(good.read_text().splitlines()) == 1
    assert sum("NOT delivered" in r.message for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://x"}, "url must start with http:// or https://, got 'ftp://x'"),
        ({"url": "http://x", "timeout": "soon"}, "must be numbers and retries an integer"),
        ({"url": "http://x", "retries": 1.5}, "must be numbers and retries an integer"),
    ],
)
def test_invalid_webhook_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        WebhookSink(**options)


def test_alert_from_a_transition_and_a_real_analysis_summary(tmp_path):
    baseline = make_baseline(tmp_path / "baseline")
    result = make_check(baseline, write_sample(tmp_path / "drift.csv", scale=1.3), tmp_path / "check", WHEN)
    transition = Transition("drift", "OK", "ALARM", "Alarm rule ... is TRUE", {}, WHEN)
    alert = alert_from_transition(transition, "ep", "abalone/3", result.paths["summary"], report="r.html")
    expected = sorted((d for d in result.drifts if d.drifted), key=lambda d: -d.distance)
    assert [(f.name, f.distance, f.threshold, f.method) for f in alert.features] == [
        (d.feature_name, d.distance, d.threshold, d.method) for d in expected
    ]
    assert {"length", "diameter", "whole_weight"} <= {f.name for f in alert.features}
    assert (alert.time, alert.new_state, alert.old_state, alert.report) == (WHEN, "ALARM", "OK", "r.html")
    assert drifted_features(json.loads(result.paths["summary"].read_text())) == alert.features
    with pytest.raises(ValueError, match=r"drift\[0\] needs feature, distance and threshold"):
        drifted_features({"drift": [{"feature": "x"}]})
    with pytest.raises(ValueError, match="Cannot read the analysis summary"):
        drifted_features(tmp_path / "missing.json")


def test_a_model_quality_alert_says_model_quality_with_metrics_against_thresholds():
    from monitoring.local.alerts import QualityMetric

    transition = Transition("abalone-ep-model-quality", "OK", "ALARM", "Alarm rule is TRUE", {}, WHEN)
    metrics = [
        QualityMetric("rmse", 3.4123, 2.5, "GreaterThanThreshold"),
        QualityMetric("r2", 0.61, 0.5, "LessThanThreshold"),
    ]
    alert = alert_from_transition(transition, "abalone-ep", "abalone/3", report="r", model_quality=metrics)
    assert alert.summary == (
        "abalone-ep-model-quality is ALARM (was OK) on endpoint abalone-ep, model version abalone/3; "
        "model quality: rmse 3.412 > 2.5, r2 0.61 within 0.5; report: r"
    )
    body = alert.to_json()["model_quality"]
    assert [(m["name"], m["breached"]) for m in body] == [("rmse", True), ("r2", False)]
    assert QualityMetric("auc", 0.7, 0.7, "LessThanOrEqualToThreshold").breached
    empty = alert_from_transition(transition, "abalone-ep", "abalone/3", model_quality=[])
    assert "model quality: no metrics in this check" in empty.summary
    assert ALERT.to_json()["model_quality"] is None and "model quality" not in ALERT.summary
