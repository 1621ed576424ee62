"""SageMaker data-capture files: selecting them by time window and turning records into feature rows.

Layout: ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, one JSON object a line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2024-01-01T10:00:00Z"},
     "eventVersion": "0"}

Blocks of lines are parsed by Arrow's JSON reader; a block that may hold a bad line is re-read line by line so that
only the bad lines are skipped, each counted by reason (never fatal): Arrow rejects it (a truncated line:
``invalid_json``; a field of another JSON type, such as a number for ``inferenceTime``: ``wrong_type``, as the
model-quality join counts it), a byte is not UTF-8 (``not_utf8``, anywhere in the line; Arrow's reader does not
check it), or Arrow gives more rows than the block has lines ending in ``}`` (``{...}{...}`` on one line, which
Arrow reads as two records: ``invalid_json``).

Times: with a window, each record's ``eventMetadata.inferenceTime`` is read as
``monitoring.capture_predictions.parse_times`` reads it for the model-quality join (ISO 8601 as SageMaker writes
it, ``2026-11-30T08:00:00.123Z``; an explicit offset is converted to UTC; no zone means UTC) and compared with
[start, end) as an instant. A record whose time is missing (no ``eventMetadata`` included) or not such a time
(``2026-13-45T08:00:00Z``) is counted as ``bad_inference_time``: it cannot be placed in the window. Without a
window, the time is not read.

Skip examples name the file and line (``<file>: line N: ...``), record-level reasons (bad base64, a wrong column
count, ...) included: each row of a block's table keeps its line number.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from monitoring.capture_payload import decode_payload, json_instances
from monitoring.capture_predictions import BAD_TIME, inference_times, parse_times
from monitoring.errors import AnalyzerInputError
from monitoring.jsonl_tables import WRONG_TYPE, line_blocks, utf8_valid
from monitoring.preprocessor import preprocess_file
from monitoring.report import INVALID_JSON, MISSING_INPUT, WRONG_COLUMN_COUNT, ReadReport, parse_json_line
from monitoring.sources import BLOCK_BYTES, Chunk, list_files, positional_names, read_csv_text, records_to_chunk

_HOUR_PATH = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})$")
_UTC_MICROS = pa.timestamp("us", tz="UTC")
_CAPTURE_SCHEMA = pa.schema(
    [
        pa.field(
            "captureData",
            pa.struct(
                [
                    pa.field(
                        "endpointInput",
                        pa.struct(
                            [("observedContentType", pa.string()), ("data", pa.string()), ("encoding", pa.string())]
                        ),
                    )
                ]
            ),
        ),
        pa.field("eventMetadata", pa.struct([("inferenceTime", pa.string())])),
    ]
)


def parse_time(text: str, what: str = "time") -> datetime:
    """ISO-8601 time (``Z`` or offset; naive means UTC) to an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise AnalyzerInputError(f"{what} must be an ISO-8601 time such as 2024-01-31T10:00:00Z, got {text!r}") from exc
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def capture_files(root: Path, start: datetime | None = None, end: datetime | None = None) -> list[Path]:
    """Capture files under ``root`` whose hour directory overlaps [start, end); all when no window."""
    files = list_files(root, (".jsonl", ".json"))
    if start is None and end is None:
        return files
    first_hour = start.replace(minute=0, second=0, microsecond=0) if start else None
    selected = []
    for path in files:
        match = _HOUR_PATH.search(path.parent.as_posix())
        if not match:
            selected.append(path)  # not in the hourly layout: keep it, records are filtered by time
            continue
        year, month, day, hour_of_day = map(int, match.groups())
        hour = datetime(year, month, day, hour_of_day, tzinfo=timezone.utc)
        if (first_hour is None or hour >= first_hour) and (end is None or hour < end):
            selected.append(path)
    return selected


def _object_lines(block: bytes) -> tuple[int, np.ndarray]:
    """(the number of lines of a block, the indexes of those ending with ``}``, before a CR if any): one vectorised
    scan, as cheap as counting the newlines."""
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    last = raw[np.maximum(ends - 1, 0)]
    crlf = (last == 13) & (raw[np.maximum(ends - 2, 0)] == 125) & (ends >= 2)
    return len(ends), np.flatnonzero(((last == 125) & (ends >= 1)) | crlf)


