"""Limits against slow and too many clients, on real sockets: the header-read timeout (408) apart from the idle
timeout, the body timeout, closing idle connections after a slow answer, and the connection cap (idle or incomplete
connections evicted, else one 503 and close, logged once per interval)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest

from inference import http_limits
from inference.http_limits import ACCEPT_ERROR, Limits, default_max_connections, throttle_accept_errors
from inference.server import BackgroundServer, ServeOptions
from pipelines.config_sections import parse_serving
from pipelines.config_values import ConfigError
from pipelines.objectstore import locator
from tests.inference.http_harness import Harness, closed_within, exchange, status_of

GOOD = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"


def test_a_head_trickled_byte_by_byte_gets_408_after_the_header_timeout():
    with Harness(Limits(max_body=1024, idle_timeout=30, header_timeout=0.5)) as server, server.connect() as sock:
        started = time.monotonic()
        answer = None
        for byte in b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:  # one byte per 50 ms: 2.6 s in all
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            answer = closed_within(sock, 0.05)
            if answer is not None:
                break
        elapsed = time.monotonic() - started
        assert answer is not None and status_of(answer) == 408, answer
        assert b"Request head not complete within 0.5 s" in answer
        assert 0.4 < elapsed < 2.0


def test_an_idle_connection_closes_silently_after_the_idle_timeout():
    with Harness(Limits(max_body=1024, idle_timeout=0.3, header_timeout=5)) as server, server.connect() as sock:
        assert closed_within(sock, 3) == b""


def test_an_incomplete_body_gets_408_after_the_idle_timeout():
    with Harness(Limits(max_body=1024, idle_timeout=0.3, header_timeout=5)) as server, server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        answer = closed_within(sock, 3)
        assert answer is not None and status_of(answer) == 408 and b"Request body not complete" in answer


def test_a_connection_idle_after_a_slow_answer_is_still_closed():
    """The idle deadline restarts after each answer (a deadline that passed while the app was busy used to be
    lost, leaving the connection open for ever)."""
    with Harness(Limits(max_body=1024, idle_timeout=0.2, header_timeout=5)) as server, server.connect() as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = closed_within(sock, 3)
        assert answer is not None and answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"slow\n")


def open_in_body_phase(server, count: int) -> list:
    """``count`` connections that sent a complete head and part of the body: not evictable."""
    sockets = []
    for _ in range(count):
        sock = server.connect()
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
        sockets.append(sock)
    deadline = time.monotonic() + 5
    while server.open_count() < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return sockets


def test_over_the_cap_new_connections_get_one_503_and_the_log_says_so_once(caplog):
    with Harness(Limits(max_body=1024, idle_timeout=30, header_timeout=30, max_connections=4)) as server:
        held = open_in_body_phase(server, 4)
        try:
            with caplog.at_level(logging.WARNING, logger="inference.http"):
                for _ in range(20):
                    with server.connect() as sock:
                        answer = closed_within(sock, 3)
                    assert answer is not None and (answer == b"" or status_of(answer) == 503)
            refusals = [r for r in caplog.records if "Connection cap of 4 reached" in r.getMessage()]
            assert len(refusals) == 1 and server.connections.refused == 20
            assert server.open_count() == 4
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 5
        while server.open_count() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert exchange(server.port, GOOD).endswith(b"echo:ok")


@pytest.mark.parametrize("partial", [b"", b"POST /echo HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "incomplete head"])
def test_at_the_cap_the_oldest_idle_or_incomplete_connection_makes_room(partial):
    with Harness(Limits(max_body=1024, idle_timeout=30, header_timeout=30, max_connections=4)) as server:
        held = [server.connect() for _ in range(4)]
        try:
            for sock in held:
                sock.sendall(partial) if partial else None
                time.sleep(0.02)  # arrival order decides which is the oldest
            deadline = time.monotonic() + 5
            while server.open_count() < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert exchange(server.port, GOOD).endswith(b"echo:ok")
            assert server.connections.evicted == 1 and server.connections.refused == 0
            evicted = closed_within(held[0], 2)  # the oldest made room
            assert evicted is not None
            if partial:
                assert status_of(evicted) == 503
            assert all(closed_within(sock, 0.1) is None for sock in held[1:])
        finally:
            for sock in held:
                sock.close()


def test_the_default_cap_leaves_descriptors_for_the_rest_of_the_server(monkeypatch):
    monkeypatch.setattr(http_limits.resource, "getrlimit", lambda _: (1024, 4096))
    assert default_max_connections() == 1024 - http_limits.DESCRIPTOR_RESERVE
    monkeypatch.setattr(http_limits.resource, "getrlimit", lambda _: (100, 4096))
    assert default_max_connections() == 16
    assert Limits(max_body=1).connection_cap == 16 and Limits(max_body=1, max_connections=3).connection_cap == 3


@pytest.mark.parametrize("field", ["max_body", "idle_timeout", "header_timeout", "max_connections"])
def test_limits_name_a_bad_value(field):
    with pytest.raises(ValueError, match=f"Limits.{field} must be"):
        Limits(**{"max_body": 10, field: 0})


def test_accept_failures_for_lack_of_descriptors_are_logged_once_per_interval(caplog):
    loop = asyncio.new_event_loop()
    try:
        other = []
        loop.set_exception_handler(lambda _, context: other.append(context["message"]))
        throttle_accept_errors(loop, interval=60)
        with caplog.at_level(logging.ERROR, logger="inference.http"):
            for _ in range(1000):
                loop.call_exception_handler({"message": ACCEPT_ERROR, "exception": OSError(24, "Too many open files")})
            loop.call_exception_handler({"message": "something else"})
        assert len([r for r in caplog.records if "Cannot accept connections" in r.getMessage()]) == 1
        assert other == ["something else"]
    finally:
        loop.close()


def test_ping_is_answered_while_idle_and_slow_clients_hold_every_connection(tmp_path):
    options = ServeOptions(
        tmp_path / "state", "capped", locate=locator(tmp_path / "state"), port=0, max_connections=4, header_timeout=30
    )
    with BackgroundServer(options) as server:
        held = []
        try:
            for index in range(8):  # 4 idle, then 4 trickling a head: each new one evicts the oldest
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                if index >= 4:
                    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
                held.append(sock)
            started = time.monotonic()
            answer = exchange(server.port, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status_of(answer) == 503 and b"No model deployed to endpoint 'capped'" in answer
            assert time.monotonic() - started < 1.0
        finally:
            for sock in held:
                sock.close()


def test_serving_config_sets_the_limits_and_names_bad_values():
    serving = parse_serving(
        {"serving": {"idle_timeout_seconds": 5, "header_timeout_seconds": 2.5, "max_connections": 100}}, ""
    )
    options = ServeOptions(
        Path("state"),
        "e",
        locate=locator(Path("state")),
        idle_timeout=serving.idle_timeout_seconds,
        header_timeout=serving.header_timeout_seconds,
        max_connections=serving.max_connections,
    )
    assert options.limits == Limits(6 * 1024 * 1024, 5.0, 2.5, 100)
    assert parse_serving({}, "").max_connections is None
    for key, value, expected in [
        ("max_connections", 0, "serving.max_connections: must be an integer >= 1, got 0"),
        ("header_timeout_seconds", 0, "serving.header_timeout_seconds: must be a positive number of seconds"),
        ("idle_timeout_seconds", "1m", "serving.idle_timeout_seconds: must be a positive number of seconds"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            parse_serving({"serving": {key: value}}, "mlops.yaml: ")
