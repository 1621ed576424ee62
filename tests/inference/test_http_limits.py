"""Limits against slow and too many clients, on real sockets: the header-read timeout (408) apart from the idle
timeout, the body timeout, closing idle connections after a slow answer, and the connection cap (connections whose
request the app has not are evicted: idle first, then unread answers, incomplete heads, incomplete bodies; else one
503 and close, logged once per interval)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest

from inference import http_limits
from inference.http_limits import ACCEPT_ERROR, Connections, Limits, default_max_connections, throttle_accept_errors
from inference.server import BackgroundServer, ServeOptions
from pipelines.config_sections import parse_serving
from pipelines.config_values import ConfigError
from pipelines.objectstore import locator
from tests.inference.http_harness import Harness, closed_within, exchange, status_of

GOOD = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
STUCK_BODY = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\nM"
PING = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


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


def open_busy(server, count: int) -> list:
    """``count`` connections whose request the app has (``/hold``): not evictable."""
    sockets = []
    for _ in range(count):
        sock = server.connect()
        sock.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets.append(sock)
    assert server.wait_until(lambda: server.held == count)
    return sockets


def open_stuck_in_body(server, count: int) -> list:
    """``count`` connections that sent a complete head and 1 byte of a 1000-byte body, then nothing."""
    sockets = []
    for _ in range(count):
        sock = server.connect()
        sock.sendall(STUCK_BODY)
        sockets.append(sock)
    assert server.wait_until(lambda: server.phases() == ["body"] * count)
    return sockets


def test_over_the_cap_new_connections_get_one_503_and_the_log_says_so_once(caplog):
    with Harness(Limits(max_body=1024, idle_timeout=30, header_timeout=30, max_connections=4)) as server:
        held = open_busy(server, 4)
        try:
            with caplog.at_level(logging.WARNING, logger="inference.http"):
                for _ in range(20):
                    with server.connect() as sock:
                        answer = closed_within(sock, 3)
                    assert answer is not None and (answer == b"" or status_of(answer) == 503)
            refusals = [r for r in caplog.records if "Connection cap of 4 reached" in r.getMessage()]
            assert len(refusals) == 1 and server.connections.refused == 20
            assert server.open_count() == 4 and server.connections.evicted == 0
        finally:
            server.release()
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


def test_at_the_cap_connections_stuck_mid_body_make_room_for_ping():
    """20 of 20 connections stuck mid-body used to get /ping a 503 "Too many open connections" for up to the idle
    timeout (60 s): an incomplete body is an incomplete request, evictable like an incomplete head."""
    with Harness(Limits(max_body=6 * 1024 * 1024, idle_timeout=60, header_timeout=10, max_connections=20)) as server:
        held = open_stuck_in_body(server, 20)
        try:
            answer = exchange(server.port, PING)
            assert status_of(answer) == 200 and answer.endswith(b"echo:"), answer
            assert server.connections.evicted == 1 and server.connections.refused == 0
            closed = [answer for answer in (closed_within(sock, 0.1) for sock in held) if answer is not None]
            assert len(closed) == 1 and status_of(closed[0]) == 503, closed
            assert b"closed this incomplete request" in closed[0]
        finally:
            for sock in held:
                sock.close()


class Stub:
    """A connection for ``Connections`` alone: records its eviction."""

    def __init__(self, name: str, evicted: list[str]) -> None:
        self.name, self.evicted = name, evicted

    def evict(self) -> None:
        self.evicted.append(self.name)


def test_eviction_order_is_idle_unread_answers_heads_then_the_body_waiting_longest_and_never_busy():
    evicted: list[str] = []
    connections = Connections(cap=6)
    stubs = {name: Stub(name, evicted) for name in ("body 1", "body 2", "head", "sending", "idle", "busy")}
    for name, stub in stubs.items():  # marked oldest first: an order by age alone would take "body 1" first
        assert connections.admit(stub)
        connections.mark(stub, name.split()[0])
    connections.touch(stubs["body 1"])  # received a byte since: "body 2" has waited longer
    connections.mark(stubs["head"], "head")  # marking the same phase again keeps its place
    for index in range(5):
        newcomer = Stub(f"new {index}", evicted)
        assert connections.admit(newcomer)
        connections.mark(newcomer, "busy")
    assert evicted == ["idle", "sending", "head", "body 2", "body 1"]
    assert not connections.admit(Stub("refused", evicted)) and connections.refused == 1
    assert connections.evicted == 5 and len(connections) == 6


def test_ping_is_answered_by_the_endpoint_while_every_connection_is_stuck_mid_body(tmp_path):
    options = ServeOptions(
        tmp_path / "state", "stuck", locate=locator(tmp_path / "state"), port=0, max_connections=20, header_timeout=30
    )
    with BackgroundServer(options) as server:
        held = []
        try:
            for _ in range(20):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                held.append(sock)
                head, _, byte = STUCK_BODY.partition(b"\r\n\r\n")
                sock.sendall(head + b"\r\nExpect: 100-continue\r\n\r\n")
                assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the server has read the head
                sock.sendall(byte)
            answer = exchange(server.port, PING)
            assert status_of(answer) == 503 and b"No model deployed to endpoint 'stuck'" in answer, answer
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
