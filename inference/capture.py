"""Data capture for the local endpoint, with SageMaker's DataCaptureConfig semantics and file format.

Each captured invocation becomes one JSON object on one line, in the shape SageMaker writes::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "M,0.455,...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "9.87", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2024-01-31T10:00:00.123Z"},
     "eventVersion": "0"}

under ``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl`` (the hour of the inference
time, UTC). Payloads whose content type is in the CSV or JSON list are kept as text (``CSV`` / ``JSON``
encoding); anything else, or text that is not UTF-8, is base64 (``BASE64``).

Requests only append a small tuple to a queue; a background thread turns them into lines and writes whole
lines with one ``write`` per file per flush, at least every ``flush_seconds``. ``close()`` writes everything
still queued, so after a graceful stop every captured request is on disk. Each writer writes its own new files
(never appending to a file another process wrote), so a hard kill can leave at most a truncated last line in
its own file, which the analyzer skips.
"""

from __future__ import annotations

import base64
import collections
import itertools
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from inference.errors import CaptureSettingsError

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Returns the inference time as POSIX seconds (``time.time`` by default; tests shift it into past hours)."""

_MAX_OPEN_FILES = 4
_EAGER_FLUSH_RECORDS = 20_000  # a burst this large wakes the writer before its interval is up


@dataclass(frozen=True)
class CaptureSettings:
    """What DataCaptureConfig says, resolved for one endpoint variant."""

    enabled: bool
    sampling_percentage: int
    capture_input: bool
    capture_output: bool
    csv_content_types: tuple[str, ...]
    json_content_types: tuple[str, ...]
    destination: str  # s3:// URI of the capture prefix

    def __post_init__(self) -> None:
        if not 0 <= self.sampling_percentage <= 100:
            raise CaptureSettingsError(f"sampling_percentage must be from 0 to 100, got {self.sampling_percentage!r}")
        if not self.destination.startswith("s3://"):
            raise CaptureSettingsError(f"capture destination must be an s3:// URI, got {self.destination!r}")

    def to_json(self) -> dict:
        """The settings as a JSON-ready dict (the deploy state keeps them)."""
        return {
            "enabled": self.enabled,
            "sampling_percentage": self.sampling_percentage,
            "capture_input": self.capture_input,
            "capture_output": self.capture_output,
            "csv_content_types": list(self.csv_content_types),
            "json_content_types": list(self.json_content_types),
            "destination": self.destination,
        }

    @classmethod
    def from_json(cls, data: dict, where: str = "capture settings") -> CaptureSettings:
        """Settings written by ``to_json``; ValueError naming the missing or bad field."""
        try:
            return cls(
                enabled=bool(data["enabled"]),
                sampling_percentage=int(data["sampling_percentage"]),
                capture_input=bool(data["capture_input"]),
                capture_output=bool(data["capture_output"]),
                csv_content_types=tuple(data["csv_content_types"]),
                json_content_types=tuple(data["json_content_types"]),
                destination=str(data["destination"]),
            )
        except (KeyError, TypeError) as exc:
            raise CaptureSettingsError(f"{where}: missing or malformed field {exc}") from exc


def _media_types(values: Sequence[str]) -> frozenset[str]:
    return frozenset(v.split(";", 1)[0].strip().lower() for v in values)


_quote = json.encoder.encode_basestring_ascii  # a JSON string literal (C implementation)


class CaptureWriter:
    """Samples invocations and writes them as capture lines from a background thread."""

    def __init__(
        self,
        settings: CaptureSettings,
        root: Path,
        endpoint: str,
        variant: str,
        clock: Clock = time.time,
        flush_seconds: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        """``root`` is the local directory of ``settings.destination``; files go under root/endpoint/variant."""
        if flush_seconds <= 0 or flush_seconds > 1:
            raise ValueError(
                f"flush_seconds must be in (0, 1] so a hard kill loses at most a second, got {flush_seconds}"
            )
        self.settings = settings
        self.directory = Path(root) / endpoint / variant
        self.clock = clock
        self.flush_seconds = flush_seconds
        self._rng = rng or random.Random()
        self._csv = _media_types(settings.csv_content_types)
        self._json = _media_types(settings.json_content_types)
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._closed = False
        self._files: dict[str, int] = {}  # hour directory -> open file descriptor (O_APPEND)
        self._kinds: dict[str, str] = {}  # content type -> CSV / JSON / BASE64
        self._second: tuple[int, str] = (-1, "")  # one tuple: replaced atomically, read by several threads
        self._event_prefix = str(uuid.uuid4())[:24]  # eventId: a random UUID whose last group counts the events
        self._events = itertools.count(1)  # next() is atomic: unique ids from any thread
        self.captured = 0  # records queued
        self.written = 0  # records on disk
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"capture-{endpoint}-{variant}", daemon=True)
        self._thread.start()

    def capture(
        self,
        request_body: bytes,
        request_type: str,
        response_body: bytes,
        response_type: str,
        inference_id: str | None = None,
    ) -> bool:
        """Queue one successful invocation if sampled; returns whether it was captured. Never raises for I/O.

        The line is built here (a few microseconds: string templates, no ``json.dumps`` of a dict) so that the
        writer thread only joins and writes bytes and never holds the GIL long enough to delay requests.
        """
        s = self.settings
        if not s.enabled or self._closed:
            return False
        if s.sampling_percentage < 100 and self._rng.random() * 100 >= s.sampling_percentage:
            return False
        self._queue.append(
            self._line(self.clock(), request_body, request_type, response_body, response_type, inference_id)
        )
        self.captured += 1
        if len(self._queue) >= _EAGER_FLUSH_RECORDS:
            self._wake.set()
        return True

    # -- one line ------------------------------------------------------------------------------------
    def _payload(self, body: bytes, content_type: str, mode: str) -> str:
        kind = self._kinds.get(content_type)
        if kind is None:
            media = content_type.split(";", 1)[0].strip().lower()
            kind = "CSV" if media in self._csv else "JSON" if media in self._json else "BASE64"
            if len(self._kinds) < 64:
                self._kinds[content_type] = kind
        encoding = kind
        if encoding != "BASE64":
            try:
                data = _quote(body.decode("utf-8"))
            except UnicodeDecodeError:
                encoding = "BASE64"
        if encoding == "BASE64":
            data = '"' + base64.b64encode(body).decode("ascii") + '"'
        return f'{{"observedContentType":{_quote(content_type)},"mode":"{mode}","data":{data},"encoding":"{encoding}"}}'

    def _stamp(self, seconds: float) -> str:
        """``yyyy-mm-ddThh:mm:ss.mmmZ`` (UTC), the second's text cached."""
        whole = int(seconds)
        cached, text = self._second
        if whole != cached:
            text = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (whole, text)
        return f"{text}.{int((seconds - whole) * 1000):03d}Z"

    def _line(
        self,
        seconds: float,
        request_body: bytes,
        request_type: str,
        response_body: bytes,
        response_type: str,
        inference_id: str | None,
    ) -> tuple[str, bytes]:
        """(hour directory ``yyyy/mm/dd/hh``, the record's line) of one invocation."""
        parts = []
        if self.settings.capture_input:
            parts.append('"endpointInput":' + self._payload(request_body, request_type, "INPUT"))
        if self.settings.capture_output:
            parts.append('"endpointOutput":' + self._payload(response_body, response_type, "OUTPUT"))
        stamp = self._stamp(seconds)
        extra = f',"inferenceId":{_quote(inference_id)}' if inference_id else ""
        line = (
            f'{{"captureData":{{{",".join(parts)}}},"eventMetadata":{{"eventId":"{self._event_prefix}'
            f'{next(self._events):012x}","inferenceTime":"{stamp}"{extra}}},"eventVersion":"0"}}\n'
        )
        return f"{stamp[0:4]}/{stamp[5:7]}/{stamp[8:10]}/{stamp[11:13]}", line.encode("utf-8")

    def _descriptor(self, hour: str) -> int:
        fd = self._files.get(hour)
        if fd is not None:
            return fd
        if len(self._files) >= _MAX_OPEN_FILES:  # hours rotate: close the oldest file
            oldest = min(self._files)
            os.close(self._files.pop(oldest))
        directory = self.directory / hour
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        path = directory / f"{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._files[hour] = fd
        logger.debug("Capture file %s", path)
        return fd

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def flush(self) -> int:
        """Write everything queued so far (called by the writer thread); returns the number of records."""
        count = len(self._queue)
        if not count:
            return 0
        popleft = self._queue.popleft
        by_hour: dict[str, list[bytes]] = {}
        for _ in range(count):
            hour, line = popleft()
            lines = by_hour.get(hour)
            if lines is None:
                lines = by_hour[hour] = []
            lines.append(line)
        for hour, lines in sorted(by_hour.items()):
            try:
                self._write_all(self._descriptor(hour), b"".join(lines))
                self.written += len(lines)
            except OSError as exc:
                self.errors += len(lines)
                logger.error(
                    "Data capture: could not write %d record(s) under %s/%s: %s", len(lines), self.directory, hour, exc
                )
        return count

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            closing = self._closed
            try:
                self.flush()
            except Exception:  # a bug here must not stop capture for the rest of the server's life
                logger.exception("Data capture writer failed; continuing")
            if closing and not self._queue:
                break
        for fd in self._files.values():
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._files.clear()

    def close(self, timeout: float = 30.0) -> None:
        """Stop capturing, write everything queued and close the files."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "Data capture writer did not finish within %.0f s; %d record(s) pending", timeout, len(self._queue)
            )
        elif self.errors:
            logger.error("Data capture: %d record(s) could not be written", self.errors)
