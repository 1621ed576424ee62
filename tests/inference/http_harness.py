"""A bare HTTP server (inference.http with a small app, no model) on a background event loop, raw-socket helpers,
and a fake transport to drive one ``HttpProtocol`` without sockets; shared by the HTTP framing, limits and
backpressure tests. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from inference.http import HttpProtocol, start_server
from inference.http_limits import Connections, Limits
from inference.http_response import Request, Response, plain_error_page


def echo(request: Request) -> Response | asyncio.Future:
    """Answers the body back; ``/slow`` answers after 0.3 s (off the event loop's direct path)."""
    if request.path == "/slow":
        return asyncio.ensure_future(_later(Response(200, b"slow\n")))
    return Response(200, b"echo:" + request.body)


async def _later(response: Response) -> Response:
    await asyncio.sleep(0.3)
    return response


class Harness:
    """``start_server(app, limits)`` on a loop in a daemon thread; ``port`` and ``connections`` once started.
    ``/hold`` requests stay with the app (the connection busy) until ``release()``; ``held`` counts them."""

    def __init__(self, limits: Limits, app=echo) -> None:
        self.limits, self.app = limits, app
        self.port = 0
        self.connections: Connections | None = None
        self.held = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._gate = asyncio.Event()

        async def listen() -> None:
            self.server, self.connections = await start_server(self._route, "127.0.0.1", 0, self.limits)
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
            self._gate.set()  # held requests finish rather than be destroyed pending
            await asyncio.sleep(0)
            self.server.close()
            for connection in self.connections:
                if connection.transport is not None:
                    connection.transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def _route(self, request: Request):
        if request.path != "/hold":
            return self.app(request)
        self.held += 1
        return asyncio.ensure_future(self._hold())

    async def _hold(self) -> Response:
        await self._gate.wait()
        return Response(200, b"held\n")

    def release(self) -> None:
        """Answer every ``/hold`` request, now and from now on."""
        self.loop.call_soon_threadsafe(self._gate.set)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def on_loop(self, function):
        """``function()``'s result, called on the server's loop (where the connections may be read safely)."""

        async def call():
            return function()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(5)

    def open_count(self) -> int:
        return self.on_loop(lambda: len(self.connections))

    def phases(self) -> list[str]:
        """The phase of each open connection (``HttpProtocol.phase``)."""
        return self.on_loop(lambda: [connection.phase for connection in self.connections])

    def buffered(self) -> int:
        """Bytes the server holds for its connections: unparsed input and answers not yet taken by the socket."""

        def total() -> int:
            return sum(
                len(c.buffer) + (c.transport.get_write_buffer_size() if c.transport is not None else 0)
                for c in self.connections
            )

        return self.on_loop(total)

    def wait_until(self, condition, seconds: float = 5.0) -> bool:
        """Poll ``condition()`` (called on this thread) until true or ``seconds`` have passed; its last value."""
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        return bool(condition())


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


def closed_within(sock: socket.socket, seconds: float, settle: float = 5.0) -> bytes | None:
    """What the server sent before closing, if it started answering or closed within ``seconds``; None if nothing
    came and it is still open. Once bytes have come, it waits up to ``settle`` seconds more for the close, so that an
    answer whose end (or FIN) lands after the deadline on a loaded machine is not dropped."""
    sock.settimeout(0.05)
    deadline = time.monotonic() + seconds
    received = b""
    while time.monotonic() < deadline or (received and time.monotonic() < deadline + settle):
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


class FakeTransport(asyncio.Transport):
    """Collects what the protocol writes; reading can be paused and resumed, like a socket transport."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.reading = True
        self.closing = False

    def write(self, data) -> None:
        self.written += data

    def is_reading(self) -> bool:
        return self.reading and not self.closing

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def protocol_on(transport: FakeTransport, limits: Limits, app=echo) -> HttpProtocol:
    """An ``HttpProtocol`` connected to ``transport`` (call inside a running event loop)."""
    protocol = HttpProtocol(app, limits, Connections(limits.connection_cap), plain_error_page)
    protocol.connection_made(transport)
    return protocol
