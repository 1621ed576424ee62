"""Ground truth: a user's labels in, SageMaker's ground-truth records out, and those records read back.

A labels file is CSV (a header naming an id column and a label column) or JSON Lines (one object a line with those
keys, or SageMaker ground-truth records themselves), UTF-8 (a leading byte-order mark is allowed in both), keyed by
the inference id given to InvokeEndpoint (or, for requests sent without one, the capture record's event id).

Ids are kept exactly as given, because the join matches them exactly: an id starting with whitespace, or with a
character that is not printable (a control character, a lone surrogate), is refused rather than stripped or kept,
since it could only miss its capture record silently (InvokeEndpoint's InferenceId is printable ASCII that cannot
start with a space, though it may end with spaces, which are kept; event ids are UUIDs). A JSON id is a string; a
JSON integer is taken as its decimal text; other JSON values (``true``, ``1e3``) are refused rather than turned into
text nobody sent.

Each label is checked against the problem type:

- regression: a finite number, as JSON or as text in ASCII decimal syntax, the syntax pandas and the model-quality
  reader take (``float()`` alone would also take ``1_000``, other scripts' digits, ``nan`` and ``inf``);
- binary: ``0`` or ``1`` (``0.0``/``1.0`` and JSON ``false``/``true`` too), the positive class text (the configured
  ``data.positive_class``) for 1 and, when given, the negative class text for 0; anything else is an error, so a
  misspelt class never turns silently into a 0. Class options that contradict each other (the negative class is the
  positive class or reads as 1, the positive class reads as 0, a negative class for regression, one column for both
  the id and the label) are refused before anything is read.

SageMaker records given as input keep their label: ``"encoding": "CSV"`` (or none) as it is, ``"BASE64"`` decoded
(the base64 of the label's UTF-8 text); any other encoding is refused, as the model-quality reader would skip it.

The records are SageMaker's (``tests/fixtures/model-monitor/monitor-fixtures/actuals.jsonl``)::

    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"}, "eventVersion": "0"}

written as one new file ``<prefix>/yyyy/mm/dd/hh/<mm-ss-micro>-<uuid>.jsonl`` for the UTC hour of ingestion (the
folder is when the labels were collected, not when the inferences were made, as Model Monitor expects).

A labels file is read as a stream (``stream_labels``): each line is checked and its record written in chunks
(``ground_truth_chunks``) to a hidden temporary file renamed into place only after the last line passed
(``write_whole``), so memory does not grow with the file; ``IdTally`` keeps a 64-bit hash of each distinct id to
count repeated ids.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import json
import math
import os
import re
import uuid
from array import array
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_errors import MlopsError
from monitoring.jsonl_tables import SkipCounter, parse_numbers, read_jsonl

ID_COLUMN = "inference_id"
LABEL_COLUMN = "label"
LABEL_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
MAX_REPORTED = 10  # bad lines named in one error
MAX_SHOWN = 60  # characters of a value quoted in a message: a 200,000-character id is named, not printed
CHUNK_LINES = 8192  # records formatted and written at a time

MISSING_ID = "missing_id"
BAD_LABEL = "bad_label"
UNSUPPORTED_ENCODING = "unsupported_encoding"

_HOUR = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})$")
_DECIMAL = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\r\f\v]*")  # ASCII
_READS_AS = {"1": "1", "1.0": "1", "0": "0", "0.0": "0"}  # binary label text read as a number
_GROUND_TRUTH_SCHEMA = pa.schema(
    [
        pa.field("groundTruthData", pa.struct([("data", pa.string()), ("encoding", pa.string())])),
        pa.field("eventMetadata", pa.struct([("eventId", pa.string())])),
    ]
)


class LabelsError(MlopsError, ValueError):
    """A labels file that cannot be ingested: names the file, the lines and what was expected."""


class _JsonInteger(str):
    """A JSON integer kept as its text: an id takes it as written, a label is read as a number from it, and a
    5,000-digit integer never becomes an ``int`` (Python refuses past 4,300 digits, with a traceback)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


