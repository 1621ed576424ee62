"""JSON Lines files read by Arrow into tables of the fields asked for, a bad line skipped and counted, never fatal.

Each block of whole lines (BLOCK_BYTES) is read into a buffer of its own and parsed by Arrow's JSON reader straight
from it (no copy) with an explicit schema (other fields are ignored), on all cores. Bad lines are found in two steps,
so that they cost little:
- one vectorised scan finds the lines that do not end with ``}`` (a truncated line, the commonest damage: a writer
  killed mid-line); they are counted and blanked in place (Arrow skips blank lines), so line numbers stay exact;
- if Arrow still rejects the block, it is re-read in pieces of about 1 MiB; in a piece that fails, Arrow names the
  failing row, the lines before it are parsed, the bad one is counted and the rest parsed again (PIECE_LINES lines
  at a time).
Reasons: ``invalid_json``, ``not_utf8``, or ``wrong_type`` (valid JSON whose field has another type). Line numbers
in the examples count from 1 in the file as it is.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

INVALID_JSON = "invalid_json"
NOT_UTF8 = "not_utf8"
WRONG_TYPE = "wrong_type"

BLOCK_BYTES = 8 << 20  # one Arrow parse (in 1 MiB chunks on all cores) per block of whole lines
PIECE_LINES = 500  # a rejected block is re-read in pieces of this many lines
_ROW = re.compile(r"in row (\d+)")


class SkipCounter:
    """Skipped lines by reason, with the first example (file and line number) of each reason."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.examples: dict[str, str] = {}

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        if count:
            self.counts[reason] += count
            self.examples.setdefault(reason, where)

    def add(self, other: SkipCounter) -> None:
        """Add another counter's counts (read later: this one's examples come first)."""
        self.counts.update(other.counts)
        for reason, where in other.examples.items():
            self.examples.setdefault(reason, where)


def line_blocks(path: Path, size: int) -> Iterator[bytes]:
    """Blocks of whole lines of a file, about ``size`` bytes each, the last one newline-terminated."""
    with open(path, "rb") as handle:
        rest = b""
        while True:
            data = handle.read(size)
            if not data:
                if rest.strip():
                    yield rest + b"\n"
                return
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            yield data[: cut + 1]
            rest = data[cut + 1 :]


