"""Blocks of data-capture lines parsed into tables of the fields the data-quality check reads
(``captureData.endpointInput`` and ``eventMetadata.inferenceTime``), each row with its file line number.

A block is parsed by Arrow's JSON reader at once (``fast_block``); a block that may hold a bad line is re-read line
by line (``slow_block``) so that only the bad lines are skipped, each counted by reason (never fatal): Arrow rejects
it (a truncated line: ``invalid_json``; a field of another JSON type, such as a number for ``inferenceTime``:
``wrong_type``, as the model-quality join counts it), a byte is not UTF-8 (``not_utf8``, anywhere in the line;
Arrow's reader does not check it), or Arrow gives more rows than the block has lines ending in ``}`` (``{...}{...}``
on one line, which Arrow reads as two records: ``invalid_json``). Kept apart from ``monitoring.capture``'s reader,
which turns these tables into feature rows.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from monitoring.jsonl_rescue import WRONG_TYPE
from monitoring.jsonl_tables import utf8_valid
from monitoring.report import ReadReport, parse_json_line

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


def object_lines(block: bytes) -> tuple[int, np.ndarray]:
    """(the number of lines of a block, the indexes of those ending with ``}``, before a CR if any): one vectorised
    scan, as cheap as counting the newlines."""
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    last = raw[np.maximum(ends - 1, 0)]
    crlf = (last == 13) & (raw[np.maximum(ends - 2, 0)] == 125) & (ends >= 2)
    return len(ends), np.flatnonzero(((last == 125) & (ends >= 1)) | crlf)


def fast_block(block: bytes, objects: int) -> pa.Table | None:
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


def slow_block(block: bytes, path: Path, first_line: int, report: ReadReport) -> tuple[pa.Table, np.ndarray]:
    """Line-by-line parse of a block ``fast_block`` refused; bad lines are counted, good ones kept, with their line
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
