"""Ground truth: a user's labels in, SageMaker's ground-truth records out, and those records read back.

A labels file is CSV (a header naming an id column and a label column) or JSON Lines (one object a line with those
keys, or SageMaker ground-truth records themselves), keyed by the inference id given to InvokeEndpoint (or, for
requests sent without one, the capture record's event id). Each label is checked against the problem type:

- regression: a finite number;
- binary: ``0`` or ``1`` (``0.0``/``1.0`` and JSON ``false``/``true`` too), the positive class text (the configured
  ``data.positive_class``) for 1 and, when given, the negative class text for 0; anything else is an error, so a
  misspelt class never turns silently into a 0.

The records are SageMaker's (``tests/fixtures/model-monitor/monitor-fixtures/actuals.jsonl``)::

    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"}, "eventVersion": "0"}

written as one new file ``<prefix>/yyyy/mm/dd/hh/<mm-ss-micro>-<uuid>.jsonl`` for the UTC hour of ingestion (the
folder is when the labels were collected, not when the inferences were made, as Model Monitor expects).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_errors import MlopsError
from monitoring.jsonl_tables import SkipCounter, parse_numbers, read_jsonl

ID_COLUMN = "inference_id"
LABEL_COLUMN = "label"
LABEL_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
MAX_REPORTED = 10  # bad lines named in one error

MISSING_ID = "missing_id"
BAD_LABEL = "bad_label"
UNSUPPORTED_ENCODING = "unsupported_encoding"

_HOUR = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})$")
_GROUND_TRUTH_SCHEMA = pa.schema(
    [
        pa.field("groundTruthData", pa.struct([("data", pa.string()), ("encoding", pa.string())])),
        pa.field("eventMetadata", pa.struct([("eventId", pa.string())])),
    ]
)


class LabelsError(MlopsError, ValueError):
    """A labels file that cannot be ingested: names the file, the lines and what was expected."""


class LabelRules:
    """Turns one label value into the ground-truth text for a problem type (see the module docstring)."""

    def __init__(self, problem_type: str, positive_class: str | None = None, negative_class: str | None = None):
        if problem_type not in ("regression", "binary"):
            raise ValueError(f"problem_type must be regression or binary, got {problem_type!r}")
        self.problem_type = problem_type
        self.positive = None if positive_class is None else str(positive_class).strip()
        self.negative = None if negative_class is None else str(negative_class).strip()

    def expected(self) -> str:
        if self.problem_type == "regression":
            return "a finite number"
        classes = [f"{c!r}" for c in (self.positive, self.negative) if c is not None]
        return "0 or 1" + (f" (or the class {' / '.join(classes)})" if classes else "")

    def convert(self, value: object) -> str | None:
        """The label as ground-truth text, or None when it does not fit the problem type."""
        if self.problem_type == "regression":
            if isinstance(value, bool) or value is None:
                return None
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None
            return repr(number) if math.isfinite(number) else None
        if isinstance(value, bool):
            return "1" if value else "0"
        text = str(value).strip() if value is not None else ""
        if text in ("1", "1.0"):
            return "1"
        if text in ("0", "0.0"):
            return "0"
        if self.positive is not None and text == self.positive:
            return "1"
        if self.negative is not None and text == self.negative:
            return "0"
        return None


Row = tuple[int, object, object, "str | None"]  # line number, id, label, what is wrong with the line itself


def _check(rows: Iterable[Row], path: Path, rules: LabelRules) -> list[tuple[str, str]]:
    """(id, label text) of (line number, id, label, problem) rows; a LabelsError naming the bad lines (ten)."""
    labels: list[tuple[str, str]] = []
    problems: list[str] = []
    bad = 0
    for line, key, value, problem in rows:
        key_text = "" if key is None or isinstance(key, (dict, list)) else str(key).strip()
        label = rules.convert(value)
        if problem is None and not key_text:
            problem = "no id"
        elif problem is None and label is None:
            problem = f"label {value!r} is not {rules.expected()}"
        if problem is None:
            labels.append((key_text, label))  # type: ignore[arg-type]
            continue
        bad += 1
        if len(problems) < MAX_REPORTED:
            problems.append(f"  line {line}: {problem}")
    if bad:
        more = f"\n  ... and {bad - MAX_REPORTED} more" if bad > MAX_REPORTED else ""
        raise LabelsError(f"{path}: {bad} bad line(s); nothing was written:\n" + "\n".join(problems) + more)
    if not labels:
        raise LabelsError(f"{path}: no labels found")
    return labels


def _csv_rows(path: Path, id_column: str, label_column: str) -> Iterable[Row]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        missing = [c for c in (id_column, label_column) if c not in header]
        if missing:
            raise LabelsError(
                f"{path}: line 1: the header has no column {', '.join(repr(c) for c in missing)}; its columns are "
                f"{', '.join(header) or '(none)'}. Name them with --id-column / --label-column."
            )
        id_at, label_at = header.index(id_column), header.index(label_column)
        for row in reader:
            if not row or not any(field.strip() for field in row):
                continue
            line = reader.line_num
            if len(row) != len(header):
                yield line, None, None, f"{len(row)} fields where the header has {len(header)}"
                continue
            yield line, row[id_at], row[label_at], None


def _jsonl_rows(path: Path, id_column: str, label_column: str) -> Iterable[Row]:
    with open(path, encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line, None, None, f"invalid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(record, dict):
                yield line, None, None, "not a JSON object"
            elif "groundTruthData" in record:  # already a SageMaker ground-truth record
                meta = record.get("eventMetadata") or {}
                data = record.get("groundTruthData") or {}
                key = meta.get("eventId") if isinstance(meta, dict) else None
                yield line, key, data.get("data") if isinstance(data, dict) else None, None
            else:
                missing = [repr(k) for k in (id_column, label_column) if k not in record]
                problem = f"no key {' or '.join(missing)}" if missing else None
                yield line, record.get(id_column), record.get(label_column), problem


def read_labels(
    path: Path,
    problem_type: str,
    *,
    id_column: str = ID_COLUMN,
    label_column: str = LABEL_COLUMN,
    positive_class: str | None = None,
    negative_class: str | None = None,
) -> list[tuple[str, str]]:
    """(id, ground-truth label text) of every line of a CSV or JSON Lines labels file, in file order; a
    LabelsError naming the file and its bad lines (invalid JSON, no id, a label that does not fit)."""
    path = Path(path)
    kind = LABEL_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise LabelsError(f"{path}: a labels file must be .csv or .jsonl (JSON Lines), got {path.suffix or 'none'!r}")
    if not path.is_file():
        raise LabelsError(f"{path}: no such file")
    rules = LabelRules(problem_type, positive_class, negative_class)
    reader = _csv_rows if kind == "csv" else _jsonl_rows
    try:
        return _check(reader(path, id_column, label_column), path, rules)
    except UnicodeDecodeError as exc:
        raise LabelsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def ground_truth_lines(labels: Iterable[tuple[str, str]]) -> bytes:
    """SageMaker ground-truth records, one a line, for (event or inference id, label text) pairs."""
    quote = json.encoder.encode_basestring
    return "".join(
        f'{{"groundTruthData":{{"data":{quote(label)},"encoding":"CSV"}},'
        f'"eventMetadata":{{"eventId":{quote(key)}}},"eventVersion":"0"}}\n'
        for key, label in labels
    ).encode("utf-8")


def ground_truth_key(prefix: str, moment: datetime) -> str:
    """``<prefix>/yyyy/mm/dd/hh/<mm-ss-micro>-<uuid>.jsonl`` for the UTC hour of ``moment``: a name never reused."""
    moment = moment.astimezone(timezone.utc)
    return f"{prefix.rstrip('/')}/{moment:%Y/%m/%d/%H}/{moment:%M-%S-%f}-{uuid.uuid4().hex}.jsonl"


def write_whole(path: Path, body: bytes) -> Path:
    """Write a new file whole or not at all: a hidden temporary file beside it, flushed, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with open(temporary, "xb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _hour(path: Path) -> datetime | None:
    match = _HOUR.search(path.parent.as_posix())
    if not match:
        return None
    year, month, day, hour = map(int, match.groups())
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def ground_truth_files(root: Path, start: datetime | None = None, end: datetime | None = None) -> list[Path]:
    """Ground-truth files under ``root`` in hour folders from the hour of ``start`` to ``end`` (inclusive), ordered
    by folder hour, then file name: the order in which a later label replaces an earlier one. Files outside the
    hourly layout come first (in name order) and are always kept."""
    root = Path(root)
    if root.is_file():
        return [root]
    first = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) if start else None
    chosen = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith(".") or path.suffix not in (".jsonl", ".json"):
            continue
        hour = _hour(path)
        if hour is not None and ((first and hour < first) or (end and hour > end)):
            continue
        chosen.append((hour or datetime.min.replace(tzinfo=timezone.utc), path.as_posix(), path))
    return [path for _, _, path in sorted(chosen)]


