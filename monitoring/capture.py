"""SageMaker data-capture files: selecting them by time window and turning records into feature rows.

Layout: ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, one JSON object a line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2024-01-01T10:00:00Z"},
     "eventVersion": "0"}

Blocks of lines are parsed by Arrow's JSON reader; a block that fails (a truncated line, bad UTF-8) is
re-read line by line so that only the bad lines are skipped, each counted by reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from monitoring.capture_payload import decode_payload, json_instances
from monitoring.errors import AnalyzerInputError
from monitoring.jsonl_tables import line_blocks
from monitoring.preprocessor import preprocess_file
from monitoring.report import INVALID_JSON, MISSING_INPUT, ReadReport, parse_json_line
from monitoring.sources import BLOCK_BYTES, Chunk, list_files, positional_names, read_csv_text, records_to_chunk

_HOUR_PATH = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})$")
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


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


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


def _fast_block(block: bytes) -> pa.Table | None:
    """Arrow's parse of a block of capture lines, or None when any line is malformed."""
    try:
        return pajson.read_json(
            io.BytesIO(block),
            parse_options=pajson.ParseOptions(explicit_schema=_CAPTURE_SCHEMA, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def _slow_block(block: bytes, path: Path, first_line: int, report: ReadReport) -> pa.Table:
    """Line-by-line parse of a block that Arrow rejected; bad lines are counted, good ones kept."""
    inputs: list = []
    times: list = []
    for offset, raw in enumerate(block.split(b"\n")):
        if not raw.strip():
            continue
        record = parse_json_line(raw, f"{path}: line {first_line + offset}", report)
        if record is None:
            continue
        endpoint_input = (record.get("captureData") or {}).get("endpointInput")
        if not isinstance(endpoint_input, dict):
            endpoint_input = None
        else:
            endpoint_input = {
                k: (v if isinstance(v, str) or v is None else json.dumps(v))
                for k, v in endpoint_input.items()
                if k in ("observedContentType", "data", "encoding")
            }
        inputs.append({"endpointInput": endpoint_input})
        meta = record.get("eventMetadata") or {}
        times.append({"inferenceTime": meta.get("inferenceTime") if isinstance(meta, dict) else None})
    return pa.Table.from_arrays(
        [
            pa.array(inputs, type=_CAPTURE_SCHEMA.field("captureData").type),
            pa.array(times, type=_CAPTURE_SCHEMA.field("eventMetadata").type),
        ],
        schema=_CAPTURE_SCHEMA,
    )


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

    def in_window(self, inference_time: str | None) -> bool:
        """Whether one record's inferenceTime falls in [start, end) (always, without a window)."""
        if self.start is None and self.end is None:
            return True
        if not isinstance(inference_time, str):
            return False
        stamp = inference_time[:19]
        return (self.start is None or stamp >= _stamp(self.start)) and (self.end is None or stamp < _stamp(self.end))

    def read_file(self, path: Path) -> Iterator[Chunk]:
        self.report.files += 1
        line = 1
        for block in line_blocks(path, BLOCK_BYTES):
            table = _fast_block(block)
            if table is None:
                table = _slow_block(block, path, line, self.report)
            line += block.count(b"\n")
            yield from self._rows(table, path)

    def _in_window(self, table: pa.Table) -> pa.Table:
        if self.start is None and self.end is None:
            return table
        stamps = pc.utf8_slice_codeunits(pc.struct_field(table.column("eventMetadata"), "inferenceTime"), 0, 19)
        keep = pc.is_valid(stamps)
        if self.start is not None:
            keep = pc.and_(keep, pc.greater_equal(stamps, _stamp(self.start)))
        if self.end is not None:
            keep = pc.and_(keep, pc.less(stamps, _stamp(self.end)))
        keep = pc.fill_null(keep, False)
        kept = table.filter(keep)
        self.report.outside_window += table.num_rows - kept.num_rows
        return kept

    def _rows(self, table: pa.Table, path: Path) -> Iterator[Chunk]:
        table = self._in_window(table)
        endpoint_input = pc.struct_field(table.column("captureData"), "endpointInput")
        data = pc.struct_field(endpoint_input, "data")
        encoding = pc.struct_field(endpoint_input, "encoding")
        has_data = pc.fill_null(pc.is_valid(data), False)
        missing = table.num_rows - int(pc.sum(has_data).as_py() or 0)
        if missing:
            self.report.skip(MISSING_INPUT, f"{path}: record without captureData.endpointInput.data", missing)
        self.report.records += table.num_rows - missing
        is_csv = pc.fill_null(pc.and_(has_data, pc.equal(pc.utf8_upper(encoding), "CSV")), False)
        csv_data = pc.filter(data, is_csv)
        if len(csv_data):
            yield from self._csv_rows(csv_data, path)
        others = pc.filter(endpoint_input, pc.and_(has_data, pc.invert(is_csv)))
        if len(others):
            yield from self._other_rows(others.to_pylist(), path)

    def _fix_width(self, sample: list[str]) -> int:
        """The CSV field count: the commonest row width of the first sample, then fixed for the stream."""
        if self.width is None:
            counts: dict[int, int] = {}
            for row in csv.reader(line for text in sample for line in text.splitlines()):
                if row:
                    counts[len(row)] = counts.get(len(row), 0) + 1
            self.width = max(counts, key=counts.__getitem__) if counts else len(self.names)
        return self.width

    def _csv_rows(self, data: pa.Array | pa.ChunkedArray, path: Path) -> Iterator[Chunk]:
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        names = positional_names(self._fix_width(data.slice(0, 1000).to_pylist()), self.names)
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(data)], pa.int32()), data), "\n")
        table = read_csv_text(joined[0].as_buffer().to_pybytes(), names, self.report, str(path))
        self.report.rows += table.num_rows
        if table.num_rows:
            yield {name: table.column(i) for i, name in enumerate(names)}

    def _other_rows(self, records: list[dict], path: Path) -> Iterator[Chunk]:
        csv_texts: list[str] = []
        rows: list = []
        for record in records:
            try:
                text, kind = decode_payload(record["data"], record.get("encoding"), record.get("observedContentType"))
            except ValueError as exc:
                reason, _, detail = str(exc).partition(": ")
                self.report.skip(reason, f"{path}: {detail}")
                continue
            if kind == "csv":
                csv_texts.append(text)
                continue
            try:
                rows.extend(json_instances(json.loads(text)))
            except json.JSONDecodeError as exc:
                self.report.skip(INVALID_JSON, f"{path}: request body: {exc}")
        if csv_texts:
            yield from self._csv_rows(pa.array(csv_texts, pa.string()), path)
        if rows:
            self.report.rows += len(rows)
            yield records_to_chunk(rows, self.names)
