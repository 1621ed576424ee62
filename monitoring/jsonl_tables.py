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
The steps that find, count and blank bad lines, and the rescue, are in ``monitoring.jsonl_rescue``, with the
reasons: ``invalid_json``, ``not_utf8``, or ``wrong_type`` (valid JSON whose field has another type). Line numbers
in the examples count from 1 in the file as it is; ``read_jsonl_lines`` gives the line of every row, so that a
record skipped later (a bad prediction, bad base64) is named by its line too.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from monitoring.jsonl_rescue import blank_not_utf8, blank_several, blank_unfinished, parse_block, rescue

BLOCK_BYTES = 8 << 20  # one Arrow parse (in 1 MiB chunks on all cores) per block of whole lines


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


def _read_block(
    block: memoryview, objects: np.ndarray, first_line: int, path: Path, options, threads: bool, skips: SkipCounter
) -> tuple[pa.Table | None, np.ndarray]:
    """A block's table and its rows' line numbers. Arrow's parse of the block; when it gives more rows than the
    block has object lines, the lines of several values are blanked and it is parsed again; when Arrow rejects it,
    the rescue."""
    try:
        table = parse_block(block, options, whole=not threads)
        if table.num_rows != np.count_nonzero(objects):
            blank_several(block, objects, first_line, path, skips)
            table = parse_block(block, options, whole=not threads)
        if table.num_rows == np.count_nonzero(objects):
            return table, first_line + np.flatnonzero(objects)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        blank_several(block, objects, first_line, path, skips)
    tables, lines = rescue(bytes(block), first_line, path, options, skips)
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
        objects = blank_unfinished(block, first_line, path, skips)
        if not utf8_valid(block):
            blank_not_utf8(block, objects, first_line, path, skips)
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
