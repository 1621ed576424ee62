"""A small HTTP/1.1 server on asyncio's Protocol API: keep-alive, pipelining, chunked request bodies,
``Expect: 100-continue``, a body size limit answered with 413 before the body is read, and limits against slow or
too many clients.

It knows nothing about models: each complete request goes to an ``app`` callable that returns a ``Response``
(or an awaitable of one, for work that must leave the event loop). Framing errors (``http_parse``) are answered
with a 4xx whose body says what was wrong, and the connection is closed; they never reach the app.

Timeouts, per connection: ``idle_timeout`` between requests (closed silently), ``header_timeout`` from the first
byte of a request head to its end (408: a slowloris client trickling its head never holds a connection longer),
``idle_timeout`` again from the end of the head to the end of the body (408), and for a client to read the answers
it left unread (aborted: closing would wait for it). A cap on open connections (``max_connections``, by default
below the process's descriptor limit) keeps descriptors for the rest of the server: at the cap a new connection
first evicts one whose request is not with the app (``EVICTION_ORDER``: idle, then answers unread, then an
incomplete head, then an incomplete body), else it is refused with one 503 and closed, and the log says so at most
once per ``REFUSAL_LOG_SECONDS``.

Backpressure (``inference.http_flow``): a connection is not read while the app has its request or while its
answers wait for the client to read them. Chunked bodies and request heads are parsed incrementally: the time a
request takes is linear in its size however it is cut into reads. The request and response types, their rendering
and the error answers are in ``inference.http_response``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import cast

from inference.http_flow import FlowControl
from inference.http_limits import Connections, Limits, throttle_accept_errors
from inference.http_parse import MAX_HEAD_BYTES, ChunkedBody, Head, ProtocolError, head_end, parse_head
from inference.http_response import App, ErrorPage, Request, Response, error_response, plain_error_page, render

logger = logging.getLogger(__name__)

LINGER_SECONDS = 2.0


class HttpProtocol(FlowControl):
    """One client connection. Phases: idle (between requests), head, body, busy (the app has the request), sending
    (answers wait for the client to read them; no request is parsed meanwhile)."""

    def __init__(self, app: App, limits: Limits, connections: Connections, error_page: ErrorPage) -> None:
        self.app = app
        self.limits = limits
        self.connections = connections
        self.error_page = error_page
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head: Head | None = None
        self.head_scanned = 0  # bytes of the buffer already searched in vain for the end of the head
        self.chunked: ChunkedBody | None = None  # the decoder of the chunked body being received
        self.phase = "idle"
        self.busy = False  # a request is with the app (responses go out in request order)
        self.write_paused = False  # the transport's write buffer is over its high-water mark (pause_writing)
        self.deferred = False  # the rest of a chunked body already received is decoded on a later loop iteration
        self.closing = False
        self.discarding = False  # after a protocol error: input is dropped until the connection closes
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()

    # -- connection lifecycle ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream server (loop.create_server) hands its protocol a Transport; BaseTransport is the base signature
        self.transport = stream = cast(asyncio.Transport, transport)
        if not self.connections.admit(self):
            self.discarding = True
            stream.write(render(error_response(503, "Too many open connections; retry shortly"), False))
            stream.close()
            return
        self._enter("idle")

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def evict(self) -> None:
        """Close at once (no lingering: the descriptor is what the cap protects); an incomplete request is answered
        503, and unread answers are dropped (closing would wait for the client to read them)."""
        self.discarding = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            if self.phase in ("head", "body"):
                message = "The server is at its connection limit and closed this incomplete request; retry"
                self.transport.write(render(error_response(503, message), keep_alive=False))
            if self.phase == "sending":
                self.transport.abort()
            else:
                self.transport.close()

    def _enter(self, phase: str) -> None:
        """Switch phase; a new phase starts its own deadline (trickled bytes never extend one)."""
        if phase == self.phase and self.timer is not None:
            return
        self.phase = phase
        self.connections.mark(self, None if self.discarding else phase)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if phase != "busy":
            delay = self.limits.header_timeout if phase == "head" else self.limits.idle_timeout
            self.timer = self.loop.call_later(delay, self._expired, phase)

    def _expired(self, phase: str) -> None:
        self.timer = None
        if self.busy or self.transport is None or self.discarding or phase != self.phase:
            return
        if phase == "idle":
            self.transport.close()
        elif phase == "sending":  # the client has not read its answers for idle_timeout: closing would wait for it
            self.transport.abort()
        elif phase == "head":
            self._fail(408, f"Request head not complete within {self.limits.header_timeout:g} s")
        else:
            self._fail(408, f"Request body not complete within {self.limits.idle_timeout:g} s")

    def shutdown(self) -> None:
        """Close when idle; a busy connection closes after its current response."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    # -- parsing -------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.discarding:
            return
        self.buffer += data
        if self.phase == "body":
            self.connections.touch(self)
        if not self.busy:
            self._process()

    def _process(self) -> None:
        while self.transport is not None and not self.transport.is_closing() and not self.busy:
            if self.write_paused:
                self._enter("sending")
                return
            try:
                if self.head is None:
                    self.head = self._parse_head()
                    if self.head is None:
                        self._enter("head" if self.buffer else "idle")
                        return
                body = self._take_body(self.head)
                if body is None:
                    self._enter("body")
                    if self.chunked is not None and self.chunked.more_buffered:
                        self._defer()
                    return
            except ProtocolError as exc:
                self._fail(exc.status, exc.message, exc.path or (self.head.path if self.head else None))
                return
            head, self.head = self.head, None
            self._dispatch(head, body)

    def _parse_head(self) -> Head | None:
        """The head at the buffer's start once it has all arrived (removed from the buffer), else None. Each read
        searches only the bytes not searched before, and the last two of those (a blank line cut by a read)."""
        while self.buffer[:1] == b"\n" or self.buffer[:2] == b"\r\n":  # blank lines between requests (RFC 9112 2.2)
            del self.buffer[: 1 if self.buffer[:1] == b"\n" else 2]
            self.head_scanned = 0
        end, ending = head_end(self.buffer, max(0, self.head_scanned - 2))
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise ProtocolError(431, f"Request head larger than {MAX_HEAD_BYTES} bytes")
            self.head_scanned = len(self.buffer)
            return None
        self.head_scanned = 0
        if end > MAX_HEAD_BYTES:
            raise ProtocolError(431, f"Request head larger than {MAX_HEAD_BYTES} bytes")
        raw = bytes(self.buffer[:end])
        del self.buffer[: end + ending]
        head = parse_head(raw, self.limits.max_body)
        if head.headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return head

    def _take_body(self, head: Head) -> bytes | None:
        if head.length is None:
            if self.chunked is None:
                self.chunked = ChunkedBody(self.limits.max_body)
            body = self.chunked.feed(self.buffer)
            if body is not None:
                self.chunked = None
            return body
        if len(self.buffer) < head.length:
            return None
        body = bytes(self.buffer[: head.length])
        del self.buffer[: head.length]
        return body

    # -- answering -----------------------------------------------------------------------------------
    def _fail(self, status: int, message: str, path: str | None = None) -> None:
        """Answer, then close gracefully: half-close and discard what the client still sends for a moment, so
        that the client reads the answer instead of a reset (closing with unread input sends RST)."""
        self.buffer.clear()
        self.discarding = True
        self.connections.mark(self, None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        transport = self.transport
        if transport is None:
            return
        try:
            response = self.error_page(path, status, message)
        except Exception:
            logger.exception("Error page for %s failed", path)
            response = error_response(status, message)
        transport.write(render(response, keep_alive=False))
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def _dispatch(self, head: Head, body: bytes) -> None:
        request = Request(head.method, head.path, head.headers, body)
        self._enter("busy")
        try:
            result = self.app(request)
        except Exception:
            logger.exception("Unhandled error for %s %s", head.method, head.path)
            result = error_response(500, "Internal server error (logged by the server)")
        head_only = head.method == "HEAD"
        if inspect.isawaitable(result):
            self.busy = True
            self._update_reading()  # the next request waits in the socket, not in the buffer
            self.loop.create_task(self._finish(result, head.keep_alive, head_only))
            return
        self._send(result, head.keep_alive, head_only)

    async def _finish(self, pending: Awaitable[Response], keep_alive: bool, head_only: bool) -> None:
        try:
            response = await pending
        except Exception:
            logger.exception("Unhandled error in a deferred request")
            response = error_response(500, "Internal server error (logged by the server)")
        self.busy = False
        self._send(response, keep_alive, head_only)
        self._process()
        self._update_reading()

    def _send(self, response: Response, keep_alive: bool, head_only: bool = False) -> None:
        if self.transport is None:
            return
        keep_alive = keep_alive and not self.closing
        self.transport.write(render(response, keep_alive, head_only))
        if not keep_alive:
            self.transport.close()


async def start_server(
    app: App, host: str, port: int, limits: Limits, error_page: ErrorPage = plain_error_page
) -> tuple[asyncio.base_events.Server, Connections]:
    """Listen on host:port; returns the asyncio server and the live connections (for a graceful stop)."""
    loop = asyncio.get_running_loop()
    throttle_accept_errors(loop)
    connections = Connections(limits.connection_cap)
    server = await loop.create_server(
        lambda: HttpProtocol(app, limits, connections, error_page), host, port, reuse_address=True, backlog=1024
    )
    return server, connections


async def drain(server: asyncio.base_events.Server, connections: Connections, timeout: float = 30.0) -> None:
    """Stop accepting, let in-flight requests finish and close every connection."""
    server.close()
    for connection in connections:
        connection.shutdown()
    deadline = asyncio.get_running_loop().time() + timeout
    while connections and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    for connection in connections:
        if connection.transport is not None:
            connection.transport.abort()
    await server.wait_closed()