class LabelRules:
    """Turns one label value into the ground-truth text for a problem type (see the module docstring)."""

    def __init__(self, problem_type: str, positive_class: str | None = None, negative_class: str | None = None):
        if problem_type not in ("regression", "binary"):
            raise ValueError(f"problem_type must be regression or binary, got {problem_type!r}")
        self.problem_type = problem_type
        self.positive = None if positive_class is None else str(positive_class).strip()
        self.negative = None if negative_class is None else str(negative_class).strip()
        problem = self._contradiction()
        if problem:
            raise LabelsError(problem)

    def _contradiction(self) -> str | None:
        """Why the class options cannot hold together, or None: each case would silently give some label the wrong
        number (or be ignored), which a user who set it did not mean."""
        positive, negative = self.positive, self.negative
        if self.problem_type == "regression":
            if negative is not None:
                return f"--negative-class {negative!r} is for binary labels; data.problem_type is regression"
            return None
        if negative == "":
            return "--negative-class is empty: every empty label would mean 0; give the text of the class meaning 0"
        if negative is not None and negative == positive:
            return (
                f"--negative-class {negative!r} is also data.positive_class: a label {negative!r} cannot mean both "
                "0 and 1; give the text of the other class"
            )
        if negative is not None and _READS_AS.get(negative) == "1":
            return (
                f"--negative-class {negative!r} would mean 0, but the label {negative} always means 1 (the positive "
                "class); give the text of the class meaning 0, or leave it out for 0/1 labels"
            )
        if positive is not None and _READS_AS.get(positive) == "0":
            return (
                f"data.positive_class {positive!r} would mean 1, but the label {positive} always means 0; "
                "name the positive class by another text"
            )
        return None

    def expected(self) -> str:
        if self.problem_type == "regression":
            return "a finite number"
        classes = [f"{c!r}" for c in (self.positive, self.negative) if c is not None]
        return "0 or 1" + (f" (or the class {' / '.join(classes)})" if classes else "")

    def convert(self, value: object) -> str | None:
        """The label as ground-truth text, or None when it does not fit the problem type."""
        if self.problem_type == "regression":
            return _number(value)
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float)):
            return "1" if value == 1 else "0" if value == 0 else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text in _READS_AS:
            return _READS_AS[text]
        if text == self.positive:
            return "1"
        if text == self.negative:
            return "0"
        return None


def _number(value: object) -> str | None:
    """A finite number as Python's shortest text for it, or None: a JSON number, or text in ASCII decimal syntax
    (what pandas and the model-quality reader read; ``float()`` would also take ``1_000``, ``١٢``, ``nan``)."""
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            return None
        number = float(value)  # past float's range: inf, refused below; never an error
    elif isinstance(value, bool):
        return None
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        return None
    return repr(number) if math.isfinite(number) else None


def _shown(value: object) -> str:
    """A value as a message quotes it (text as a Python literal, JSON values as JSON), cut to MAX_SHOWN characters."""
    if isinstance(value, (dict, list)):
        return "a JSON object" if isinstance(value, dict) else "a JSON array"
    if isinstance(value, str) and not isinstance(value, _JsonInteger):
        cut = repr(value[:MAX_SHOWN])
    else:
        text = str.__str__(value) if isinstance(value, _JsonInteger) else json.dumps(value, default=repr)
        cut = text[:MAX_SHOWN]
    length = len(value) if isinstance(value, str) else len(cut)
    return cut if length <= MAX_SHOWN else f"{cut}... ({length:,} characters)"


def _id(key: object) -> tuple[str, str | None]:
    """(the id exactly as given, what is wrong with it or None); see the module docstring for why ids are never
    stripped or turned from other JSON values into text."""
    if type(key) is str and key and key.isprintable() and key[0] != " ":
        return key, None  # the common case, in one pass (the only whitespace a printable id can hold is the space)
    if isinstance(key, _JsonInteger):
        return str.__str__(key), None  # digits, perhaps a minus: printable
    if key is None or (isinstance(key, str) and not key.strip()):
        return "", "no id"
    if not isinstance(key, str):
        kind = "a boolean" if isinstance(key, bool) else "a number with a fraction or exponent"
        kind = "an object or array" if isinstance(key, (dict, list)) else kind
        return "", f"id {_shown(key)} is {kind}; expected a string (or an integer)"
    if key != key.lstrip():  # InferenceId cannot start with whitespace (\A\S[\p{Print}]*); it may end with spaces
        return "", (
            f"id {_shown(key)} starts with whitespace, which no inference id or event id does; expected the id "
            "exactly as sent (ids are matched exactly)"
        )
    at = next(i for i, character in enumerate(key) if not character.isprintable())
    return "", (
        f"id {_shown(key)} has U+{ord(key[at]):04X} (a control character or other unprintable one) at character "
        f"{at + 1}; expected printable text"
    )