def equal_block_size(file_size: int, size: int) -> int:
    """The buffer for a file read in blocks of about ``size`` bytes: the file cut in equal blocks (an 8.6 MB file is
    one block, not 8 MiB and a tail that costs a parse and a table of its own), with room for the line a cut
    carries over; a small file, a small buffer."""
    blocks = max(-(-file_size // max(size, 1)), 1)
    return max(min(-(-file_size // blocks) + (64 << 10), file_size + 1), 1)


def _own_blocks(path: Path, size: int) -> Iterator[memoryview]:
    """Blocks of whole lines of a file as ``line_blocks``, read into one writable buffer (not copied), so that bad
    lines can be blanked in place and Arrow can read the buffer as it is. The buffer is read into again for the next
    block: a block is valid until the next one is asked for (Arrow's tables copy what they keep)."""
    with open(path, "rb") as handle:
        buffer = bytearray(equal_block_size(os.fstat(handle.fileno()).st_size, size))
        rest = b""
        while True:
            if len(rest) >= len(buffer):  # a line longer than the buffer: a larger one
                buffer = bytearray(len(rest) + size)
            buffer[: len(rest)] = rest
            got = handle.readinto(memoryview(buffer)[len(rest) :])
            if not got:
                if rest.strip():
                    yield memoryview(bytearray(rest + b"\n"))
                return
            filled = len(rest) + got
            cut = buffer.rfind(b"\n", 0, filled)
            rest = bytes(buffer[cut + 1 : filled])
            if cut >= 0:
                yield memoryview(buffer)[: cut + 1]


def _parse(block: bytes | memoryview, options: pajson.ParseOptions, whole: bool = False) -> pa.Table:
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


def _rescue_piece(numbered: list[tuple[int, bytes]], path: Path, options, skips: SkipCounter) -> list[pa.Table]:
    """Tables of a piece's good lines. Arrow names the first bad row: the lines before it are good (parsed as they
    are), the bad one is counted and skipped, and the rest is parsed again."""
    tables: list[pa.Table] = []
    while numbered:
        try:
            tables.append(_parse(b"\n".join(raw for _, raw in numbered) + b"\n", options, whole=True))
            break
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            match = _ROW.search(str(exc))
            row = min(int(match.group(1)) if match else 0, len(numbered) - 1)
            if row:
                good = numbered[:row]
                try:
                    tables.append(_parse(b"\n".join(raw for _, raw in good) + b"\n", options, whole=True))
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # the row was not where Arrow said: one at a time
                    row = 0
            line, raw = numbered[row]
            skips.skip(_reason(raw), f"{path}: line {line}: {str(exc)[:160]}")
            numbered = numbered[row + 1 :]
    return tables


def _rescue(block: bytes, first_line: int, path: Path, options, skips: SkipCounter) -> list[pa.Table]:
    """Tables of the good lines of a block Arrow rejected: re-read in pieces of about 1 MiB, and a piece that fails
    line by line in PIECE_LINES lines, so that each bad line costs the re-parse of one small piece."""
    tables: list[pa.Table] = []
    at, line = 0, first_line
    while at < len(block):
        cut = block.find(b"\n", min(at + (1 << 20), len(block) - 1))
        end = len(block) if cut < 0 else cut + 1
        piece = block[at:end]
        try:
            tables.append(_parse(piece, options, whole=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            numbered = [(line + i, raw) for i, raw in enumerate(piece.split(b"\n")) if raw.strip()]
            for first in range(0, len(numbered), PIECE_LINES):
                tables.extend(_rescue_piece(numbered[first : first + PIECE_LINES], path, options, skips))
        line += piece.count(b"\n")
        at = end
    return tables


def _blank_unfinished(block: memoryview, first_line: int, path: Path, skips: SkipCounter) -> int:
    """Blank (in place) the lines that cannot be a whole JSON object and count them; the block's number of lines.
    A line not ending in ``}`` (a truncated line, the commonest damage) is one; one vectorised scan finds the few
    line ends not preceded by ``}``, so a clean block costs next to nothing."""
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)  # one pass over the block; then only the line ends are looked at
    before = ends - 1
    for index in np.flatnonzero((before < 0) | (raw[np.maximum(before, 0)] != 125)).tolist():
        start, end = (int(ends[index - 1]) + 1 if index else 0), int(ends[index])
        line = bytes(block[start:end])
        if not line.strip() or line.rstrip().endswith(b"}"):  # a blank line, or a CRLF ending
            continue
        skips.skip(_reason(line), f"{path}: line {first_line + index}: does not end with }}: {line[-40:]!r}")
        raw[start:end] = 32  # spaces: a blank line, which Arrow skips
    return len(ends)


def read_jsonl(
    path: Path, schema: pa.Schema, skips: SkipCounter, block_bytes: int = BLOCK_BYTES, threads: bool = True
) -> Iterator[pa.Table]:
    """Tables (with ``schema``'s fields) of the well-formed lines of a JSON Lines file; bad lines counted in
    ``skips``. Blank lines are ignored; a missing field is null. ``threads``: each block parsed on all cores; without,
    on the calling thread, as one chunk (for files read side by side, one a thread: about 10% less time here than
    nesting Arrow's threads in each, and one chunk a table for what follows)."""
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    first_line = 1
    for block in _own_blocks(path, block_bytes):
        block_first = first_line
        first_line += _blank_unfinished(block, first_line, path, skips)
        try:
            table = _parse(block, options, whole=not threads)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            tables = _rescue(bytes(block), block_first, path, options, skips)
            if not tables:
                continue
            table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if table.num_rows:
            yield table


_NUMBER = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"


def parse_numbers(texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(float64 values, whether each text is a finite decimal number) of a string array; nulls and anything that
    is not a plain number (``nan``, ``inf``, words, several lines) are not numbers and read as null. Arrow's cast
    reads the array at once; only an array with some text that is not a number is matched with a pattern."""
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim(texts, " \t\r\n")
    try:
        values = pc.cast(trimmed, pa.float64())
        ok = pc.fill_null(pc.is_finite(values), False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False)
        values = pc.cast(pc.if_else(ok, trimmed, pa.scalar("0")), pa.float64())
        ok = pc.and_(ok, pc.is_finite(values))
    return pc.if_else(ok, values, pa.scalar(None, pa.float64())), ok
