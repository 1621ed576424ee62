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

The inference time is read by ``monitoring.capture_times.parse_times`` (ISO 8601 as SageMaker writes it; an offset
is converted to UTC, no zone means UTC); a record whose time is missing or is no time (``2026-13-45T08:00:00Z``) is
counted as ``bad_inference_time``, whatever the other times of its block.

The common cases (CSV, and the project's JSON) are read by Arrow's vectorised kernels; other shapes go through
``json.loads`` one record at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.jsonl_tables import SkipCounter, parse_numbers

MISSING_ID = "missing_id"
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
_OWN_PREFIX = '{"predictions": ['  # inference/inference.py's JSON answer
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


_SIXBITS = np.full(256, 255, dtype=np.uint8)
_SIXBITS[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)] = np.arange(64)
_SIXBITS[ord("=")] = 64


def decode_base64(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(decoded UTF-8 strings, which decoded) of strict base64 strings, all at once with numpy: a string whose
    length is not a multiple of 4, with a character outside the alphabet, padding anywhere but at the end of its
    last group of four, or a decoded text that is not UTF-8 is not decoded (an empty string in its place).

    Each group of four characters is read as one little-endian uint32 of their 6-bit values (64 for ``=``, 255 for
    a character outside the alphabet), so the checks and the decoding are a few passes over groups, not over
    characters (about 3x faster)."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    lengths = pc.fill_null(pc.binary_length(texts), 0).to_numpy().astype(np.int64)
    ok = (lengths % 4 == 0) & (lengths > 0)
    texts = pc.if_else(pa.array(ok), texts, pa.scalar(""))
    group_counts = np.where(ok, lengths, 0) // 4
    buffer = texts.buffers()[2]
    data = np.frombuffer(buffer, np.uint8) if buffer is not None else np.empty(0, np.uint8)
    offsets = np.frombuffer(texts.buffers()[1], np.int32)[texts.offset : texts.offset + len(texts) + 1]
    groups = np.ascontiguousarray(_SIXBITS[data[offsets[0] : offsets[-1]]]).view("<u4")
    ends = np.cumsum(group_counts)  # each record's groups end here
    is_last = np.zeros(len(groups), dtype=bool)
    is_last[ends[group_counts > 0] - 1] = True
    pad = [(groups & np.uint32(0x40 << (8 * place))) != 0 for place in range(4)]  # "=" (or a bad character)
    bad = (groups & np.uint32(0x80808080)) != 0  # a character outside the alphabet
    bad |= pad[0] | pad[1] | (pad[2] & ~pad[3]) | ((pad[2] | pad[3]) & ~is_last)
    ok[np.searchsorted(ends, np.flatnonzero(bad), side="right")] = False
    good = np.repeat(ok, group_counts)
    if not good.all():
        groups, pad = groups[good], [flags[good] for flags in pad]
    groups &= np.uint32(0x3F3F3F3F)
    bits = (groups & 0xFF) << 18 | (groups >> 8 & 0xFF) << 12 | (groups >> 16 & 0xFF) << 6 | groups >> 24
    decoded = (bits << 8).astype(">u4").view(np.uint8).reshape(-1, 4)[:, :3]  # big-endian: the bytes in order
    keep = np.ones((len(groups), 3), dtype=bool)
    keep[:, 1], keep[:, 2] = ~pad[2], ~pad[3]  # "xx==" drops two bytes, "xxx=" one
    body = decoded[keep]
    padding = np.zeros(len(texts), dtype=np.int64)
    good_counts = np.where(ok, group_counts, 0)
    last = np.cumsum(good_counts)[good_counts > 0] - 1  # each decoded record's last group
    padding[good_counts > 0] = pad[2][last].astype(np.int64) + pad[3][last]
    out_lengths = 3 * good_counts - padding
    out_offsets = np.concatenate(([0], np.cumsum(out_lengths))).astype(np.int32)
    result = pa.StringArray.from_buffers(len(texts), pa.py_buffer(out_offsets), pa.py_buffer(body.tobytes()))
    try:
        result.validate(full=True)
    except pa.ArrowInvalid:  # some decoded text is not UTF-8: find which, one at a time
        for i in np.flatnonzero(ok):
            try:
                body[out_offsets[i] : out_offsets[i + 1]].tobytes().decode("utf-8")
            except UnicodeDecodeError:
                ok[i] = False
        result = pa.array(
            [
                body[out_offsets[i] : out_offsets[i + 1]].tobytes().decode("utf-8") if ok[i] else ""
                for i in range(len(texts))
            ],
            pa.string(),
        )
    return result, ok


def payloads(
    output: pa.ChunkedArray, skips: SkipCounter, where: str, lines: np.ndarray | None = None
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(text, is_json, readable) of each record's endpointOutput: CSV and JSON as they are, BASE64 decoded and
    read as JSON or CSV by its observed content type. ``lines``: each record's line number, for the examples."""
    data = pc.struct_field(output, "data")
    encoding = pc.utf8_upper(pc.fill_null(pc.struct_field(output, "encoding"), ""))
    has_data = pc.is_valid(data)
    missing = pc.invert(has_data)
    what = "a record without captureData.endpointOutput.data"
    skips.skip_rows(MISSING_OUTPUT, _count(missing), where, what, lines, missing)
    is_json = pc.equal(encoding, "JSON")
    readable = pc.and_(has_data, pc.or_(is_json, pc.equal(encoding, "CSV")))
    is_base64 = pc.and_(has_data, pc.equal(encoding, "BASE64"))
    other = pc.and_(has_data, pc.invert(pc.or_(readable, is_base64)))
    what = "endpointOutput.encoding not CSV, JSON or BASE64"
    skips.skip_rows(UNSUPPORTED_CONTENT, _count(other), where, what, lines, other)
    text = data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
    if _count(is_base64):
        rows = np.flatnonzero(np.asarray(is_base64.to_numpy(zero_copy_only=False), dtype=bool))
        row_lines = None if lines is None else lines[rows]
        decoded, ok = decode_base64(pc.take(text, pa.array(rows)))
        what = "endpointOutput data that is not base64 of UTF-8 text"
        skips.skip_rows(BAD_BASE64, int((~ok).sum()), where, what, row_lines, ~ok)
        media = pc.utf8_lower(pc.fill_null(pc.take(pc.struct_field(output, "observedContentType"), pa.array(rows)), ""))
        json_type = np.asarray(pc.match_substring(media, "json").to_numpy(zero_copy_only=False), dtype=bool)
        csv_type = np.asarray(pc.match_substring(media, "csv").to_numpy(zero_copy_only=False), dtype=bool)
        unknown = ok & ~json_type & ~csv_type
        what = "base64 output of a content type neither CSV nor JSON"
        skips.skip_rows(UNSUPPORTED_CONTENT, int(unknown.sum()), where, what, row_lines, unknown)
        source = np.arange(len(text))  # each record's text in [texts..., decoded texts...]: one take (not if_else)
        source[rows] = len(text) + np.arange(len(rows))
        text = pc.take(pa.concat_arrays([text, decoded]), pa.array(source))
        readable_np = np.asarray(pc.fill_null(readable, False).to_numpy(zero_copy_only=False), dtype=bool)
        json_np = np.asarray(pc.fill_null(is_json, False).to_numpy(zero_copy_only=False), dtype=bool)
        readable_np[rows] = ok & ~unknown
        json_np[rows] = json_type
        readable, is_json = pa.array(readable_np), pa.array(json_np)
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
    trimmed = pc.utf8_trim(text, " \t\r\n")
    multi = pc.fill_null(pc.match_substring(trimmed, "\n"), False)
    column = where.column
    if column is None and where.attribute is not None:  # a JSON key on a CSV output: no such field
        return
    if column is not None:
        trimmed = pc.struct_field(pc.extract_regex(trimmed, rf"^(?:[^,\n]*,){{{column}}}(?P<v>[^,\n]*)"), "v")
    single = np.flatnonzero(~np.asarray(multi.to_numpy(zero_copy_only=False), dtype=bool))
    status[rows] = MULTI
    if len(single):
        parsed, ok = parse_numbers(pc.take(trimmed, pa.array(single)))
        _apply(rows[single], parsed, ok, pa.array(np.zeros(len(single), dtype=bool)), values, status)


def _json_values(text: pa.Array, where: Extract, rows: np.ndarray, values, status) -> None:
    slow = np.ones(len(text), dtype=bool)
    if where.attribute is None:  # the project's own '{"predictions": [v]}': sliced, not matched
        own = pc.and_(pc.starts_with(text, _OWN_PREFIX), pc.ends_with(text, "]}"))
        own_np = np.asarray(pc.fill_null(own, False).to_numpy(zero_copy_only=False), dtype=bool)
        if own_np.any():
            inner = pc.utf8_slice_codeunits(pc.filter(text, pa.array(own_np)), len(_OWN_PREFIX), -2)
            parsed, ok = parse_numbers(inner)
            _apply(rows[own_np], parsed, ok, pc.match_substring(inner, ","), values, status)
        slow = ~own_np
        text, rows = pc.filter(text, pa.array(slow)), rows[slow]
        slow = np.ones(len(text), dtype=bool)
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
