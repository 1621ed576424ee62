"""Request framing per RFC 9112 on real sockets: Content-Length and Transfer-Encoding given once and strictly
formed, chunk sizes that are plain ASCII hex digits; every violation is a 400 with a message and the connection
closes, and the server keeps answering."""

from __future__ import annotations

import logging

import pytest

from inference.http_limits import Limits
from tests.inference.http_harness import Harness, exchange, status_of

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
