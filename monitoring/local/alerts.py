"""Alerts and the sinks that deliver them: the log, a JSON-lines file, an HTTP webhook.

``deliver(alert, sinks)`` never raises into monitoring: each sink's outcome is a ``DeliveryResult`` (success,
attempts, last error). The webhook POSTs the alert as JSON with a timeout per attempt and retries with
exponential backoff on network errors, timeouts, 429 and 5xx; 2xx is success, any other 4xx (and a redirect,
which is not followed) is final. The local loop builds its sinks from ``monitoring.alerts`` of the configuration.
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from monitoring.local.alarms import Transition

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux: appends stay whole lines for small alerts anyway
    fcntl = None  # type: ignore[assignment]  # typeshed types the module as always present; None means no locking

log = logging.getLogger("monitoring.alerts")  # the name to configure, kept when the module moved to monitoring.local
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class DriftedFeature:
    name: str
    distance: float
    threshold: float
    method: str = ""


@dataclass(frozen=True)
class Alert:
    """What happened (an alarm's state change), where, to which model version, and where the report is."""

    endpoint: str
    model_version: str
    alarm_name: str
    new_state: str
    old_state: str
    reason: str
    features: tuple[DriftedFeature, ...] = ()
    report: str = ""
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for people: state change, endpoint, model version, drifted features, report."""
        text = f"{self.alarm_name} is {self.new_state} (was {self.old_state}) on endpoint {self.endpoint}"
        text += f", model version {self.model_version}"
        if self.features:
            shown = ", ".join(f"{f.name} {f.distance:.3f} > {f.threshold:g}" for f in self.features)
            text += f"; drifted: {shown}"
        return text + (f"; report: {self.report}" if self.report else "")

    def to_json(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "model_version": self.model_version,
            "alarm_name": self.alarm_name,
            "new_state": self.new_state,
            "old_state": self.old_state,
            "reason": self.reason,
            "features": [
                {"name": f.name, "distance": f.distance, "threshold": f.threshold, "method": f.method}
                for f in self.features
            ],
            "report": self.report,
            "time": self.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "summary": self.summary,
            "details": dict(self.details),
        }


def drifted_features(summary: Mapping | str | Path) -> tuple[DriftedFeature, ...]:
    """Features over their drift threshold in an analysis_summary.json (a path or the parsed document)."""
    source = str(summary) if isinstance(summary, (str, Path)) else "analysis summary"
    if isinstance(summary, (str, Path)):
        try:
            summary = json.loads(Path(summary).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"Cannot read the analysis summary {source}: {exc}") from exc
    entries = summary.get("drift", []) if isinstance(summary, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError(f"{source}: 'drift' must be a list of {{feature, distance, threshold, method}}")
    found = []
    for i, entry in enumerate(entries):
        try:
            feature = DriftedFeature(
                str(entry["feature"]), float(entry["distance"]), float(entry["threshold"]), str(entry.get("method", ""))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: drift[{i}] needs feature, distance and threshold, got {entry!r}") from exc
        if feature.distance > feature.threshold:
            found.append(feature)
    return tuple(sorted(found, key=lambda f: -f.distance))


def alert_from_transition(
    transition: Transition,
    endpoint: str,
    model_version: str,
    summary: Mapping | str | Path | None = None,
    report: str = "",
    details: Mapping[str, object] | None = None,
) -> Alert:
    """The alert for an alarm's state change, with the drifted features of the check that caused it."""
    return Alert(
        endpoint=endpoint,
        model_version=model_version,
        alarm_name=transition.alarm_name,
        new_state=transition.new_state,
        old_state=transition.old_state,
        reason=transition.reason,
        features=drifted_features(summary) if summary is not None else (),
        report=str(report),
        time=transition.timestamp,
        details=dict(details or {}),
    )


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
            raise ValueError(f"Webhook url must start with http:// or https://, got {self.url!r}")
        numbers = (self.timeout, self.retries, self.backoff, self.max_backoff)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers) or not isinstance(
            self.retries, int
        ):
            raise ValueError(
                f"Webhook {self.url}: timeout, backoff and max_backoff must be numbers and retries an integer; "
                f"got timeout={self.timeout!r}, retries={self.retries!r}, backoff={self.backoff!r}"
            )
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise ValueError(
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
