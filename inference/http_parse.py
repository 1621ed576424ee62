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


def parse_head(raw: bytes, max_body: int) -> Head:
    """The head in ``raw`` (without its final CRLF CRLF); ProtocolError when it is not valid HTTP/1.x."""
    text = raw.decode("latin-1").lstrip("\r\n")
    lines = text.split("\r\n")
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


def take_chunked(buffer: bytearray, max_body: int) -> bytes | None:
    """The whole chunked body at the start of ``buffer`` once it has arrived (removed from the buffer, trailers
    dropped), else None with the buffer untouched; ProtocolError for bad framing or a body over ``max_body``."""
    chunks: list[bytes] = []
    position, total = 0, 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            if len(buffer) - position > MAX_CHUNK_LINE:
                raise ProtocolError(400, f"Malformed chunked body: chunk size line longer than {MAX_CHUNK_LINE} bytes")
            return None
        line = bytes(buffer[position:line_end])
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise ProtocolError(
                400, f"Malformed chunked body: chunk size line {line[:40]!r} must start with ASCII hex digits"
            )
        digits = match.group(1).lstrip(b"0") or b"0"
        if len(digits) > 16 or total + int(digits, 16) > max_body:
            raise ProtocolError(413, too_large(f"more than {max_body}", max_body))
        size = int(digits, 16)
        total += size
        position = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", position)
            while trailer_end > position:  # skip trailer fields up to the empty line
                if trailer_end - position > MAX_HEAD_BYTES:
                    raise ProtocolError(431, f"Chunked trailer larger than {MAX_HEAD_BYTES} bytes")
                position = trailer_end + 2
                trailer_end = buffer.find(b"\r\n", position)
            if trailer_end < 0:
                if len(buffer) - position > MAX_HEAD_BYTES:
                    raise ProtocolError(431, f"Chunked trailer larger than {MAX_HEAD_BYTES} bytes")
                return None
            del buffer[: trailer_end + 2]
            return b"".join(chunks)
        if len(buffer) < position + size + 2:
            return None
        if buffer[position + size : position + size + 2] != b"\r\n":
            raise ProtocolError(400, "Malformed chunked body: chunk data not followed by CRLF")
        chunks.append(bytes(buffer[position : position + size]))
        position += size + 2
