"""JSON Lines files read by Arrow into tables of the fields asked for, a bad line skipped and counted, never fatal.

Each block of whole lines is parsed by Arrow's JSON reader with an explicit schema (other fields are ignored). A
block Arrow rejects is re-read in small pieces; in a piece that fails, Arrow names the failing row, which is
counted (``invalid_json``, ``not_utf8``, or ``wrong_type`` for valid JSON whose field has another type) and cut
out, and the rest of the piece is parsed again. So a file with a few bad lines costs little more than a clean one.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson

INVALID_JSON = "invalid_json"
NOT_UTF8 = "not_utf8"
WRONG_TYPE = "wrong_type"

BLOCK_BYTES = 8 << 20  # one Arrow parse (multi-threaded) per block of whole lines
PIECE_BYTES = 64 << 10  # a rejected block is re-read in pieces of about this size
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


def _blocks(path: Path, size: int) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, block of whole lines) of a file."""
    line = 1
    with open(path, "rb") as handle:
        rest = b""
        while True:
            data = handle.read(size)
            if not data:
                if rest.strip():
                    yield line, rest + b"\n"
                return
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            yield line, data[: cut + 1]
            line += data.count(b"\n", 0, cut + 1)
            rest = data[cut + 1 :]


def _parse(block: bytes, options: pajson.ParseOptions) -> pa.Table:
    read = pajson.ReadOptions(use_threads=len(block) > PIECE_BYTES, block_size=max(len(block) + 1, 1 << 20))
    return pajson.read_json(io.BytesIO(block), read_options=read, parse_options=options)


def _reason(raw: bytes) -> str:
    try:
        json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return NOT_UTF8
    except json.JSONDecodeError:
        return INVALID_JSON
    return WRONG_TYPE


def _nonblank_lines(piece: bytes) -> list[bytes]:
    return [raw for raw in piece.split(b"\n") if raw.strip()]


def _rescue_piece(lines: list[bytes], first: int, path: Path, options, skips: SkipCounter) -> Iterator[pa.Table]:
    """Tables of a piece's good lines; each bad line (Arrow names its row) counted and cut out."""
    while lines:
        try:
            yield _parse(b"\n".join(lines) + b"\n", options)
            return
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            match = _ROW.search(str(exc))
            row = int(match.group(1)) if match else 0
            row = min(row, len(lines) - 1)
            if row:
                yield from _rescue_piece(lines[:row], first, path, options, skips)
            skips.skip(_reason(lines[row]), f"{path}: line near {first + row}: {str(exc)[:200]}")
            lines = lines[row + 1 :]
            first += row + 1


def _rescue(block: bytes, first_line: int, path: Path, options, skips: SkipCounter) -> Iterator[pa.Table]:
    position = 0
    line = first_line
    while position < len(block):
        cut = block.find(b"\n", min(position + PIECE_BYTES, len(block) - 1))
        end = len(block) if cut < 0 else cut + 1
        piece = block[position:end]
        lines = _nonblank_lines(piece)
        yield from _rescue_piece(lines, line, path, options, skips)
        line += piece.count(b"\n")
        position = end


def read_jsonl(path: Path, schema: pa.Schema, skips: SkipCounter, block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Table]:
    """Tables (with ``schema``'s fields) of the well-formed lines of a JSON Lines file; bad lines counted in
    ``skips``. Blank lines are ignored; a missing field is null."""
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    for first_line, block in _blocks(path, block_bytes):
        try:
            table = _parse(block, options)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            yield from _rescue(block, first_line, path, options, skips)
            continue
        if table.num_rows:
            yield table


_NUMBER = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"


def parse_numbers(texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(float64 values, whether each text is a finite decimal number) of a string array; nulls and anything that
    is not a plain number (``nan``, ``inf``, words) are not numbers and read as null."""
    import pyarrow.compute as pc

    ok = pc.fill_null(pc.match_substring_regex(texts, _NUMBER), False)
    values = pc.cast(pc.utf8_trim_whitespace(pc.if_else(ok, texts, pa.scalar("0"))), pa.float64())
    ok = pc.and_(ok, pc.is_finite(values))
    return pc.if_else(ok, values, pa.scalar(None, pa.float64())), ok