class _BadLines:
    """The bad lines of one labels file: every one counted, the first MAX_REPORTED named."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.named: list[str] = []

    def add(self, line: int, problem: str) -> None:
        self.count += 1
        if len(self.named) < MAX_REPORTED:
            self.named.append(f"  line {line}: {problem}")

    def error(self) -> LabelsError:
        more = f"\n  ... and {self.count - MAX_REPORTED} more" if self.count > MAX_REPORTED else ""
        return LabelsError(
            f"{self.path}: {self.count} bad line(s); nothing was written:\n" + "\n".join(self.named) + more
        )


Row = tuple[int, object, object, "str | None"]  # line number, id, label, what is wrong with the line itself


def _checked(rows: Iterable[Row], path: Path, rules: LabelRules) -> Iterator[tuple[str, str]]:
    """(id, label text) of the rows, in order, until a bad row is seen (the rest are only checked); after the last
    row a LabelsError naming the bad lines, so whatever was written from the pairs is thrown away."""
    bad = _BadLines(path)
    good = 0
    try:
        for line, key, value, problem in rows:
            if problem is None:
                text, problem = _id(key)
            if problem is None:
                label = rules.convert(value)
                if label is not None:
                    good += 1
                    if not bad.count:
                        yield text, label
                    continue
                problem = f"label {_shown(value)} is not {rules.expected()}"
            bad.add(line, problem)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    except OSError as exc:
        raise LabelsError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if bad.count:
        raise bad.error()
    if not good:
        raise LabelsError(f"{path}: no labels found")


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> LabelsError:
    """The error for a file that is not UTF-8, with the line and file offset of its first bad byte (the decoder's
    own offset counts from the start of its buffer, somewhere in the file)."""
    try:
        found = _first_bad_utf8(path)
    except OSError:
        found = None
    if found is None:  # the file changed under us
        return LabelsError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8")
    line, offset, reason = found
    return LabelsError(
        f"{path}: line {line}: not UTF-8 text ({reason} at byte {offset:,} of the file); save it as UTF-8"
    )


def _first_bad_utf8(path: Path, size: int = 1 << 20) -> tuple[int, int, str] | None:
    """(line, file offset, reason) of the first byte of a file that is not UTF-8, or None; lines end at LF, CR or
    CRLF, as the readers count them."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line, after_cr = 0, 1, False
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(size)
            held = len(decoder.getstate()[0])  # bytes of a character cut by the last chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                at = offset - held + exc.start
                return line + _line_breaks(chunk[: max(at - offset, 0)], after_cr), at, exc.reason
            if not chunk:
                return None
            line += _line_breaks(chunk, after_cr)
            offset += len(chunk)
            after_cr = chunk.endswith(b"\r")


def _line_breaks(data: bytes, after_cr: bool) -> int:
    """Line ends (LF, CR, CRLF) in ``data``; ``after_cr``: the data before it ended with a CR (then a first LF
    completes that CRLF)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") - (after_cr and data.startswith(b"\n"))


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


def _rows(path: Path, kind: str, id_column: str, label_column: str) -> Iterator[Row]:
    """Rows of a labels file; UTF-8 with or without a byte-order mark; lines end at LF, CR or CRLF."""
    reader = _csv_rows if kind == "csv" else _jsonl_rows
    with open(path, newline="" if kind == "csv" else None, encoding="utf-8-sig") as handle:
        yield from reader(handle, path, id_column, label_column)


def _labels_kind(path: Path) -> str:
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


def stream_labels(
    path: Path,
    problem_type: str,
    *,
    id_column: str = ID_COLUMN,
    label_column: str = LABEL_COLUMN,
    positive_class: str | None = None,
    negative_class: str | None = None,
) -> Iterator[tuple[str, str]]:
    """(id, ground-truth label text) of every line of a CSV or JSON Lines labels file, in file order, read as they
    are iterated; after the last one a LabelsError naming the file and its bad lines (invalid JSON, no id, a label
    that does not fit), so a consumer must not keep what it got unless the iteration ends cleanly. The options and
    the file's kind are checked at the call, before anything is read."""
    path = Path(path)
    if id_column == label_column:
        raise LabelsError(f"--id-column and --label-column are both {id_column!r}; expected two different columns")
    rules = LabelRules(problem_type, positive_class, negative_class)
    kind = _labels_kind(path)
    return _checked(_rows(path, kind, id_column, label_column), path, rules)


