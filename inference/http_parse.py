"""Parsing of HTTP/1.1 request framing per RFC 9112: the request head and a chunked body.

Strict where leniency lets two parsers disagree about where a message ends (request smuggling): Content-Length is
ASCII digits only and given once; Transfer-Encoding is ``chunked`` alone and given once; a chunk size is ASCII hex
digits only (no ``0x``, sign, underscore, leading whitespace or non-ASCII digit, all of which Python's ``int``
accepts). Every violation is a ``ProtocolError`` with the status to answer and a message naming what was wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEAD_BYTES = 64 * 1024
MAX_CHUNK_LINE = 1024
STEPS_PER_FEED = 8192  # chunked-body elements decoded per call (a few ms), then other connections have their turn
SINGLE_HEADERS = ("content-length", "transfer-encoding", "host")  # RFC 9112 6.3, RFC 9110 7.2: at most once

_DIGITS = re.compile(rb"[0-9]+")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(?:[ \t]*;[^\r\n]*)?")  # chunk-size [ BWS ";" chunk-ext ]
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 5.6.2: a field name


class ProtocolError(Exception):
    """A request this server cannot parse; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.path = path  # the request's path when its request line could be read


@dataclass
class Head:
    """A parsed request head; ``length`` is None for a chunked body."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names; a repeated (list-valued) header keeps its values joined by ", "
    keep_alive: bool
    length: int | None


def too_large(size: int | str, max_body: int) -> str:
    """The 413 message for a body of ``size`` bytes over ``max_body``."""
    return (
        f"Request body of {size} bytes is over the limit of {max_body} bytes "
        f"({max_body / 1048576:g} MiB); send fewer records per request"
    )


def _content_length(values: list[str], max_body: int) -> int:
    if len(values) > 1:
        raise ProtocolError(400, f"Content-Length given {len(values)} times ({', '.join(values)[:80]}): send it once")
    given = values[0]
    if not _DIGITS.fullmatch(given.encode("latin-1")):
        raise ProtocolError(400, f"Content-Length must be ASCII digits 0-9, got {given[:40]!r}")
    if len(given) > 19 or int(given) > max_body:
        raise ProtocolError(413, too_large(given[:40], max_body))
    return int(given)


def head_end(buffer: bytearray, start: int) -> tuple[int, int]:
    """(where the head in ``buffer`` ends, the length of the blank line after it), searching from ``start``; (-1, 0)
    until it has arrived. Lines end in CRLF or, as RFC 9112 2.2 lets a recipient accept, a bare LF (then a CR before
    it is ignored): ``curl`` and browsers send CRLF, hand-written clients often LF."""
    at = buffer.find(b"\n", start)
    while at >= 0:  # one pass: each line end looked at once, with the two bytes after it
        following = bytes(buffer[at + 1 : at + 3])
        if following[:1] == b"\n":
            return at, 2
        if following == b"\r\n":
            return at, 3
        at = buffer.find(b"\n", at + 1)
    return -1, 0


def parse_head(raw: bytes, max_body: int) -> Head:
    """The head in ``raw`` (up to the line end before its blank line); ProtocolError when it is not valid
    HTTP/1.x. Lines end in CRLF or a bare LF."""
    text = raw.decode("latin-1").lstrip("\r\n")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ProtocolError(400, f"Malformed request line {lines[0][:100]!r}: expected 'METHOD /path HTTP/1.1'")
    method, path, version = parts
    try:
        return _parse_fields(method, path, version, lines[1:], max_body)
    except ProtocolError as exc:
        exc.path = path
        raise


def _parse_fields(method: str, path: str, version: str, lines: list[str], max_body: int) -> Head:
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError(400, f"Unsupported protocol {version[:20]!r}: use HTTP/1.1 or HTTP/1.0")
    fields: dict[str, list[str]] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise ProtocolError(400, f"Malformed header line {line[:100]!r}: expected 'Name: value'")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise ProtocolError(400, f"Header {name[:40]!r} contains CR, LF or NUL")
        fields.setdefault(name.lower(), []).append(value.strip(" \t"))
    for name in SINGLE_HEADERS[1:]:
        if len(fields.get(name, ())) > 1:
            raise ProtocolError(400, f"Header {name!r} given {len(fields[name])} times: send it once")
    headers = {name: ", ".join(values) for name, values in fields.items()}
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        if encoding.lower() != "chunked":
            raise ProtocolError(400, f"Unsupported Transfer-Encoding {encoding[:40]!r}: only chunked")
        if "content-length" in headers:
            raise ProtocolError(400, "Both Content-Length and Transfer-Encoding given: send one")
        length = None
    else:
        length = _content_length(fields["content-length"], max_body) if "content-length" in fields else 0
    return Head(method, path, headers, keep_alive, length)


class ChunkedBody:
    """The decoder of one chunked body, fed the receive buffer on every read: it consumes what has arrived from the
    buffer's start and keeps its place (state, bytes left in the chunk, how far a line was searched, the decoded
    body), so a body costs time linear in its size however it is cut into chunks and reads. Parsing from the start
    on every read was quadratic: 1 MB in 1-byte chunks held the event loop, and every other client, for 55 s."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.body = bytearray()
        self.declared = 0  # the chunk sizes read so far: over max_body is a 413 before that chunk's data arrives
        self.state = "size"  # size line, data (and the CRLF after it), trailer section
        self.remaining = 0  # bytes of the current chunk's data still to come
        self.scanned = 0  # bytes of the pending line already searched for its CRLF
        self.trailer = 0  # bytes of trailer fields so far
        self.more_buffered = False  # the last feed stopped after ``steps`` elements, before the end of the buffer

    def feed(self, buffer: bytearray, steps: int = STEPS_PER_FEED) -> bytes | None:
        """The whole body once its last byte has arrived (trailers dropped), else None; what was decoded is removed
        from the start of ``buffer`` either way. ProtocolError for bad framing or a body over ``max_body``.
        At most ``steps`` elements are decoded per call (then ``more_buffered`` is set): one 256 KiB read of 1-byte
        chunks is 40,000 chunks, a tenth of a second that every other connection would wait."""
        position = 0
        self.more_buffered = False
        try:
            while self.state != "done":
                if steps == 0:
                    self.more_buffered = True
                    return None
                steps -= 1
                # each step decodes what has arrived of the element at position: no progress means wait for more
                if self.state == "size":
                    advanced = self._size_line(buffer, position)
                elif self.state == "data":
                    advanced = self._data(buffer, position)
                else:
                    advanced = self._trailer_line(buffer, position)
                if advanced == position:
                    return None
                position = advanced
            return bytes(self.body)
        finally:
            del buffer[:position]

    def _line_end(self, buffer: bytearray, position: int, limit: int) -> int:
        """Where the line at ``position`` ends (its CRLF), or -1 until it has; a line over ``limit`` bytes is -2.
        Searches only the bytes not searched before, and the last of those (the CR of a CRLF cut by a read)."""
        end = buffer.find(b"\r\n", position + self.scanned)
        if end < 0:
            self.scanned = max(0, len(buffer) - position - 1)
            return -2 if len(buffer) - position > limit else -1
        self.scanned = 0
        return -2 if end - position > limit else end

    def _size_line(self, buffer: bytearray, position: int) -> int:
        end = self._line_end(buffer, position, MAX_CHUNK_LINE)
        if end == -2:
            raise ProtocolError(400, f"Malformed chunked body: chunk size line longer than {MAX_CHUNK_LINE} bytes")
        if end < 0:
            return position
        match = _CHUNK_LINE.fullmatch(buffer, position, end)
        if match is None:
            line = bytes(buffer[position:end])
            raise ProtocolError(
                400, f"Malformed chunked body: chunk size line {line[:40]!r} must start with ASCII hex digits"
            )
        digits = match.group(1)
        if len(digits) > 16 and len(digits.lstrip(b"0")) > 16:
            raise ProtocolError(413, too_large(f"more than {self.max_body}", self.max_body))
        self.remaining = int(digits, 16)
        if self.declared + self.remaining > self.max_body:
            raise ProtocolError(413, too_large(f"more than {self.max_body}", self.max_body))
        self.declared += self.remaining
        self.state = "data" if self.remaining else "trailer"
        return end + 2

    def _data(self, buffer: bytearray, position: int) -> int:
        """Take the chunk's data as it arrives (a large chunk read by read), then the CRLF after it."""
        if self.remaining:
            taken = buffer[position : position + self.remaining]
            self.body += taken
            self.remaining -= len(taken)
            position += len(taken)
            if self.remaining:
                return position
        if len(buffer) - position < 2:
            return position
        if buffer[position : position + 2] != b"\r\n":
            raise ProtocolError(400, "Malformed chunked body: chunk data not followed by CRLF")
        self.state = "size"
        return position + 2

    def _trailer_line(self, buffer: bytearray, position: int) -> int:
        """Skip one trailer field; the empty line ends the body. The trailer section is held to the head's limit."""
        end = self._line_end(buffer, position, MAX_HEAD_BYTES - self.trailer)
        if end == -2:
            raise ProtocolError(431, f"Chunked trailer larger than {MAX_HEAD_BYTES} bytes")
        if end < 0:
            return position
        self.trailer += end + 2 - position
        if end == position:
            self.state = "done"
        return end + 2
