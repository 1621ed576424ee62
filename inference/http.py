"""A small HTTP/1.1 server on asyncio's Protocol API: keep-alive, pipelining, chunked request bodies,
``Expect: 100-continue``, a body size limit answered with 413 before the body is read, idle timeouts.

It knows nothing about models: each complete request goes to an ``app`` callable that returns a ``Response``
(or an awaitable of one, for work that must leave the event loop). Protocol errors are answered with a 4xx
whose body says what was wrong, and the connection is closed; they never reach the app.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


App = Callable[[Request], "Response | Awaitable[Response]"]


class ProtocolError(Exception):
    """A request this server cannot parse; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def render(response: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    """The response's bytes on the wire (``head_only``: the answer to HEAD, headers without the body)."""
    head = [
        f"HTTP/1.1 {response.status} {_reason(response.status)}\r\n"
        f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n"
    ]
    for name, value in response.headers.items():
        head.append(f"{name}: {value}\r\n")
    if not keep_alive:
        head.append("Connection: close\r\n")
    head.append("\r\n")
    return "".join(head).encode("latin-1") + (b"" if head_only else response.body)


def error_response(status: int, message: str) -> Response:
    return Response(status, (message.rstrip("\n") + "\n").encode("utf-8"))


@dataclass
class _Head:
    method: str
    path: str
    headers: dict[str, str]
    keep_alive: bool
    length: int | None  # None: chunked


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app: App, max_body: int, idle_timeout: float, connections: set) -> None:
        self.app = app
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head: _Head | None = None
        self.busy = False  # a request is with the app (responses go out in request order)
        self.closing = False
        self.discarding = False  # after a protocol error: input is dropped until the connection closes
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()

    # -- connection lifecycle ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def _arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(self.idle_timeout, self._idle)

    def _idle(self) -> None:
        if not self.busy and self.transport is not None:
            self.transport.close()

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
        if not self.busy:
            self._process()

    def _process(self) -> None:
        while self.transport is not None and not self.transport.is_closing() and not self.busy:
            try:
                if self.head is None:
                    self.head = self._parse_head()
                    if self.head is None:
                        return
                body = self._take_body(self.head)
                if body is None:
                    return
            except ProtocolError as exc:
                self._fail(exc.status, exc.message)
                return
            head, self.head = self.head, None
            self._arm_timer()
            self._dispatch(head, body)

    def _parse_head(self) -> _Head | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise ProtocolError(431, f"Request head larger than {MAX_HEAD_BYTES} bytes")
            if self.buffer[:2] == b"\r\n":  # tolerate blank lines between requests (RFC 9112 2.2)
                del self.buffer[:2]
            return None
        if end > MAX_HEAD_BYTES:
            raise ProtocolError(431, f"Request head larger than {MAX_HEAD_BYTES} bytes")
        raw = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        try:
            text = raw.decode("latin-1").lstrip("\r\n")
        except UnicodeDecodeError:  # latin-1 decodes every byte; kept for clarity
            raise ProtocolError(400, "Request head is not text") from None
        lines = text.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ProtocolError(400, f"Malformed request line {lines[0][:100]!r}: expected 'METHOD /path HTTP/1.1'")
        method, path, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise ProtocolError(400, f"Unsupported protocol {version[:20]!r}: use HTTP/1.1 or HTTP/1.0")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or " " in name:
                raise ProtocolError(400, f"Malformed header line {line[:100]!r}: expected 'Name: value'")
            headers[name.lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        encoding = headers.get("transfer-encoding")
        if encoding is not None:
            if encoding.lower() != "chunked":
                raise ProtocolError(400, f"Unsupported Transfer-Encoding {encoding!r}: only chunked")
            if "content-length" in headers:
                raise ProtocolError(400, "Both Content-Length and Transfer-Encoding given: send one")
            length = None
        else:
            given = headers.get("content-length", "0")
            if not given.isdigit():
                raise ProtocolError(400, f"Content-Length must be a non-negative integer, got {given[:40]!r}")
            length = int(given)
            if length > self.max_body:
                raise ProtocolError(413, self._too_large(length))
        if headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return _Head(method, path, headers, keep_alive, length)

    def _too_large(self, size: int | str) -> str:
        return (
            f"Request body of {size} bytes is over the limit of {self.max_body} bytes "
            f"({self.max_body / 1048576:g} MiB); send fewer records per request"
        )

    def _take_body(self, head: _Head) -> bytes | None:
        if head.length is not None:
            if len(self.buffer) < head.length:
                return None
            body = bytes(self.buffer[: head.length])
            del self.buffer[: head.length]
            return body
        return self._take_chunked()

    def _take_chunked(self) -> bytes | None:
        """The whole chunked body once it has arrived (trailers dropped), else None; buffer untouched until then."""
        position, chunks, total = 0, [], 0
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                if len(buffer) - position > 1024:
                    raise ProtocolError(400, "Malformed chunked body: chunk size line too long")
                return None
            size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(400, f"Malformed chunked body: chunk size {size_text[:20]!r} is not hex") from None
            if size < 0:
                raise ProtocolError(400, "Malformed chunked body: negative chunk size")
            total += size
            if total > self.max_body:
                raise ProtocolError(413, self._too_large(f"more than {self.max_body}"))
            position = line_end + 2
            if size == 0:
                trailer_end = buffer.find(b"\r\n", position)
                while trailer_end > position:  # skip trailer fields up to the empty line
                    position = trailer_end + 2
                    trailer_end = buffer.find(b"\r\n", position)
                if trailer_end < 0:
                    return None
                del buffer[: trailer_end + 2]
                return b"".join(chunks)
            if len(buffer) < position + size + 2:
                return None
            if buffer[position + size : position + size + 2] != b"\r\n":
                raise ProtocolError(400, "Malformed chunked body: chunk data not followed by CRLF")
            chunks.append(bytes(buffer[position : position + size]))
            position += size + 2

    # -- answering -----------------------------------------------------------------------------------
    def _fail(self, status: int, message: str) -> None:
        """Answer, then close gracefully: half-close and discard what the client still sends for a moment, so
        that the client reads the answer instead of a reset (closing with unread input sends RST)."""
        self.buffer.clear()
        self.discarding = True
        transport = self.transport
        if transport is None:
            return
        transport.write(render(error_response(status, message), keep_alive=False))
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def _dispatch(self, head: _Head, body: bytes) -> None:
        request = Request(head.method, head.path, head.headers, body)
        try:
            result = self.app(request)
        except Exception:
            logger.exception("Unhandled error for %s %s", head.method, head.path)
            result = error_response(500, "Internal server error (logged by the server)")
        head_only = head.method == "HEAD"
        if inspect.isawaitable(result):
            self.busy = True
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
        if self.transport is not None and not self.transport.is_closing():
            self._process()

    def _send(self, response: Response, keep_alive: bool, head_only: bool = False) -> None:
        if self.transport is None:
            return
        keep_alive = keep_alive and not self.closing
        self.transport.write(render(response, keep_alive, head_only))
        if not keep_alive:
            self.transport.close()


async def start_server(
    app: App, host: str, port: int, max_body: int, idle_timeout: float = 60.0
) -> tuple[asyncio.base_events.Server, set]:
    """Listen on host:port; returns the asyncio server and the live connections (for a graceful stop)."""
    loop = asyncio.get_running_loop()
    connections: set = set()
    server = await loop.create_server(
        lambda: HttpProtocol(app, max_body, idle_timeout, connections), host, port, reuse_address=True, backlog=1024
    )
    return server, connections


async def drain(server: asyncio.base_events.Server, connections: set, timeout: float = 30.0) -> None:
    """Stop accepting, let in-flight requests finish and close every connection."""
    server.close()
    for connection in list(connections):
        connection.shutdown()
    deadline = asyncio.get_running_loop().time() + timeout
    while connections and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    for connection in list(connections):
        if connection.transport is not None:
            connection.transport.abort()
    await server.wait_closed()
