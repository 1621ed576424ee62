"""Alerts and the sinks that deliver them: the log, a JSON-lines file, an HTTP webhook.

What an alert says is ``alert_message`` (its names stay importable from here). ``deliver(alert, sinks)`` never
raises into monitoring: each sink's outcome is a ``DeliveryResult`` (success, attempts, last error). The webhook
POSTs the alert as JSON with a timeout per attempt and retries with exponential backoff on network errors,
timeouts, 429 and 5xx; 2xx is success, any other 4xx (and a redirect, which is not followed) is final. The local
loop builds its sinks from ``monitoring.alerts`` of the configuration.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from monitoring.local.alert_message import (
    Alert,
    DriftedFeature,
    QualityMetric,
    alert_from_transition,
    drifted_features,
)
from monitoring.local.errors import AlertError

__all__ = [
    "Alert",
    "DeliveryResult",
    "DriftedFeature",
    "JsonLinesSink",
    "LogSink",
    "QualityMetric",
    "Sink",
    "WebhookSink",
    "alert_from_transition",
    "deliver",
    "drifted_features",
]

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux: appends stay whole lines for small alerts anyway
    fcntl = None  # type: ignore[assignment]  # typeshed types the module as always present; None means no locking

log = logging.getLogger("monitoring.alerts")  # the name to configure, kept when the module moved to monitoring.local
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class DeliveryResult:
    sink: str
    ok: bool
    attempts: int
    error: str = ""
    status: int | None = None


class Sink(Protocol):
    name: str

    def send(self, alert: Alert, sleep: Sleep) -> DeliveryResult: ...


@dataclass(frozen=True)
class LogSink:
    """Alerts as log records of the ``monitoring.alerts`` logger (WARNING by default)."""

    level: int = logging.WARNING
    name: str = "log"

    def send(self, alert: Alert, sleep: Sleep) -> DeliveryResult:
        log.log(self.level, "ALERT %s", alert.summary, extra={"alert": alert.to_json()})
        return DeliveryResult(self.name, True, 1)


@dataclass(frozen=True)
class JsonLinesSink:
    """Appends each alert as one JSON line, whole (one write under an exclusive lock) and fsynced."""

    path: Path
    name: str = "jsonl"

    def send(self, alert: Alert, sleep: Sleep) -> DeliveryResult:
        line = (json.dumps(alert.to_json()) + "\n").encode("utf-8")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a line torn by a crash stays on its own line
                line = b"\n" + line
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock
        return DeliveryResult(self.name, True, 1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a POST is not replayed elsewhere: the 3xx surfaces as an HTTPError


@dataclass(frozen=True)
class WebhookSink:
    """POSTs the alert as JSON; ``retries`` more attempts after the first, waiting backoff * 2**k (capped)."""

    url: str
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    headers: Mapping[str, str] = field(default_factory=dict)
    proxy: str | None = None
    name: str = "webhook"

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise AlertError(f"Webhook url must start with http:// or https://, got {self.url!r}")
        numbers = (self.timeout, self.retries, self.backoff, self.max_backoff)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers) or not isinstance(
            self.retries, int
        ):
            raise AlertError(
                f"Webhook {self.url}: timeout, backoff and max_backoff must be numbers and retries an integer; "
                f"got timeout={self.timeout!r}, retries={self.retries!r}, backoff={self.backoff!r}"
            )
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise AlertError(
                f"Webhook {self.url}: timeout must be > 0, retries and backoff >= 0; "
                f"got timeout={self.timeout}, retries={self.retries}, backoff={self.backoff}"
            )

    def _opener(self) -> urllib.request.OpenerDirector:
        proxies = {"http": self.proxy, "https": self.proxy} if self.proxy else {}  # the environment is not read
        return urllib.request.build_opener(urllib.request.ProxyHandler(proxies), _NoRedirect)

    def send(self, alert: Alert, sleep: Sleep) -> DeliveryResult:
        body = json.dumps(alert.to_json()).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "mlops-monitoring-alerts/1", **self.headers}
        opener, error, status = self._opener(), "", None
        for attempt in range(1, self.retries + 2):
            wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    status = response.status
                    response.read(65536)
                return DeliveryResult(self.name, True, attempt, "", status)
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
                retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
                exc.close()
                if status != 429 and status < 500:
                    return DeliveryResult(self.name, False, attempt, f"{error} (not retried)", status)
                if retry_after.strip().isdigit():
                    wait = min(self.max_backoff, float(retry_after))
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                status, error = None, f"{type(reason).__name__}: {reason}"
            if attempt <= self.retries:
                log.info("webhook %s attempt %d failed (%s); retrying in %.2f s", self.url, attempt, error, wait)
                sleep(wait)
        return DeliveryResult(self.name, False, self.retries + 1, error, status)


def deliver(alert: Alert, sinks: Sequence[Sink], sleep: Sleep = time.sleep) -> list[DeliveryResult]:
    """Send ``alert`` to every sink; never raises: failures are results (and logged)."""
    results = []
    for sink in sinks:
        try:
            result = sink.send(alert, sleep)
        except Exception as exc:  # a broken sink must never break monitoring
            result = DeliveryResult(
                getattr(sink, "name", type(sink).__name__), False, 1, f"{type(exc).__name__}: {exc}"
            )
        if result.ok:
            log.debug("alert %s delivered to %s in %d attempt(s)", alert.alarm_name, result.sink, result.attempts)
        else:
            log.error(
                "alert %s NOT delivered to %s after %d attempt(s): %s",
                alert.alarm_name,
                result.sink,
                result.attempts,
                result.error,
            )
        results.append(result)
    return results
