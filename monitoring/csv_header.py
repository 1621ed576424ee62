"""The head of a CSV file, sniffed from bounded text: the header line's column names, the field count of headerless
data, and the first records (for deciding whether the first line is a header).

Sniffing reads at most SNIFF_CHARS characters: a field longer than Python's csv limit (131072 characters) is data
like any other, and a quote left open at the top of a large file cannot pull the whole file into memory. The text is
UTF-8 with a leading BOM dropped; a header line names every column once (an empty or repeated name is refused: one
column would silently win), and a header name that is not UTF-8 is refused naming its column. The data below the
head is read by ``monitoring.csv_input``.
"""

from __future__ import annotations

import csv
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import IO

from monitoring.errors import AnalyzerInputError
from monitoring.sources import BLOCK_BYTES, check_names, echo

SNIFF_CHARS = BLOCK_BYTES
_FIELD_LIMIT = threading.Lock()
SURROGATE = re.compile("[\udc80-\udcff]")


@contextmanager
def field_limit(limit: int) -> Iterator[None]:
    """Lift Python's csv field limit (process-wide) to ``limit`` while sniffing bounded text, then restore it."""
    with _FIELD_LIMIT:
        previous = csv.field_size_limit(max(limit, csv.field_size_limit()))
        try:
            yield
        finally:
            csv.field_size_limit(previous)


def _text_lines(handle: IO[str], budget: int) -> Iterator[str]:
    """The handle's lines until ``budget`` characters are read (the last one cut there)."""
    while budget > 0:
        line = handle.readline(budget)
        if not line:
            return
        budget -= len(line)
        yield line


def _open_text(path: Path) -> IO[str]:
    """A CSV file as text: a leading UTF-8 BOM dropped (as Arrow drops it from the data), bytes that are not UTF-8
    kept as lone surrogates (never a number, and a header holding them can be refused by name)."""
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def first_records(path: Path, count: int, budget: int = SNIFF_CHARS) -> list[list[str]]:
    """The first ``count`` CSV records of a file, parsed from at most ``budget`` characters of its text."""
    with _open_text(path) as handle, field_limit(budget + 1):
        return list(islice(csv.reader(_text_lines(handle, budget)), count))


def header_names(path: Path) -> list[str]:
    """The column names of the header line (the first line: Arrow skips one line when it reads the data)."""
    with _open_text(path) as handle, field_limit(SNIFF_CHARS + 1):
        first = handle.readline(SNIFF_CHARS)
        row = next(csv.reader([first]), [])
    if not row:
        raise AnalyzerInputError(f"{path}: expected a header line, found an empty first line")
    names = [name.strip() for name in row]
    for position, name in enumerate(names, start=1):
        if SURROGATE.search(name):
            raw = name.encode("utf-8", "surrogateescape")
            raise AnalyzerInputError(f"{path}: line 1 (the header), column {position}: {echo(raw)} is not UTF-8 text")
    check_names(names, f"{path}: line 1 (the header)")
    return names


def csv_column_count(path: Path) -> int:
    """Most common field count among the first lines of a headerless CSV."""
    counts: dict[int, int] = {}
    for row in first_records(path, 1001):
        if row:
            counts[len(row)] = counts.get(len(row), 0) + 1
    return max(counts, key=counts.__getitem__) if counts else 0
