"""Request framing per RFC 9112 on real sockets: Content-Length and Transfer-Encoding given once and strictly
formed, chunk sizes that are plain ASCII hex digits; every violation is a 400 with a message and the connection
closes, and the server keeps answering. Parsing is incremental: the work a request costs is linear in its size
however it is cut into chunks and reads (counted on an instrumented buffer, not timed)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from inference.http_limits import Limits
from inference.http_parse import ChunkedBody, ProtocolError
from tests.inference.http_harness import FakeTransport, Harness, exchange, protocol_on, status_of

POST = b"POST /echo HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def server():
    with Harness(Limits(max_body=1024, idle_timeout=5, header_timeout=5)) as harness:
        yield harness


def assert_rejected(server, data: bytes, message: bytes) -> None:
    answer = exchange(server.port, data)
    assert status_of(answer) == 400, answer
    assert b"Connection: close" in answer and message in answer, answer
    assert exchange(server.port, POST + b"Content-Length: 2\r\n\r\nok").endswith(b"echo:ok")


def test_a_well_formed_request_is_answered(server):
    assert exchange(server.port, POST + b"Content-Length: 3\r\n\r\nabc").endswith(b"\r\n\r\necho:abc")
    chunked = POST + b"Transfer-Encoding: chunked\r\n\r\n3 ; name=value\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"
    assert exchange(server.port, chunked).endswith(b"echo:abc")
    assert exchange(server.port, POST + b"Content-Length: 003\r\n\r\nabc").endswith(b"echo:abc")


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (b"Content-Length: 3\r\nContent-Length: 3\r\n", b"Content-Length given 2 times"),
        (b"Content-Length: 3\r\nContent-Length: 5\r\n", b"Content-Length given 2 times"),
        (b"Content-Length: 3\r\ncontent-length: 3\r\n", b"Content-Length given 2 times"),
        (b"Content-Length: 3, 3\r\n", b"Content-Length must be ASCII digits"),
    ],
)
def test_duplicate_or_conflicting_content_length_is_400(server, lengths, message):
    assert_rejected(server, POST + lengths + b"\r\nabcde", message)


@pytest.mark.parametrize("digit", [b"\xb2", b"\xb3", b"\xb9", b"1\xb2", b"\xef\xbc\x93"])
def test_non_ascii_digits_in_content_length_are_400_not_a_dropped_connection(server, digit, caplog):
    with caplog.at_level(logging.ERROR):
        assert_rejected(server, POST + b"Content-Length: " + digit + b"\r\n\r\nabc", b"must be ASCII digits 0-9")
    assert "Fatal error" not in caplog.text


@pytest.mark.parametrize(
    "size",
    [b"0x3", b"0X3", b"+3", b"-0", b"0_3", b" 3", b"\t3", b"3 ", b"3\x0b", b"\xb3", b"\xd9\xa3", b"", b";x"],
)
def test_chunk_sizes_that_are_not_plain_hex_digits_are_400(server, size):
    data = POST + b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\nabc\r\n0\r\n\r\n"
    assert_rejected(server, data, b"must start with ASCII hex digits")


def test_an_overlong_chunk_size_is_413_not_a_huge_int(server):
    data = POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 200 + b"\r\n"
    assert status_of(exchange(server.port, data)) == 413


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"'transfer-encoding' given 2 times"),
        (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", b"'transfer-encoding' given 2 times"),
        (b"Transfer-Encoding: chunked, chunked\r\n", b"only chunked"),
        (b"Host: y\r\n", b"'host' given 2 times"),
        (b"Bad Name: x\r\n", b"Malformed header line"),
        (b" folded: x\r\n", b"Malformed header line"),
    ],
)
def test_repeated_framing_headers_and_malformed_names_are_400(server, headers, message):
    assert_rejected(server, POST + headers + b"\r\n0\r\n\r\n", message)


def test_the_default_error_page_answers_without_falling_back(server, caplog):
    """The server's own error answers go through its error page (no 'Error page ... failed' and no fallback)."""
    with caplog.at_level(logging.ERROR, logger="inference.http"):
        assert_rejected(server, POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", b"given 2 times")
    assert not [r for r in caplog.records if "Error page" in r.getMessage()]


class CountingBuffer(bytearray):
    """A receive buffer that counts the bytes its searches (``find``) and copies (slices) examine, the ways the
    parser reads it, and fails as soon as they pass ``budget``."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget
        self.examined = 0

    def _count(self, count: int) -> None:
        self.examined += count
        assert self.examined <= self.budget, f"the parser examined over {self.budget} bytes"

    def find(self, sub, start=None, end=None) -> int:  # type: ignore[override]
        found = super().find(sub, start, end)
        first = 0 if start is None else start
        self._count((found + len(sub) if found >= 0 else len(self) if end is None else end) - first)
        return found

    def __getitem__(self, index):  # type: ignore[override]
        item = super().__getitem__(index)
        if isinstance(index, slice):
            self._count(len(item))
        return item


def one_byte_chunks(data: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"1\r\n%c\r\n" % byte for byte in data) + b"0\r\n" + trailer + b"\r\n"


def feed(wire: bytes, piece: int, budget: int, max_body: int = 1 << 20) -> tuple[bytes, int]:
    """What the server answers to ``wire`` received ``piece`` bytes per read, and the bytes its parser examined."""

    async def run() -> tuple[bytes, int]:
        transport = FakeTransport()
        protocol = protocol_on(transport, Limits(max_body=max_body, idle_timeout=5, header_timeout=5))
        protocol.buffer = buffer = CountingBuffer(budget)
        for start in range(0, len(wire), piece):
            protocol.data_received(wire[start : start + piece])
            while protocol.deferred:
                await asyncio.sleep(0)
        return bytes(transport.written), buffer.examined

    return asyncio.run(run())


CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("label", "wire", "piece"),
    [
        ("1-byte chunks, 7 bytes a read", CHUNKED + one_byte_chunks(bytes(range(256)) * 80), 7),
        ("1-byte chunks, 4 KiB a read", CHUNKED + one_byte_chunks(b"x" * 20000), 4096),
        ("a trailer a byte a read", CHUNKED + one_byte_chunks(b"abc", b"X-Long: " + b"t" * 20000 + b"\r\n"), 1),
        ("a head a byte a read", POST + b"X-Long: " + b"h" * 20000 + b"\r\nContent-Length: 2\r\n\r\nok", 1),
    ],
)
def test_parsing_examines_each_byte_a_bounded_number_of_times(label, wire, piece):
    """Parsing from the buffer's start on every read examined bytes quadratically: 1 MB sent in 1-byte chunks held
    the event loop (and every other client) for 55 s. The budget is 8 examinations per byte received (a 1-byte read
    costs a few: the bytes a CRLF cut in two may hide are searched again); the old parser took thousands."""
    answer, examined = feed(wire, piece, budget=8 * len(wire))
    body = wire.partition(b"\r\n\r\n")[2]
    expected = body if b"Content-Length" in wire else ChunkedBody(1 << 20).feed(bytearray(body), len(body))
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\necho:" + expected), answer[-100:]
    assert examined <= 8 * len(wire)


def test_a_read_of_many_tiny_chunks_is_decoded_in_turns_with_other_connections():
    """One read of 40,000 1-byte chunks is decoded a few thousand elements per turn of the event loop, not read
    further meanwhile, so the other connections are served in between."""
    body = bytes(range(256)) * 160

    async def run() -> tuple[int, bytes]:
        transport = FakeTransport()
        protocol = protocol_on(transport, Limits(max_body=1 << 20, idle_timeout=5, header_timeout=5))
        protocol.data_received(CHUNKED + one_byte_chunks(body))
        assert not transport.written and protocol.deferred and not transport.is_reading()
        turns = 0
        while protocol.deferred:
            await asyncio.sleep(0)
            turns += 1
        assert transport.is_reading()
        return turns, bytes(transport.written)

    turns, answer = asyncio.run(run())
    assert answer.endswith(b"\r\n\r\necho:" + body) and turns >= 2 * len(body) // 8192


def decode(wire: bytes, piece: int, max_body: int = 1024) -> tuple[bytes | None, bytes]:
    """``wire`` fed to one decoder ``piece`` bytes at a time: the body (None if incomplete) and the bytes after it."""
    decoder, buffer = ChunkedBody(max_body), bytearray()
    for start in range(0, len(wire), piece):
        buffer += wire[start : start + piece]
        body = decoder.feed(buffer)
        if body is not None:
            return body, bytes(buffer) + wire[start + piece :]
    return None, bytes(buffer)


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 1000])
def test_a_chunked_body_decodes_the_same_however_it_is_cut_into_reads(piece):
    wire = b"3;ext=1\r\nabc\r\n10\r\n" + b"d" * 16 + b"\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"
    assert decode(wire + b"GET /next", piece) == (b"abc" + b"d" * 16, b"GET /next")
    assert decode(wire[:-1], piece)[0] is None


@pytest.mark.parametrize("piece", [1, 4, 10_000])
@pytest.mark.parametrize(
    ("wire", "status", "message"),
    [
        (b"3\r\nabcX\r\n0\r\n\r\n", 400, "chunk data not followed by CRLF"),
        (b"0x3\r\nabc\r\n0\r\n\r\n", 400, "must start with ASCII hex digits"),
        (b"3;" + b"e" * 1100 + b"\r\nabc\r\n", 400, "chunk size line longer than 1024 bytes"),
        (b"3;" + b"e" * 1100, 400, "chunk size line longer than 1024 bytes"),
        (b"400\r\n" + b"a" * 1024 + b"\r\n1\r\na\r\n", 413, "over the limit of 1024 bytes"),
        (b"0\r\n" + b"X-T: 1\r\n" * 10_000, 431, "Chunked trailer larger than 65536 bytes"),
    ],
)
def test_chunked_framing_errors_are_found_however_the_body_is_cut(wire, status, message, piece):
    with pytest.raises(ProtocolError, match=message) as raised:
        decode(wire, piece)
    assert raised.value.status == status


def test_the_body_limit_counts_decoded_bytes_not_bytes_on_the_wire():
    """1024 bytes in 1-byte chunks are 6 KiB on the wire and within a 1024-byte limit; one byte more is a 413."""
    assert decode(one_byte_chunks(b"z" * 1024), 4096) == (b"z" * 1024, b"")
    with pytest.raises(ProtocolError) as raised:
        decode(one_byte_chunks(b"z" * 1025), 4096)
    assert raised.value.status == 413


@pytest.mark.parametrize(
    "wire",
    [
        b"POST /echo HTTP/1.1\nHost: x\nContent-Length: 2\n\nhi",  # bare LF line ends (RFC 9112 2.2)
        b"POST /echo HTTP/1.1\r\nHost: x\nContent-Length: 2\r\n\nhi",  # mixed
        b"\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",  # a blank LF line before the request
    ],
)
def test_heads_with_bare_lf_line_ends_are_answered_at_once(wire):
    """A head ending in LF LF used to wait for the 10 s head timeout and get a 408: it is answered as soon as it
    arrives, whatever the reads, as the CRLF one is."""
    for piece in (1, len(wire)):
        answer, _ = feed(wire, piece, budget=64 * len(wire))
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"hi"), answer[:200]
