"""Backpressure on real sockets: a connection is not read while the app has its request, nor while its client leaves
the answers unread, so what a client sends meanwhile waits in the sockets (TCP flow control) and the bytes the server
holds stay bounded; it used to read 83 MB of pipelined bytes during one 1.2 s request. Pipelined requests are still
all answered, in order, and a client that never reads its answers is closed after the idle timeout or evicted at
the cap (its answers would otherwise hold the connection for ever)."""

from __future__ import annotations

import select
import socket
import threading

from inference.http_limits import Limits
from tests.inference.http_harness import Harness, exchange, status_of

BOUND = 1 << 20  # what the server may hold for one connection: a request and one read (asyncio reads 256 KiB)
PUMP = 64 << 20  # what the client offers: an unbounded server takes it all in
HOLD = b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
REQUEST = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"r" * 1000
PING = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def pump(sock: socket.socket, limit: int = PUMP) -> int:
    """Send ``REQUEST`` again and again until the socket has stayed full for 0.5 s (the server stopped reading),
    ``limit`` bytes, or the server closed; the bytes sent (the last request may be cut)."""
    block = REQUEST * (65536 // len(REQUEST) + 2)
    sock.setblocking(False)
    sent = 0
    try:
        while sent < limit:
            _, writable, _ = select.select([], [sock], [], 0.5)
            if not writable:
                break
            try:
                sent += sock.send(block[sent % len(REQUEST) :])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    finally:
        sock.setblocking(True)
    return sent


def finish(sock: socket.socket, sent: int) -> bytes:
    """Read every answer while sending the rest of the cut request and half-closing: all the server answered."""
    answers: list[bytes] = []

    def read() -> None:
        while chunk := sock.recv(1 << 20):
            answers.append(chunk)

    sock.settimeout(30)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sock.sendall(REQUEST[sent % len(REQUEST) :] if sent % len(REQUEST) else b"")
    sock.shutdown(socket.SHUT_WR)
    reader.join(60)
    assert not reader.is_alive(), "the server did not answer every request"
    return b"".join(answers)


def requests_in(sent: int) -> int:
    return -(-sent // len(REQUEST))


def test_a_connection_is_not_read_while_the_app_has_its_request():
    with Harness(Limits(max_body=1024, idle_timeout=30, header_timeout=30)) as server, server.connect() as sock:
        sock.sendall(HOLD)
        assert server.wait_until(lambda: server.held == 1)
        sent = pump(sock)
        buffered = server.buffered()
        assert buffered <= BOUND, f"the server holds {buffered} bytes of {sent} pipelined while the request is held"
        assert sent < PUMP and server.phases() == ["busy"]
        server.release()
        answers = finish(sock, sent)
    assert answers.startswith(b"HTTP/1.1 200 OK") and answers.index(b"held\n") < answers.index(b"echo:")
    assert answers.count(b"HTTP/1.1 200 OK") == 1 + requests_in(sent)  # every pipelined request, once


def test_a_client_that_leaves_its_answers_unread_is_not_read_either():
    with Harness(Limits(max_body=1024, idle_timeout=30, header_timeout=30)) as server, server.connect() as sock:
        sent = pump(sock)
        buffered = server.buffered()
        assert buffered <= BOUND, f"the server holds {buffered} bytes for a client that reads none of its answers"
        assert sent < PUMP and server.phases() == ["sending"]
        answers = finish(sock, sent)
    assert answers.count(b"HTTP/1.1 200 OK") == answers.count(b"echo:" + b"r" * 1000) == requests_in(sent)


def test_a_client_that_never_reads_its_answers_is_closed_after_the_idle_timeout():
    """Closing would wait for the client to read (the connection, still counted, for ever): it is aborted."""
    with Harness(Limits(max_body=1024, idle_timeout=1, header_timeout=30)) as server, server.connect() as sock:
        pump(sock)
        assert server.wait_until(lambda: server.open_count() == 0)


def test_a_client_that_never_reads_its_answers_is_evicted_at_the_cap():
    limits = Limits(max_body=1024, idle_timeout=30, header_timeout=30, max_connections=1)
    with Harness(limits) as server, server.connect() as sock:
        pump(sock)
        assert server.phases() == ["sending"]
        answer = exchange(server.port, PING)
        assert status_of(answer) == 200 and server.connections.evicted == 1
