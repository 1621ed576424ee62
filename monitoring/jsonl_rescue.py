"""The bad lines of a JSON Lines block, for ``monitoring.jsonl_tables``: found, counted by reason and blanked in place
(Arrow skips blank lines, so line numbers stay exact), and the rescue of a block Arrow still rejects, re-read in
pieces so that each bad line costs the re-parse of one small piece.

Kept apart from the reader, which reads a clean block in one parse and comes here only for what a cheap check flags
(the steps and their costs: ``monitoring.jsonl_tables``). Reasons: ``invalid_json`` (not JSON, a truncated line,
two values on one line), ``not_utf8`` (a byte anywhere in the line), ``wrong_type`` (valid JSON whose field has
another type than the schema's). An example names the file and the line (from 1 in the file as it is).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

if TYPE_CHECKING:
    from monitoring.jsonl_tables import SkipCounter

INVALID_JSON = "invalid_json"
NOT_UTF8 = "not_utf8"
WRONG_TYPE = "wrong_type"

PIECE_LINES = 500  # a rejected block is re-read in pieces of this many lines
_ROW = re.compile(r"in row (\d+)")
_SEVERAL = re.compile(rb"\}[ \t\r]*\{")  # where a line can hold a second object


def parse_block(block: bytes | memoryview, options: pajson.ParseOptions, whole: bool = False) -> pa.Table:
    """Arrow's parse of a block: in 1 MiB chunks on all cores, or (``whole``) as one chunk on this thread (when
    files are read side by side, or so that the row an error names counts from the block's first line)."""
    size = max(len(block) + 1, 1 << 20) if whole else 1 << 20
    read = pajson.ReadOptions(use_threads=not whole, block_size=size)
    return pajson.read_json(pa.BufferReader(pa.py_buffer(block)), read_options=read, parse_options=options)


def _reason(raw: bytes) -> str:
    try:
        json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return NOT_UTF8
    except json.JSONDecodeError:
        return INVALID_JSON
    return WRONG_TYPE


def _joined(numbered: list[tuple[int, bytes]]) -> bytes:
    return b"\n".join(raw for _, raw in numbered) + b"\n"


def _rescue_piece(
    numbered: list[tuple[int, bytes]], path: Path, options, skips: SkipCounter
) -> list[tuple[pa.Table, list[int]]]:
    """Tables of a piece's good lines, each with its rows' line numbers. Arrow names the first bad row: the lines
    before it are good (parsed as they are), the bad one is counted and skipped, and the rest is parsed again."""
    parts: list[tuple[pa.Table, list[int]]] = []
    while numbered:
        try:
            parts.append((parse_block(_joined(numbered), options, whole=True), [line for line, _ in numbered]))
            break
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            match = _ROW.search(str(exc))
            row = min(int(match.group(1)) if match else 0, len(numbered) - 1)
            if row:
                good = numbered[:row]
                try:
                    parts.append((parse_block(_joined(good), options, whole=True), [line for line, _ in good]))
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # the row was not where Arrow said: one at a time
                    row = 0
            line, raw = numbered[row]
            skips.skip(_reason(raw), f"{path}: line {line}: {str(exc)[:160]}")
            numbered = numbered[row + 1 :]
    return parts


def rescue(block: bytes, first_line: int, path: Path, options, skips: SkipCounter) -> tuple[list[pa.Table], list[int]]:
    """Tables of the good lines of a block Arrow rejected, and their rows' line numbers: re-read in pieces of about
    1 MiB, and a piece that fails line by line in PIECE_LINES lines, so that each bad line costs the re-parse of one
    small piece."""
    tables: list[pa.Table] = []
    lines: list[int] = []
    at, line = 0, first_line
    while at < len(block):
        cut = block.find(b"\n", min(at + (1 << 20), len(block) - 1))
        end = len(block) if cut < 0 else cut + 1
        piece = block[at:end]
        numbered = [(line + i, raw) for i, raw in enumerate(piece.split(b"\n")) if raw.strip()]
        try:
            tables.append(parse_block(piece, options, whole=True))
            lines.extend(number for number, _ in numbered)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            for first in range(0, len(numbered), PIECE_LINES):
                for table, numbers in _rescue_piece(numbered[first : first + PIECE_LINES], path, options, skips):
                    tables.append(table)
                    lines.extend(numbers)
        line += piece.count(b"\n")
        at = end
    return tables, lines


def _span(ends: np.ndarray, index: int) -> tuple[int, int]:
    """Where line ``index`` of a block starts and ends (its newline excluded), from the block's newline offsets."""
    return (int(ends[index - 1]) + 1 if index else 0), int(ends[index])


def blank_unfinished(block: memoryview, first_line: int, path: Path, skips: SkipCounter) -> np.ndarray:
    """Blank (in place) the lines that cannot be a whole JSON object and count them; which of the block's lines hold
    an object (one flag a line; a blank line holds none). A line not ending in ``}`` (a truncated line, the
    commonest damage) is one; one vectorised scan finds the few line ends not preceded by ``}``, so a clean block
    costs next to nothing."""
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)  # one pass over the block; then only the line ends are looked at
    before = ends - 1
    objects = (before >= 0) & (raw[np.maximum(before, 0)] == 125)
    for index in np.flatnonzero(~objects).tolist():
        start, end = _span(ends, index)
        line = bytes(block[start:end])
        if not line.strip():
            continue
        if line.rstrip().endswith(b"}"):  # a CRLF ending, or blanks after the object
            objects[index] = True
            continue
        skips.skip(_reason(line), f"{path}: line {first_line + index}: does not end with }}: {line[-40:]!r}")
        raw[start:end] = 32  # spaces: a blank line, which Arrow skips
    return objects


def blank_not_utf8(block: memoryview, objects: np.ndarray, first_line: int, path: Path, skips: SkipCounter) -> None:
    """Blank (in place) and count the lines of a block that failed ``utf8_valid`` which are not UTF-8 (a byte
    anywhere in the line, read field or not: the line is not JSON text). Only lines with a byte above 0x7F are
    decoded."""
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    for index in np.unique(np.searchsorted(ends, np.flatnonzero(raw > 127))).tolist():
        start, end = _span(ends, index)
        try:
            bytes(block[start:end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            skips.skip(NOT_UTF8, f"{path}: line {first_line + index}: not UTF-8: {exc}")
            raw[start:end] = 32
            objects[index] = False


def blank_several(block: memoryview, objects: np.ndarray, first_line: int, path: Path, skips: SkipCounter) -> None:
    """Blank (in place) and count the lines that hold more than one JSON value (``{...}{...}``): Arrow's reader
    takes each value as a record, but a JSON Lines line holds one. Only a line where a ``}`` meets a ``{`` can be
    one (Arrow refuses any other second value); each such line is checked by ``json.loads`` (a ``}{`` inside a
    string is no second value)."""
    data = bytes(block)
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    candidates = np.searchsorted(ends, [match.start() for match in _SEVERAL.finditer(data)])
    for index in np.unique(candidates).astype(np.int64).tolist():
        if not objects[index]:
            continue
        start, end = _span(ends, index)
        try:
            json.loads(data[start:end])
        except ValueError as exc:
            skips.skip(INVALID_JSON, f"{path}: line {first_line + index}: {exc}")
            raw[start:end] = 32
            objects[index] = False
