"""Limits of the local endpoint's HTTP server against slow and too many clients: timeouts, the connection cap
(with eviction of connections whose request is not with the app, in ``EVICTION_ORDER``, and throttled logging of
refusals), and throttled logging of ``accept()`` failing for lack of descriptors (asyncio logs each failure with a
traceback, once a second at least).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger("inference.http")

REFUSAL_LOG_SECONDS = 60.0
DESCRIPTOR_RESERVE = 256  # descriptors kept for capture files, model loading, threads and the listening socket
ACCEPT_ERROR = "socket.accept() out of system resource"
EVICTION_ORDER = ("idle", "sending", "head", "body")
"""The phases in which a connection may be closed to make room at the cap, the first to go first: between requests,
answers the client does not read, an incomplete head, an incomplete body (its sender may be a client whose upload is
slow, so it goes last). A connection whose request the app has is never evicted: its answer is on its way."""


class Connection(Protocol):
    def evict(self) -> None: ...


def default_max_connections() -> int:
    """The connection cap when none is configured: the descriptor limit less a reserve for the rest of the server."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(10_000, soft - DESCRIPTOR_RESERVE))


@dataclass(frozen=True)
class Limits:
    """What one client may take: body size, time and (for all clients together) connections."""

    max_body: int
    idle_timeout: float = 60.0
    header_timeout: float = 10.0
    max_connections: int | None = None  # None: default_max_connections()

    def __post_init__(self) -> None:
        for name in ("max_body", "idle_timeout", "header_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"Limits.max_connections must be at least 1, got {self.max_connections!r}")

    @property
    def connection_cap(self) -> int:
        """The configured cap, or the default derived from the descriptor limit."""
        return self.max_connections or default_max_connections()


class _Throttle:
    """Counts occurrences and logs the first of each interval, with how many were suppressed since."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.count = 0
        self.unlogged = 0
        self.logged_at = float("-inf")

    def due(self) -> bool:
        self.count += 1
        self.unlogged += 1
        now = time.monotonic()
        if now - self.logged_at < self.interval:
            return False
        self.logged_at = now
        return True


class Connections:
    """The open connections and the cap on them; over the cap, refusals are counted and logged once per interval."""

    def __init__(self, cap: int, log_interval: float = REFUSAL_LOG_SECONDS) -> None:
        """``cap``: the most connections open at once; refusals are logged at most once per ``log_interval``."""
        self.cap = cap
        self.log_interval = log_interval
        self.open: dict[Connection, None] = {}
        # per phase of EVICTION_ORDER, insertion-ordered: the first goes first
        self.evictable: dict[str, dict[Connection, None]] = {phase: {} for phase in EVICTION_ORDER}
        self.evicted = 0
        self._refusals = _Throttle(log_interval)

    def __len__(self) -> int:
        return len(self.open)

    def __iter__(self):
        return iter(list(self.open))

    def admit(self, protocol: Connection) -> bool:
        """Whether ``protocol``'s new connection may stay (at the cap, evicting one whose request the app has not)."""
        if len(self.open) >= self.cap:
            victim = self._victim()
            if victim is None:
                self._refused()
                return False
            self.evicted += 1
            self.discard(victim)
            victim.evict()
        self.open[protocol] = None
        return True

    def _victim(self) -> Connection | None:
        """The first connection of the first phase in ``EVICTION_ORDER`` that has one."""
        for phase in EVICTION_ORDER:
            for victim in self.evictable[phase]:
                return victim
        return None

    def mark(self, protocol: Connection, phase: str | None) -> None:
        """Record ``protocol``'s phase: evictable if in ``EVICTION_ORDER`` (not ``None`` or busy); within a phase the
        earliest mark goes first (marking the same phase again keeps the place)."""
        tier = self.evictable.get(phase) if phase is not None else None
        if tier is not None and protocol in tier:
            return
        for connections in self.evictable.values():
            connections.pop(protocol, None)
        if tier is not None and protocol in self.open:
            tier[protocol] = None

    def touch(self, protocol: Connection) -> None:
        """``protocol`` received part of its body: it goes behind the incomplete bodies waiting longer for their
        next byte, so a stalled upload is evicted before one still arriving."""
        bodies = self.evictable["body"]
        if protocol in bodies:
            del bodies[protocol]
            bodies[protocol] = None

    def discard(self, protocol: Connection) -> None:
        self.open.pop(protocol, None)
        for connections in self.evictable.values():
            connections.pop(protocol, None)

    @property
    def refused(self) -> int:
        """New connections refused at the cap so far."""
        return self._refusals.count

    def _refused(self) -> None:
        throttle = self._refusals
        if throttle.due():
            logger.warning(
                "Connection cap of %d reached: refused %d new connection(s) with 503 (%d in all); every open "
                "connection has a request with the app; next report in %.0f s at the earliest",
                self.cap, throttle.unlogged, throttle.count, self.log_interval,
            )  # fmt: skip
            throttle.unlogged = 0


def throttle_accept_errors(loop: asyncio.AbstractEventLoop, interval: float = REFUSAL_LOG_SECONDS) -> None:
    """Log asyncio's "accept() out of system resource" at most once per ``interval`` (other errors unchanged)."""
    previous = loop.get_exception_handler()
    throttle = _Throttle(interval)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR:
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        if throttle.due():
            logger.error(
                "Cannot accept connections: %s (%d time(s) since the last report); lower serving.max_connections "
                "or raise the descriptor limit (ulimit -n); next report in %.0f s at the earliest",
                context.get("exception"), throttle.unlogged, interval,
            )  # fmt: skip
            throttle.unlogged = 0

    loop.set_exception_handler(handler)
