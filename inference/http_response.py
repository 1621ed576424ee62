"""What the local endpoint's HTTP server (``inference.http``) and its app exchange: the ``Request`` a complete
request becomes, the ``Response`` the app returns (``App``), and the bytes a response is on the wire (``render``).

Also the error answers the server gives on its own (``error_response``) and the ``ErrorPage`` hook through which a
framing error is answered as the route's API would answer it (``plain_error_page`` by default). Kept apart from the
protocol so that the app's routes import the message types without the connection machinery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; a repeated header's values joined by ", "
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


App = Callable[[Request], "Response | Awaitable[Response]"]
ErrorPage = Callable[[str | None, int, str], Response]
"""Renders a framing error (request path if known, status, message) as the route's API would answer it."""


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
    """A plain-text error answer."""
    return Response(status, (message.rstrip("\n") + "\n").encode("utf-8"))


def plain_error_page(path: str | None, status: int, message: str) -> Response:
    """The default ``ErrorPage``: the plain-text answer whatever the path."""
    return error_response(status, message)
