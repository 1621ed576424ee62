"""The request side of the serving handler: a request body of raw feature records (``text/csv`` or
``application/json``) parsed into ``Records``, and those records put in the feature transform's column order.

Client mistakes raise ``Refused``, which the handler's functions turn into a ``RequestError`` value (415 for an
unsupported content type, else 400): the container answers any exception with a 500.

Container code, beside ``inference.py`` in the model's ``code/`` directory (``handler_input`` there) and
``inference.handler_input`` in the repository: the standard library only, no package-relative imports, Python 3.10
compatible.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from typing import Any

CSV = "text/csv"
JSON = "application/json"
CONTENT_TYPES = (CSV, JSON)


@dataclass(frozen=True)
class RequestError:
    """A refused request, as a value (never raised): what was wrong and the HTTP status to answer with."""

    message: str
    status: int = 400


class Refused(Exception):
    """Raised inside parsing, returned as its ``RequestError`` by the function the container calls."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error = RequestError(message, status)


@dataclass(frozen=True)
class Records:
    """A parsed request: raw records (positional lists, or objects by feature name) and the request's type."""

    rows: list[Any]
    by_name: bool
    content_type: str


def media_type(value: str | None) -> str:
    """A Content-Type or Accept entry without its parameters, lower-cased: ``Text/CSV; charset=utf-8`` -> text/csv."""
    return (value or "").split(";", 1)[0].strip().lower()


def _text(body: Any) -> str:
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refused(f"The request body is not UTF-8 text: {exc}") from None
    if not isinstance(body, str):
        raise Refused(f"The request body must be bytes or text, got {type(body).__name__}")
    if body.startswith("\ufeff"):  # read on, it would become part of the first record's first value
        raise Refused("The request body starts with a UTF-8 byte order mark (BOM): send the records without it")
    if not body.strip():
        raise Refused("Empty request body: send one or more records")
    return body


def _lines(text: str) -> list[str]:
    """The lines of a CSV body: split at CRLF, LF or CR only, as csv.reader does (``str.splitlines`` would also
    split at form feeds, U+2028 and other separators, making two records of one line)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _parse_csv(text: str) -> list[list[str]]:
    if '"' not in text:  # the hot path: no quoting, split by hand (several times faster than csv.reader)
        return [line.split(",") for line in _lines(text) if line.strip()]
    try:
        return [row for row in csv.reader(io.StringIO(text), strict=True) if any(f.strip() for f in row)]
    except csv.Error as exc:
        raise Refused(f"Malformed CSV: {exc}") from None


def _max_digits() -> int:
    limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
    return int(limit) or 4300


def _parse_json(text: str) -> tuple[list[Any], bool]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise Refused("Malformed JSON: nested too deeply (records are objects or lists of plain values)") from None
    except json.JSONDecodeError as exc:
        raise Refused(f"Malformed JSON: {exc}") from None
    except ValueError:  # Python's limit on the digits of an integer read from text
        raise Refused(
            f"Malformed JSON: a number has more than {_max_digits()} digits; send numbers as plain decimals"
        ) from None
    if isinstance(data, dict):
        if "instances" not in data:
            return [data], True
        data = data["instances"]
        if not isinstance(data, list):
            raise Refused(f'"instances" must be a list of records, got {type(data).__name__}')
    if not isinstance(data, list):
        raise Refused(
            f'JSON body must be a list of records, {{"instances": [...]}} or one object, got {type(data).__name__}'
        )
    if not data:
        raise Refused("No records: the JSON list is empty")
    if all(isinstance(r, dict) for r in data):
        return data, True
    if all(isinstance(r, list) for r in data):
        return data, False
    if not any(isinstance(r, (dict, list)) for r in data):
        return [data], False  # one positional record
    kinds = sorted({type(r).__name__ for r in data})
    raise Refused(f"Records must be all objects or all lists, got a mix of {', '.join(kinds)}")


def parse_records(request_body: Any, request_content_type: str | None) -> Records:
    """The records of a request body; ``Refused`` for an unsupported content type or a malformed body."""
    content_type = media_type(request_content_type)
    if content_type not in CONTENT_TYPES:
        shown = request_content_type or "none"
        raise Refused(f"Unsupported content type {shown!r}: use {CSV} or {JSON}", status=415)
    text = _text(request_body)
    if content_type == CSV:
        rows = _parse_csv(text)
        if not rows:
            raise Refused("Empty request body: send one or more records")
        return Records(rows, False, CSV)
    rows, by_name = _parse_json(text)
    return Records(rows, by_name, JSON)


def positional(records: Records, columns: tuple[str, ...]) -> list[Any]:
    """The records as positional rows in ``columns`` order; ``Refused`` for a header row or a missing feature."""
    if not records.by_name:
        first = records.rows[0]
        if records.content_type == CSV and [f.strip().lower() for f in first] == [c.lower() for c in columns]:
            raise Refused(
                f"The CSV body starts with a header row; send data rows only, in this order: {','.join(columns)}"
            )
        return records.rows
    rows = []
    for number, record in enumerate(records.rows, start=1):
        missing = [c for c in columns if c not in record]
        if missing:
            raise Refused(
                f"Record {number} has no feature {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; expected: {', '.join(columns)}"
            )
        rows.append([record[c] for c in columns])
    return rows
