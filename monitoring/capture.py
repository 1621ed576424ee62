"""SageMaker data-capture files: selecting them by time window and turning records into feature rows.

Layout: ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, one JSON object a line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2024-01-01T10:00:00Z"},
     "eventVersion": "0"}

Blocks of lines are parsed into tables by ``monitoring.capture_blocks``: only the bad lines are skipped, each
counted by reason (never fatal: ``invalid_json``, ``wrong_type``, ``not_utf8``).

Times: with a window, each record's ``eventMetadata.inferenceTime`` is read as
``monitoring.capture_times.parse_times`` reads it for the model-quality join (ISO 8601 as SageMaker writes
it, ``2026-11-30T08:00:00.123Z``; an explicit offset is converted to UTC; no zone means UTC) and compared with
[start, end) as an instant. A record whose time is missing (no ``eventMetadata`` included) or not such a time
(``2026-13-45T08:00:00Z``) is counted as ``bad_inference_time``: it cannot be placed in the window. Without a
window, the time is not read.

Skip examples name the file and line (``<file>: line N: ...``), record-level reasons (bad base64, a wrong column
count, ...) included: each row of a block's table keeps its line number.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.capture_blocks import fast_block, object_lines, slow_block
from monitoring.capture_payload import decode_payload, json_instances
from monitoring.capture_times import BAD_TIME, inference_times, parse_times
from monitoring.csv_input import read_csv_text
from monitoring.jsonl_tables import line_blocks
from monitoring.preprocessor import preprocess_file
from monitoring.report import INVALID_JSON, MISSING_INPUT, WRONG_COLUMN_COUNT, ReadReport
from monitoring.sources import BLOCK_BYTES, Chunk, list_files, positional_names, records_to_chunk

_HOUR_PATH = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})$")
_UTC_MICROS = pa.timestamp("us", tz="UTC")


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
            count, objects = object_lines(block)
            table = fast_block(block, len(objects))
            if table is None:
                table, lines = slow_block(block, path, line, self.report)
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