def _fast_block(block: bytes, objects: int) -> pa.Table | None:
    """Arrow's parse of a block of capture lines, or None when a line may be malformed: a byte is not UTF-8 (Arrow's
    reader does not check it: it would break a kernel later), Arrow rejects a line, or there are more rows than the
    ``objects`` lines ending in ``}`` (Arrow reads ``{...}{...}`` on one line as two records; a line with blanks
    after its ``}`` is sent the slow way too, where it is read)."""
    if not utf8_valid(block):
        return None
    try:
        table = pajson.read_json(
            io.BytesIO(block),
            parse_options=pajson.ParseOptions(explicit_schema=_CAPTURE_SCHEMA, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return table if table.num_rows == objects else None


def _capture_fields(record: dict) -> tuple[dict | None, str | None] | str:
    """(endpointInput with its text fields, inferenceTime) of one parsed capture record, or which field has another
    JSON type than SageMaker writes (an object, a string): counted ``wrong_type``, as Arrow's reader of the
    model-quality join counts it, and not read as a record whose time or input is missing."""
    capture, meta = record.get("captureData"), record.get("eventMetadata")
    if capture is not None and not isinstance(capture, dict):
        return "captureData is not an object"
    if meta is not None and not isinstance(meta, dict):
        return "eventMetadata is not an object"
    endpoint_input = (capture or {}).get("endpointInput")
    if endpoint_input is not None and not isinstance(endpoint_input, dict):
        return "captureData.endpointInput is not an object"
    inference_time = (meta or {}).get("inferenceTime")
    if inference_time is not None and not isinstance(inference_time, str):
        return f"eventMetadata.inferenceTime is not a string: {json.dumps(inference_time)[:40]}"
    if endpoint_input is not None:
        endpoint_input = {
            k: (v if isinstance(v, str) or v is None else json.dumps(v))
            for k, v in endpoint_input.items()
            if k in ("observedContentType", "data", "encoding")
        }
    return endpoint_input, inference_time


def _slow_block(block: bytes, path: Path, first_line: int, report: ReadReport) -> tuple[pa.Table, np.ndarray]:
    """Line-by-line parse of a block ``_fast_block`` refused; bad lines are counted, good ones kept, with their line
    numbers."""
    inputs: list = []
    times: list = []
    lines: list[int] = []
    for offset, raw in enumerate(block.split(b"\n")):
        if not raw.strip():
            continue
        where = f"{path}: line {first_line + offset}"
        record = parse_json_line(raw, where, report)
        if record is None:
            continue
        fields = _capture_fields(record)
        if isinstance(fields, str):
            report.skip(WRONG_TYPE, f"{where}: {fields}")
            continue
        inputs.append({"endpointInput": fields[0]})
        times.append({"inferenceTime": fields[1]})
        lines.append(first_line + offset)
    table = pa.Table.from_arrays(
        [
            pa.array(inputs, type=_CAPTURE_SCHEMA.field("captureData").type),
            pa.array(times, type=_CAPTURE_SCHEMA.field("eventMetadata").type),
        ],
        schema=_CAPTURE_SCHEMA,
    )
    return table, np.asarray(lines, dtype=np.int64)


class CaptureReader:
    """Reads capture files into feature chunks, naming positional columns from the baseline."""

    def __init__(
        self,
        names: Sequence[str] | None,
        report: ReadReport,
        start: datetime | None = None,
        end: datetime | None = None,
        preprocessor: Callable | None = None,
    ) -> None:
        self.names = list(names or [])
        self.report = report
        self.start, self.end = start, end
        self.preprocessor = preprocessor
        self.width: int | None = None  # CSV field count, fixed by the first well-formed rows

    def read(self, root: Path) -> Iterator[Chunk]:
        for path in capture_files(root, self.start, self.end):
            if self.preprocessor is not None:
                yield from preprocess_file(path, self.preprocessor, self.names, self.report, self.in_window)
            else:
                yield from self.read_file(path)

    def in_window(self, inference_time: object) -> bool | None:
        """Whether one record's inferenceTime falls in [start, end) (always, without a window), read as the
        vectorised reader reads it; None for a missing time or one that is not a time, which no window can place
        (the ``record_preprocessor_script`` path counts it as ``bad_inference_time``, as the vectorised one does)."""
        if self.start is None and self.end is None:
            return True
        if not isinstance(inference_time, str):
            return None
        times, good = parse_times(pa.array([inference_time], pa.string()))
        if not good[0].as_py():
            return None
        moment = times[0].value
        return (self.start is None or moment >= _micros(self.start)) and (
            self.end is None or moment < _micros(self.end)
        )

    def read_file(self, path: Path) -> Iterator[Chunk]:
        self.report.files += 1
        line = 1
        for block in line_blocks(path, BLOCK_BYTES):
            count, objects = _object_lines(block)
            table = _fast_block(block, len(objects))
            if table is None:
                table, lines = _slow_block(block, path, line, self.report)
            else:
                lines = line + objects  # a fast block's rows are its lines ending with }, the others blank
            line += count
            yield from self._rows(table, path, lines)

    def _skip(self, reason: str, count: int, path: Path, line: Callable[[], int], what: str) -> None:
        """Count ``count`` skipped records; the example names the file and ``line()`` (asked for only when it is the
        reason's first example)."""
        if count:
            where = str(path) if reason in self.report.examples else f"{path}: line {line()}"
            self.report.skip(reason, f"{where}: {what}", count)

    def _in_window(self, table: pa.Table, path: Path, lines: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """The records in [start, end) and their line numbers; with a window, a record whose time is missing or not
        a time is counted (``bad_inference_time``), as are those outside it."""
        if self.start is None and self.end is None:
            return table, lines
        times, good = inference_times(table.column("eventMetadata"))
        bad = pc.invert(good)
        what = "inferenceTime is missing or not an ISO-8601 time"
        self._skip(BAD_TIME, _count(bad), path, lambda: int(lines[_first(bad)]), what)
        keep = good
        if self.start is not None:
            keep = pc.and_(keep, pc.greater_equal(times, pa.scalar(self.start, _UTC_MICROS)))
        if self.end is not None:
            keep = pc.and_(keep, pc.less(times, pa.scalar(self.end, _UTC_MICROS)))
        keep_np = _mask(keep)
        self.report.outside_window += _count(good) - int(keep_np.sum())
        return table.filter(pa.array(keep_np)), lines[keep_np]

    def _rows(self, table: pa.Table, path: Path, lines: np.ndarray) -> Iterator[Chunk]:
        table, lines = self._in_window(table, path, lines)
        endpoint_input = pc.struct_field(table.column("captureData"), "endpointInput")
        data = pc.struct_field(endpoint_input, "data")
        encoding = pc.struct_field(endpoint_input, "encoding")
        has_data = pc.fill_null(pc.is_valid(data), False)
        missing = table.num_rows - _count(has_data)
        what = "record without captureData.endpointInput.data"
        self._skip(MISSING_INPUT, missing, path, lambda: int(lines[_first(pc.invert(has_data))]), what)
        self.report.records += table.num_rows - missing
        is_csv = pc.fill_null(pc.and_(has_data, pc.equal(pc.utf8_upper(encoding), "CSV")), False)
        csv_data = pc.filter(data, is_csv)
        if len(csv_data):
            yield from self._csv_rows(csv_data, path, lambda: lines[_mask(is_csv)])
        other = pc.and_(has_data, pc.invert(is_csv))
        others = pc.filter(endpoint_input, other)
        if len(others):
            yield from self._other_rows(others.to_pylist(), path, lines[_mask(other)])

    def _fix_width(self, sample: list[str]) -> int:
        """The CSV field count: the commonest row width of the first sample, then fixed for the stream."""
        if self.width is None:
            counts: dict[int, int] = {}
            for row in csv.reader(line for text in sample for line in text.splitlines()):
                if row:
                    counts[len(row)] = counts.get(len(row), 0) + 1
            self.width = max(counts, key=counts.__getitem__) if counts else len(self.names)
        return self.width

    def _csv_rows(
        self, data: pa.Array | pa.ChunkedArray, path: Path, lines: Callable[[], np.ndarray | list[int]]
    ) -> Iterator[Chunk]:
        """Rows of CSV payloads (``lines()``: each payload's line number, asked for only to name the first row of
        another width: Arrow's CSV reader sees the payloads joined, not the file's lines)."""
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        names = positional_names(self._fix_width(data.slice(0, 1000).to_pylist()), self.names)
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(data)], pa.int32()), data), "\n")
        first_of_width = WRONG_COLUMN_COUNT not in self.report.examples
        table = read_csv_text(joined[0].as_buffer().to_pybytes(), names, self.report, str(path))
        if first_of_width and WRONG_COLUMN_COUNT in self.report.examples:
            self._name_wrong_width(data, path, lines(), len(names))
        self.report.rows += table.num_rows
        if table.num_rows:
            yield {name: table.column(i) for i, name in enumerate(names)}

    def _name_wrong_width(self, data: pa.Array, path: Path, lines: np.ndarray | list[int], width: int) -> None:
        """Replace the first ``wrong_column_count`` example by the file line of the first payload with a row of
        another width (read again with ``csv``, once a read; kept as it is if ``csv`` finds none)."""
        for text, line in zip(data.to_pylist(), lines, strict=True):
            for row in csv.reader(text.splitlines()):
                if row and len(row) != width:
                    self.report.examples[WRONG_COLUMN_COUNT] = (
                        f"{path}: line {line}: {text[:80]!r} has {len(row)} fields, expected {width}"
                    )
                    return

    def _other_rows(self, records: list[dict], path: Path, lines: np.ndarray) -> Iterator[Chunk]:
        csv_texts: list[str] = []
        csv_lines: list[int] = []
        rows: list = []
        for record, line in zip(records, lines.tolist(), strict=True):
            try:
                text, kind = decode_payload(record["data"], record.get("encoding"), record.get("observedContentType"))
            except ValueError as exc:
                reason, _, detail = str(exc).partition(": ")
                self.report.skip(reason, f"{path}: line {line}: {detail}")
                continue
            if kind == "csv":
                csv_texts.append(text)
                csv_lines.append(line)
                continue
            try:
                rows.extend(json_instances(json.loads(text)))
            except json.JSONDecodeError as exc:
                self.report.skip(INVALID_JSON, f"{path}: line {line}: request body: {exc}")
        if csv_texts:
            yield from self._csv_rows(pa.array(csv_texts, pa.string()), path, lambda: csv_lines)
        if rows:
            self.report.rows += len(rows)
            yield records_to_chunk(rows, self.names)


def _micros(moment: datetime) -> int:
    """A datetime as microseconds since the epoch, UTC (naive means UTC)."""
    return pa.scalar(moment, _UTC_MICROS).value


def _mask(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow mask as numpy booleans (nulls false)."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _first(mask: pa.Array | pa.ChunkedArray) -> int:
    """The index of the first true value of a mask that has one."""
    return int(np.argmax(_mask(mask)))


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)
