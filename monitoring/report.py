"""Counters of what a read saw and skipped: reported in the output, never a crash."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

# Reasons a record or line is skipped.
INVALID_JSON = "invalid_json"
NOT_UTF8 = "not_utf8"
BAD_BASE64 = "bad_base64"
WRONG_COLUMN_COUNT = "wrong_column_count"
MISSING_INPUT = "missing_endpoint_input"
UNSUPPORTED_CONTENT = "unsupported_content"


@dataclass
class ReadReport:
    """Files read, records accepted, and records skipped by reason (with a few examples)."""

    files: int = 0
    records: int = 0
    rows: int = 0
    outside_window: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        self.skipped[reason] += count
        self.examples.setdefault(reason, where)

    @property
    def malformed(self) -> int:
        return sum(self.skipped.values())

    def to_json(self) -> dict:
        return {
            "files": self.files,
            "records": self.records,
            "rows": self.rows,
            "records_outside_window": self.outside_window,
            "malformed_records": self.malformed,
            "malformed_by_reason": dict(sorted(self.skipped.items())),
            "malformed_examples": dict(sorted(self.examples.items())),
        }


def parse_json_line(raw: bytes, where: str, report: ReadReport, require_object: bool = True):
    """One line of JSON, or None once the reason it cannot be read is counted (non-UTF-8, invalid JSON, or not an
    object when one is required)."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        report.skip(NOT_UTF8, where)
        return None
    except json.JSONDecodeError as exc:
        report.skip(INVALID_JSON, f"{where}: {exc}")
        return None
    if require_object and not isinstance(record, dict):
        report.skip(INVALID_JSON, f"{where}: expected a JSON object")
        return None
    return record
