"""JSON Lines files read by Arrow into tables of the fields asked for, a bad line skipped and counted, never fatal.

Each block of whole lines (BLOCK_BYTES) is read into a buffer of its own and parsed by Arrow's JSON reader straight
from it (no copy) with an explicit schema (other fields are ignored), on all cores. A line holds one JSON object and
is UTF-8 text. Bad lines are found in steps, so that they cost little on a clean block:
- one vectorised scan finds the lines that do not end with ``}`` (a truncated line, the commonest damage: a writer
  killed mid-line); they are counted and blanked in place (Arrow skips blank lines), so line numbers stay exact;
- one pass of Arrow's UTF-8 validation over the block (Arrow's JSON reader does not check UTF-8: a bad byte in a
  string would reach a later kernel and fail it, naming no line); only a block that fails it is looked at line by
  line, and its bad lines are counted and blanked;
- Arrow's reader takes ``{...}{...}`` on one line as two records: a block that gives more rows than it has lines
  ending in ``}`` is searched for such lines, which are counted and blanked (a count: free on a clean block);
- if Arrow still rejects the block, it is re-read in pieces of about 1 MiB; in a piece that fails, Arrow names the
  failing row, the lines before it are parsed, the bad one is counted and the rest parsed again (PIECE_LINES lines
  at a time).
Reasons: ``invalid_json``, ``not_utf8``, or ``wrong_type`` (valid JSON whose field has another type). Line numbers
in the examples count from 1 in the file as it is; ``read_jsonl_lines`` gives the line of every row, so that a
record skipped later (a bad prediction, bad base64) is named by its line too.
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
_SEVERAL = re.compile(rb"\}[ \t\r]*\{")  # where a line can hold a second object


class SkipCounter:
    """Skipped lines by reason, with the first example (file and line number) of each reason."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.examples: dict[str, str] = {}

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        if count:
            self.counts[reason] += count
            self.examples.setdefault(reason, where)

    def skip_rows(
        self, reason: str, count: int, path: object, what: str, lines: np.ndarray | None = None, mask=None
    ) -> None:
        """``skip`` of ``count`` records of a table; the example, ``<path>: line N: <what>``, names the line of the
        first row where ``mask`` (Arrow or numpy booleans) is true (``lines``: each row's line number, as
        ``read_jsonl_lines`` gives them). The line is looked for only for a reason's first example."""
        if not count:
            return
        self.counts[reason] += count
        if reason not in self.examples:
            self.examples[reason] = f"{path}{line_of(lines, mask)}: {what}"

    def add(self, other: SkipCounter) -> None:
        """Add another counter's counts (read later: this one's examples come first)."""
        self.counts.update(other.counts)
        for reason, where in other.examples.items():
            self.examples.setdefault(reason, where)


def line_of(lines: np.ndarray | None, mask) -> str:
    """``": line N"`` for the first row where ``mask`` (Arrow or numpy booleans, nulls false) is true, ``lines``
    holding each row's line number; ``""`` when there is no such row or the lines are not known."""
    import pyarrow.compute as pc

    if lines is None or mask is None:
        return ""
    if not isinstance(mask, np.ndarray):
        mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    hits = np.flatnonzero(np.asarray(mask, dtype=bool))
    if not len(hits) or len(mask) != len(lines):
        return ""
    return f": line {int(lines[hits[0]])}"


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


def utf8_valid(block: bytes | memoryview) -> bool:
    """Whether a block of lines is UTF-8 text. Arrow's JSON reader does not check: a byte such as 0xE9 inside a
    string value is kept, and breaks a later kernel (a hash, a cast) with an error that names no line. One pass of
    Arrow's UTF-8 validation over the block seen as one string, not copied (about 0.1 ms a MiB of ASCII)."""
    offsets = pa.py_buffer(np.array([0, len(block)], dtype=np.int64))
    text = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(block))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


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
            parts.append((_parse(_joined(numbered), options, whole=True), [line for line, _ in numbered]))
            break
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            match = _ROW.search(str(exc))
            row = min(int(match.group(1)) if match else 0, len(numbered) - 1)
            if row:
                good = numbered[:row]
                try:
                    parts.append((_parse(_joined(good), options, whole=True), [line for line, _ in good]))
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # the row was not where Arrow said: one at a time
                    row = 0
            line, raw = numbered[row]
            skips.skip(_reason(raw), f"{path}: line {line}: {str(exc)[:160]}")
            numbered = numbered[row + 1 :]
    return parts


def _rescue(block: bytes, first_line: int, path: Path, options, skips: SkipCounter) -> tuple[list[pa.Table], list[int]]:
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
            tables.append(_parse(piece, options, whole=True))
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


def _blank_unfinished(block: memoryview, first_line: int, path: Path, skips: SkipCounter) -> np.ndarray:
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


def _blank_not_utf8(block: memoryview, objects: np.ndarray, first_line: int, path: Path, skips: SkipCounter) -> None:
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


def _blank_several(block: memoryview, objects: np.ndarray, first_line: int, path: Path, skips: SkipCounter) -> None:
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


def _read_block(
    block: memoryview, objects: np.ndarray, first_line: int, path: Path, options, threads: bool, skips: SkipCounter
) -> tuple[pa.Table | None, np.ndarray]:
    """A block's table and its rows' line numbers. Arrow's parse of the block; when it gives more rows than the
    block has object lines, the lines of several values are blanked and it is parsed again; when Arrow rejects it,
    the rescue."""
    try:
        table = _parse(block, options, whole=not threads)
        if table.num_rows != np.count_nonzero(objects):
            _blank_several(block, objects, first_line, path, skips)
            table = _parse(block, options, whole=not threads)
        if table.num_rows == np.count_nonzero(objects):
            return table, first_line + np.flatnonzero(objects)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        _blank_several(block, objects, first_line, path, skips)
    tables, lines = _rescue(bytes(block), first_line, path, options, skips)
    if not tables:
        return None, np.empty(0, dtype=np.int64)
    return (pa.concat_tables(tables) if len(tables) > 1 else tables[0]), np.asarray(lines, dtype=np.int64)


def read_jsonl_lines(
    path: Path, schema: pa.Schema, skips: SkipCounter, block_bytes: int = BLOCK_BYTES, threads: bool = True
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """``read_jsonl``'s tables, each with the file line number (from 1) of each of its rows."""
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    first_line = 1
    for block in _own_blocks(path, block_bytes):
        objects = _blank_unfinished(block, first_line, path, skips)
        if not utf8_valid(block):
            _blank_not_utf8(block, objects, first_line, path, skips)
        table, lines = _read_block(block, objects, first_line, path, options, threads, skips)
        first_line += len(objects)
        if table is not None and table.num_rows:
            yield table, lines


def read_jsonl(
    path: Path, schema: pa.Schema, skips: SkipCounter, block_bytes: int = BLOCK_BYTES, threads: bool = True
) -> Iterator[pa.Table]:
    """Tables (with ``schema``'s fields) of the well-formed lines of a JSON Lines file; bad lines counted in
    ``skips``. Blank lines are ignored; a missing field is null. ``threads``: each block parsed on all cores; without,
    on the calling thread, as one chunk (for files read side by side, one a thread: about 10% less time here than
    nesting Arrow's threads in each, and one chunk a table for what follows)."""
    for table, _ in read_jsonl_lines(path, schema, skips, block_bytes, threads):
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