def read_labels(
    path: Path,
    problem_type: str,
    *,
    id_column: str = ID_COLUMN,
    label_column: str = LABEL_COLUMN,
    positive_class: str | None = None,
    negative_class: str | None = None,
) -> list[tuple[str, str]]:
    """``stream_labels`` as a list: for small files (each pair is a Python tuple)."""
    return list(
        stream_labels(
            path,
            problem_type,
            id_column=id_column,
            label_column=label_column,
            positive_class=positive_class,
            negative_class=negative_class,
        )
    )


class IdTally:
    """How many labels went by, and how many repeat an earlier id, in memory proportional to the distinct ids: 64-bit
    hashes of the ids (8 bytes an id, not a Python object a line), sorted in place and cut down to the distinct ones
    whenever they double. Two different ids sharing a hash (odds about n²/2⁶⁵: 2e-7 for 3M ids) would count one
    repeat too many in a message, nothing else."""

    COMPACT_AT = 1 << 20  # hashes held before the first compaction

    def __init__(self) -> None:
        self.labels = 0
        self._hashes = array("q")
        self._distinct = 0  # of the hashes at the last compaction

    def add(self, keys: Iterable[str]) -> None:
        before = len(self._hashes)
        self._hashes.extend(map(hash, keys))
        self.labels += len(self._hashes) - before
        if len(self._hashes) >= max(2 * self._distinct, self.COMPACT_AT):
            self._compact()

    def _compact(self) -> None:
        view = np.frombuffer(self._hashes, dtype=np.int64)  # writable: the array's own buffer
        view.sort()
        first = np.ones(view.size, dtype=bool)
        np.not_equal(view[1:], view[:-1], out=first[1:])
        if first.all():  # no repeats (the usual case): no copy
            self._distinct = view.size
            return
        distinct = view[first]
        del view  # the array cannot be replaced while a view holds its buffer
        self._hashes = array("q")
        self._hashes.frombytes(distinct.view(np.uint8).data)
        self._distinct = len(self._hashes)

    def repeated(self) -> int:
        """Labels whose id came before (the later line wins)."""
        self._compact()
        return self.labels - self._distinct


def ground_truth_lines(labels: Iterable[tuple[str, str]]) -> bytes:
    """SageMaker ground-truth records, one a line, for (event or inference id, label text) pairs."""
    quote = json.encoder.encode_basestring
    return "".join(
        f'{{"groundTruthData":{{"data":{quote(label)},"encoding":"CSV"}},'
        f'"eventMetadata":{{"eventId":{quote(key)}}},"eventVersion":"0"}}\n'
        for key, label in labels
    ).encode("utf-8")


def ground_truth_chunks(
    labels: Iterable[tuple[str, str]], tally: IdTally | None = None, lines: int = CHUNK_LINES
) -> Iterator[bytes]:
    """``ground_truth_lines`` of ``lines`` pairs at a time (each pair's id added to ``tally``): a large labels file
    is written without its whole output, or all its pairs, in memory."""
    pairs = iter(labels)
    while batch := list(islice(pairs, lines)):
        if tally is not None:
            tally.add(map(itemgetter(0), batch))
        yield ground_truth_lines(batch)


def ground_truth_key(prefix: str, moment: datetime) -> str:
    """``<prefix>/yyyy/mm/dd/hh/<mm-ss-micro>-<uuid>.jsonl`` for the UTC hour of ``moment``: a name never reused."""
    moment = moment.astimezone(timezone.utc)
    return f"{prefix.rstrip('/')}/{moment:%Y/%m/%d/%H}/{moment:%M-%S-%f}-{uuid.uuid4().hex}.jsonl"


def write_whole(path: Path, body: bytes | Iterable[bytes]) -> Path:
    """Write a new file whole or not at all: a hidden temporary file beside it, written (chunk by chunk when the body
    is an iterable: an error while the chunks are made, such as a bad labels line, leaves nothing), flushed, then
    renamed. The folders it had to make are removed again when it fails, so a failure leaves no trace."""
    made = _missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_renamed(path, [body] if isinstance(body, bytes) else body)
    except BaseException:
        _remove_empty(made)
        raise
    return path


def _write_renamed(path: Path, chunks: Iterable[bytes]) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    handle = open(temporary, "xb")  # noqa: SIM115 - a name already taken fails here, before the finally owns it
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _missing_folders(folder: Path) -> list[Path]:
    """A folder and its parents that do not exist yet, deepest first: the ones a write will make."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders (deepest first) while they are empty: one another writer is using stays."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


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
