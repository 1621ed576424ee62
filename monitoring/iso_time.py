"""An ISO-8601 time from a job's environment or command line (``start_time``, ``end_time``, ``--window``), read
with the standard library only: a merge job parses its window without importing Arrow (``monitoring.capture_times``
reads the capture's times as Arrow arrays)."""

from __future__ import annotations

from datetime import datetime, timezone

from monitoring.errors import AnalyzerInputError


def parse_time(text: str, what: str = "time") -> datetime:
    """ISO-8601 time (``Z`` or offset; naive means UTC) to an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise AnalyzerInputError(f"{what} must be an ISO-8601 time such as 2024-01-31T10:00:00Z, got {text!r}") from exc
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
