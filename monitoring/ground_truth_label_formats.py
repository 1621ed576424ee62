"""The formats of a user's labels file, taken apart into numbered rows: CSV and JSON Lines (SageMaker's own
ground-truth records accepted among the JSON lines), chosen by the file's suffix (``labels_kind``).

A labels file is CSV (a header naming an id column and a label column) or JSON Lines (one object a line with those
keys, or SageMaker ground-truth records themselves), UTF-8 (a leading byte-order mark is allowed in both); lines end
at LF, CR or CRLF. A JSON integer is kept as its text (``JsonInteger``), so an id takes it as written.

SageMaker records given as input keep their label: ``"encoding": "CSV"`` (or none) as it is, ``"BASE64"`` decoded
(the base64 of the label's UTF-8 text); any other encoding is refused, as the model-quality reader would skip it.

A ``Row`` is (line number, id, label, what is wrong with the line itself or None): these readers only take a file
apart, line by line as it is iterated; ``ground_truth_labels`` checks each id and label and names the bad lines.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from monitoring.ground_truth_label_rules import MAX_SHOWN, LabelsError
from monitoring.ground_truth_label_rules import JsonInteger as _JsonInteger
from monitoring.ground_truth_label_rules import shown as _shown

LABEL_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}

Row = tuple[int, object, object, "str | None"]  # line number, id, label, what is wrong with the line itself


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        limit = csv.field_size_limit()
        return f"a field longer than {limit:,} characters, the CSV reader's limit; expected an id and a label"
    return f"not CSV ({exc})"


def _names(header: list[str], most: int = 20) -> str:
    """The column names of a header for a message: the first ``most``, each cut to MAX_SHOWN characters."""
    names = [name if len(name) <= MAX_SHOWN else f"{name[:MAX_SHOWN]}... ({len(name):,} characters)" for name in header]
    more = f" and {len(names) - most:,} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more if names else "(none)"


def _csv_header(reader: Iterator[list[str]], path: Path, columns: tuple[str, str]) -> tuple[int, int, int]:
    """(width, id position, label position) of a CSV header naming both columns; a LabelsError otherwise."""
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as exc:
        raise LabelsError(f"{path}: line 1: {_csv_problem(exc)} (the header)") from exc
    missing = [c for c in columns if c not in header]
    if missing:
        raise LabelsError(
            f"{path}: line 1: the header has no column {', '.join(repr(c) for c in missing)}; its columns are "
            f"{_names(header)}. Name them with --id-column / --label-column."
        )
    return len(header), header.index(columns[0]), header.index(columns[1])


def _csv_rows(handle: TextIO, path: Path, id_column: str, label_column: str) -> Iterator[Row]:
    """Rows of a CSV labels file, each numbered by the line it starts on. A record the CSV reader refuses (a field
    over its limit) is a bad row; the reader goes on at the next line."""
    reader = csv.reader(handle)
    width, id_at, label_at = _csv_header(reader, path, (id_column, label_column))
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, None, None, _csv_problem(exc)
            continue
        if not any(map(str.strip, row)):
            continue
        if len(row) != width:
            yield line, None, None, f"{len(row)} fields where the header has {width}"
            continue
        yield line, row[id_at], row[label_at], None


def _json_record(text: str) -> tuple[object, str | None]:
    """(the parsed line, what is wrong with it or None): integers kept as their text (``_JsonInteger``)."""
    try:
        return json.loads(text, parse_int=_JsonInteger), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "JSON nested deeper than the reader's recursion limit; expected an object of an id and a label"


def _base64_label(data: object) -> tuple[object, str | None]:
    """(the label text, or what is wrong) of a BASE64 groundTruthData.data: the base64 of the label's UTF-8 text."""
    if not isinstance(data, str):
        return None, f"groundTruthData.data {_shown(data)} is not base64 text"
    try:
        return base64.b64decode(data, validate=True).decode("utf-8"), None
    except binascii.Error:
        return None, f"groundTruthData.data {_shown(data)} is not base64 (encoding BASE64)"
    except UnicodeDecodeError:
        return None, f"groundTruthData.data {_shown(data)} decodes to bytes that are not UTF-8 text"


def _sagemaker_row(record: dict) -> tuple[object, object, str | None]:
    """(id, label, problem) of a SageMaker ground-truth record given as input."""
    meta = record.get("eventMetadata")
    data = record.get("groundTruthData")
    key = meta.get("eventId") if isinstance(meta, dict) else None
    if not isinstance(data, dict):
        return key, None, "groundTruthData is not an object with data and encoding"
    encoding = data.get("encoding")
    kind = encoding.upper() if isinstance(encoding, str) else "CSV" if encoding is None else None
    if kind == "BASE64":
        return (key, *_base64_label(data.get("data")))
    if kind != "CSV":
        return (
            key,
            None,
            (
                f"groundTruthData.encoding {_shown(encoding)} is not supported (the model-quality job would skip the "
                "record); expected CSV (the label as text) or BASE64 (the base64 of that text)"
            ),
        )
    return key, data.get("data"), None


def _jsonl_rows(handle: TextIO, path: Path, id_column: str, label_column: str) -> Iterator[Row]:
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        record, problem = _json_record(text)
        if problem is not None:
            yield line, None, None, problem
        elif not isinstance(record, dict):
            yield line, None, None, "not a JSON object"
        elif "groundTruthData" in record:  # already a SageMaker ground-truth record
            yield (line, *_sagemaker_row(record))
        else:
            missing = [repr(k) for k in (id_column, label_column) if k not in record]
            problem = f"no key {' or '.join(missing)}" if missing else None
            yield line, record.get(id_column), record.get(label_column), problem


def label_rows(path: Path, kind: str, id_column: str, label_column: str) -> Iterator[Row]:
    """Rows of a labels file; UTF-8 with or without a byte-order mark; lines end at LF, CR or CRLF."""
    reader = _csv_rows if kind == "csv" else _jsonl_rows
    with open(path, newline="" if kind == "csv" else None, encoding="utf-8-sig") as handle:
        yield from reader(handle, path, id_column, label_column)


def labels_kind(path: Path) -> str:
    """csv or jsonl, by the suffix of a labels file that exists and is a regular file; a LabelsError otherwise."""
    kind = LABEL_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise LabelsError(f"{path}: a labels file must be .csv or .jsonl (JSON Lines), got {path.suffix or 'none'!r}")
    if path.is_dir():
        raise LabelsError(f"{path}: is a directory; expected a labels file")
    if not path.exists():
        raise LabelsError(f"{path}: no such file")
    if not path.is_file():
        raise LabelsError(f"{path}: not a regular file; expected a labels file")
    return kind
