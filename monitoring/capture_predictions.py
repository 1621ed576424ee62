"""Predictions read out of data-capture records: join key, inference time, prediction and probability.

The join key is ``eventMetadata.inferenceId`` when the record has one (non-empty), else ``eventMetadata.eventId``,
as Model Monitor merges. The prediction is read from ``captureData.endpointOutput`` in any capture encoding (``CSV``,
``JSON``, ``BASE64`` decoded by the observed content type) by an attribute:

- ``None``: the project's own output, one value a CSV line or ``{"predictions": [value]}``;
- a CSV column index (``"0"``, ``"2"``): that field of the output's CSV line;
- a JSON key: that key of the output object, or of the one object in its ``predictions`` list.

A request carrying several records under one id (several CSV lines, several predictions) is not joined: ground truth
holds one label per id and SageMaker documents no rule for spreading it over several records, so such a request is
counted as ``multi_record_request`` and skipped. A record whose prediction is missing, not a finite number or
unreadable is counted by reason and skipped; nothing here raises for a bad record.

The common cases (CSV, and the project's JSON) are read by Arrow's vectorised kernels; other shapes go through
``json.loads`` one record at a time.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.jsonl_tables import SkipCounter, parse_numbers

MISSING_ID = "missing_id"
BAD_TIME = "bad_inference_time"
MISSING_OUTPUT = "missing_endpoint_output"
BAD_BASE64 = "bad_base64"
UNSUPPORTED_CONTENT = "unsupported_content"
BAD_PREDICTION = "bad_prediction"
MULTI_RECORD = "multi_record_request"

OK, MULTI, BAD = 0, 1, 2  # status of one record's value

CAPTURE_SCHEMA = pa.schema(
    [
        pa.field(
            "captureData",
            pa.struct(
                [
                    pa.field(
                        "endpointOutput",
                        pa.struct(
                            [("observedContentType", pa.string()), ("data", pa.string()), ("encoding", pa.string())]
                        ),
                    )
                ]
            ),
        ),
        pa.field(
            "eventMetadata",
            pa.struct([("eventId", pa.string()), ("inferenceId", pa.string()), ("inferenceTime", pa.string())]),
        ),
    ]
)
_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)?$"
_ZONE = r"(Z|[+-]\d\d:\d\d)$"
_OWN_JSON = r'^\s*\{\s*"predictions"\s*:\s*\[\s*(?P<value>[^,\[\]\{\}\s]+)\s*(?P<end>[\],])'


@dataclass(frozen=True)
class Extract:
    """Where the value is in an output: None (the project's own), a CSV column index, or a JSON key."""

    attribute: str | None

    @property
    def column(self) -> int | None:
        text = self.attribute
        return int(text) if text is not None and text.strip().isdigit() else None


def join_keys(meta: pa.ChunkedArray) -> pa.ChunkedArray:
    """inferenceId where non-empty, else eventId (null when neither)."""
    inference = pc.struct_field(meta, "inferenceId")
    has_inference = pc.fill_null(pc.greater(pc.utf8_length(inference), 0), False)
    event = pc.struct_field(meta, "eventId")
    event = pc.if_else(pc.fill_null(pc.greater(pc.utf8_length(event), 0), False), event, pa.scalar(None, pa.string()))
    return pc.if_else(has_inference, inference, event)


def inference_times(meta: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(UTC timestamps in microseconds, whether each is a valid ISO-8601 time; naive means UTC)."""
    text = pc.struct_field(meta, "inferenceTime")
    ok = pc.fill_null(pc.match_substring_regex(text, _TIME), False)
    text = pc.if_else(ok, text, pa.scalar("1970-01-01T00:00:00Z"))
    zoned = pc.match_substring_regex(text, _ZONE)
    text = pc.if_else(zoned, text, pc.binary_join_element_wise(text, pa.scalar("Z"), ""))
    return pc.cast(text, pa.timestamp("us", tz="UTC")), ok


def _decode(data: str, content_type: str | None) -> tuple[str | None, str | None]:
    """(text, kind 'csv' or 'json') of a base64 payload; (None, reason) when it cannot be read."""
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None, BAD_BASE64
    media = (content_type or "").lower()
    kind = "json" if "json" in media else "csv" if "csv" in media else None
    return (text, kind) if kind else (None, UNSUPPORTED_CONTENT)


def payloads(output: pa.ChunkedArray, skips: SkipCounter, where: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(text, is_json, readable) of each record's endpointOutput: CSV and JSON as they are, BASE64 decoded."""
    data = pc.struct_field(output, "data")
    encoding = pc.utf8_upper(pc.fill_null(pc.struct_field(output, "encoding"), ""))
    has_data = pc.is_valid(data)
    skips.skip(
        MISSING_OUTPUT, f"{where}: a record without captureData.endpointOutput.data", _count(pc.invert(has_data))
    )
    is_json = pc.equal(encoding, "JSON")
    readable = pc.and_(has_data, pc.or_(is_json, pc.equal(encoding, "CSV")))
    is_base64 = pc.and_(has_data, pc.equal(encoding, "BASE64"))
    other = pc.and_(has_data, pc.invert(pc.or_(readable, is_base64)))
    skips.skip(UNSUPPORTED_CONTENT, f"{where}: endpointOutput.encoding not CSV, JSON or BASE64", _count(other))
    text = data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
    if _count(is_base64):
        texts = text.to_pylist()
        kinds = pc.if_else(is_json, "json", "csv").to_pylist()
        ok = readable.to_pylist()
        types = pc.struct_field(output, "observedContentType").to_pylist()
        for i in np.flatnonzero(np.asarray(is_base64.to_numpy(zero_copy_only=False), dtype=bool)):
            decoded, kind = _decode(texts[i], types[i])
            if decoded is None:
                skips.skip(kind or BAD_BASE64, f"{where}: endpointOutput data {texts[i][:40]!r}")
                continue
            texts[i], kinds[i], ok[i] = decoded, kind, True
        text, is_json, readable = pa.array(texts, pa.string()), pc.equal(pa.array(kinds), "json"), pa.array(ok)
    return text, pc.fill_null(is_json, False), pc.fill_null(readable, False)


def extract(text: pa.Array, is_json: pa.Array, where: Extract) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, status OK / MULTI / BAD) of one attribute of each output text."""
    n = len(text)
    values = np.full(n, np.nan)
    status = np.full(n, BAD, dtype=np.int8)
    json_mask = np.asarray(is_json.to_numpy(zero_copy_only=False), dtype=bool)
    csv_rows = np.flatnonzero(~json_mask)
    if len(csv_rows):
        _csv_values(pc.take(text, pa.array(csv_rows)), where, csv_rows, values, status)
    json_rows = np.flatnonzero(json_mask)
    if len(json_rows):
        _json_values(pc.take(text, pa.array(json_rows)), where, json_rows, values, status)
    return values, status


def _apply(rows: np.ndarray, parsed: pa.Array, ok: pa.Array, multi: pa.Array, values, status) -> None:
    ok_np = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    multi_np = np.asarray(pc.fill_null(multi, False).to_numpy(zero_copy_only=False), dtype=bool)
    values[rows] = np.asarray(pc.fill_null(parsed, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)
    status[rows] = np.where(multi_np, MULTI, np.where(ok_np, OK, BAD))


def _csv_values(text: pa.Array, where: Extract, rows: np.ndarray, values, status) -> None:
    trimmed = pc.utf8_trim_whitespace(text)
    multi = pc.match_substring(trimmed, "\n")
    column = where.column
    if column is None and where.attribute is not None:  # a JSON key on a CSV output: no such field
        return
    if column is not None:
        field = pc.struct_field(pc.extract_regex(trimmed, rf"^(?:[^,\n]*,){{{column}}}(?P<v>[^,\n]*)"), "v")
        trimmed = field
    parsed, ok = parse_numbers(trimmed)
    _apply(rows, parsed, ok, multi, values, status)


def _json_values(text: pa.Array, where: Extract, rows: np.ndarray, values, status) -> None:
    slow = np.ones(len(text), dtype=bool)
    if where.attribute is None:
        match = pc.extract_regex(text, _OWN_JSON)
        matched = np.asarray(pc.is_valid(match).to_numpy(zero_copy_only=False), dtype=bool)
        if matched.any():
            picked = pc.filter(match, pa.array(matched))
            parsed, ok = parse_numbers(pc.struct_field(picked, "value"))
            _apply(rows[matched], parsed, ok, pc.equal(pc.struct_field(picked, "end"), ","), values, status)
        slow = ~matched
    for i in np.flatnonzero(slow):
        values[rows[i]], status[rows[i]] = _json_value(text[int(i)].as_py(), where.attribute)


def _json_value(text: str | None, key: str | None) -> tuple[float, int]:
    """(value, status) of one JSON output by ``json.loads``."""
    try:
        obj = json.loads(text or "")
    except json.JSONDecodeError:
        return np.nan, BAD
    if isinstance(obj, dict) and (key is None or key not in obj) and "predictions" in obj:
        obj = obj["predictions"]
    if isinstance(obj, list):
        if len(obj) != 1:
            return np.nan, MULTI if len(obj) > 1 else BAD
        obj = obj[0]
    if key is not None:
        obj = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(obj, list):
            if len(obj) != 1:
                return np.nan, MULTI if len(obj) > 1 else BAD
            obj = obj[0]
    if isinstance(obj, bool) or not isinstance(obj, (int, float, str)):
        return np.nan, BAD
    try:
        number = float(obj)
    except ValueError:
        return np.nan, BAD
    return (number, OK) if np.isfinite(number) else (np.nan, BAD)


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)