def read_ground_truth(
    files: Iterable[Path], skips: SkipCounter, threads: bool = True
) -> tuple[pa.ChunkedArray, np.ndarray, int]:
    """(ids, labels as float64, records read) of ground-truth files in the given order; bad records (invalid JSON,
    no event id, a label that is not a number, an encoding other than CSV) are counted in ``skips``. ``threads``:
    as ``read_jsonl``'s."""
    keys: list[pa.Array] = []
    labels: list[np.ndarray] = []
    records = 0
    for path in files:
        for table in read_jsonl(Path(path), _GROUND_TRUTH_SCHEMA, skips, threads=threads):
            records += table.num_rows
            data = pc.struct_field(table.column("groundTruthData"), "data")
            encoding = pc.utf8_upper(pc.struct_field(table.column("groundTruthData"), "encoding"))
            key = pc.struct_field(table.column("eventMetadata"), "eventId")
            has_key = pc.fill_null(pc.greater(pc.utf8_length(key), 0), False)
            csv_encoded = pc.fill_null(pc.equal(encoding, "CSV"), True)
            values, numeric = parse_numbers(data)
            skips.skip(MISSING_ID, f"{path}: a record without eventMetadata.eventId", _count(pc.invert(has_key)))
            unsupported = pc.and_(has_key, pc.invert(csv_encoded))
            skips.skip(UNSUPPORTED_ENCODING, f"{path}: groundTruthData.encoding other than CSV", _count(unsupported))
            bad = pc.and_(pc.and_(has_key, csv_encoded), pc.invert(numeric))
            skips.skip(BAD_LABEL, f"{path}: groundTruthData.data is not a number", _count(bad))
            keep = pc.and_(pc.and_(has_key, csv_encoded), numeric)
            keys.append(pc.filter(key, keep).combine_chunks())
            labels.append(pc.filter(values, keep).to_numpy(zero_copy_only=False))
    chunked = pa.chunked_array(keys, type=pa.string())
    return chunked, (np.concatenate(labels) if labels else np.empty(0)), records


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)
