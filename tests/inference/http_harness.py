"""A bare HTTP server (inference.http with a small app, no model) on a background event loop, and raw-socket
helpers; shared by the HTTP framing and limits tests. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from inference.http import Request, Response, start_server
from inference.http_limits import Connections, Limits


def echo(request: Request) -> Response | asyncio.Future:
    """Answers the body back; ``/slow`` answers after 0.3 s (off the event loop's direct path)."""
    if request.path == "/slow":
        return asyncio.ensure_future(_later(Response(200, b"slow\n")))
    return Response(200, b"echo:" + request.body)


async def _later(response: Response) -> Response:
    await asyncio.sleep(0.3)
    return response


class Harness:
    """``start_server(app, limits)`` on a loop in a daemon thread; ``port`` and ``connections`` once started."""

    def __init__(self, limits: Limits, app=echo) -> None:
        self.limits, self.app = limits, app
        self.port = 0
        self.connections: Connections | None = None
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def listen() -> None:
            self.server, self.connections = await start_server(self.app, "127.0.0.1", 0, self.limits)
            self.port = self.server.sockets[0].getsockname()[1]
            self._ready.set()

        self.loop.run_until_complete(listen())
        self.loop.run_forever()

    def __enter__(self) -> Harness:
        self._thread.start()
        assert self._ready.wait(10), "HTTP server did not start"
        return self

    def __exit__(self, *exc) -> None:
        async def stop() -> None:
            self.server.close()
            for connection in self.connections:
                if connection.transport is not None:
                    connection.transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def open_count(self) -> int:
        return asyncio.run_coroutine_threadsafe(_count(self.connections), self.loop).result(5)


async def _count(connections: Connections) -> int:
    return len(connections)


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the socket times out)."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return answer


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection, half-close, and return all the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return read_answer(sock)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), f"not an HTTP answer: {answer[:100]!r}"
    return int(answer.split(b" ", 2)[1])


def closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, if it closed within ``seconds``; None if still open."""
    sock.settimeout(0.05)
    deadline = time.monotonic() + seconds
    received = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    return None
