"""SageMaker's ground-truth records written: the record format, the file key of one ingestion, and the file written
whole or not at all.

The records are SageMaker's (``tests/fixtures/model-monitor/monitor-fixtures/actuals.jsonl``)::

    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"}, "eventVersion": "0"}

written as one new file ``<prefix>/yyyy/mm/dd/hh/<mm-ss-micro>-<uuid>.jsonl`` for the UTC hour of ingestion (the
folder is when the labels were collected, not when the inferences were made, as Model Monitor expects).

The records of a labels file read as a stream (``ground_truth_labels.stream_labels``) are written in chunks
(``ground_truth_chunks``) to a hidden temporary file renamed into place only after the last line passed
(``write_whole``), so memory does not grow with the file; ``IdTally`` keeps a 64-bit hash of each distinct id to
count repeated ids.
"""

from __future__ import annotations

import json
import os
import uuid
from array import array
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from itertools import islice
from operator import itemgetter
from pathlib import Path

import numpy as np

CHUNK_LINES = 8192  # records formatted and written at a time


class IdTally:
    """How many labels went by, and how many repeat an earlier id, in memory proportional to the distinct ids: 64-bit
    hashes of the ids (8 bytes an id, not a Python object a line), sorted in place and cut down to the distinct ones
    whenever they double. Two different ids sharing a hash (odds about n²/2⁶⁵: 2e-7 for 3M ids) would count one
    repeat too many in a message, nothing else."""

    COMPACT_AT = 1 << 20  # hashes held before the first compaction

    def __init__(self) -> None:
        self.labels = 0
        self._hashes = array("q")
        self._distinct = 0  # of the hashes at the last compaction

    def add(self, keys: Iterable[str]) -> None:
        before = len(self._hashes)
        self._hashes.extend(map(hash, keys))
        self.labels += len(self._hashes) - before
        if len(self._hashes) >= max(2 * self._distinct, self.COMPACT_AT):
            self._compact()

    def _compact(self) -> None:
        view = np.frombuffer(self._hashes, dtype=np.int64)  # writable: the array's own buffer
        view.sort()
        first = np.ones(view.size, dtype=bool)
        np.not_equal(view[1:], view[:-1], out=first[1:])
        if first.all():  # no repeats (the usual case): no copy
            self._distinct = view.size
            return
        distinct = view[first]
        del view  # the array cannot be replaced while a view holds its buffer
        self._hashes = array("q")
        self._hashes.frombytes(distinct.view(np.uint8).data)
        self._distinct = len(self._hashes)

    def repeated(self) -> int:
        """Labels whose id came before (the later line wins)."""
        self._compact()
        return self.labels - self._distinct


def ground_truth_lines(labels: Iterable[tuple[str, str]]) -> bytes:
    """SageMaker ground-truth records, one a line, for (event or inference id, label text) pairs."""
    quote = json.encoder.encode_basestring
    return "".join(
        f'{{"groundTruthData":{{"data":{quote(label)},"encoding":"CSV"}},'
        f'"eventMetadata":{{"eventId":{quote(key)}}},"eventVersion":"0"}}\n'
        for key, label in labels
    ).encode("utf-8")


def ground_truth_chunks(
    labels: Iterable[tuple[str, str]], tally: IdTally | None = None, lines: int = CHUNK_LINES
) -> Iterator[bytes]:
    """``ground_truth_lines`` of ``lines`` pairs at a time (each pair's id added to ``tally``): a large labels file
    is written without its whole output, or all its pairs, in memory."""
    pairs = iter(labels)
    while batch := list(islice(pairs, lines)):
        if tally is not None:
            tally.add(map(itemgetter(0), batch))
        yield ground_truth_lines(batch)


def ground_truth_key(prefix: str, moment: datetime) -> str:
    """``<prefix>/yyyy/mm/dd/hh/<mm-ss-micro>-<uuid>.jsonl`` for the UTC hour of ``moment``: a name never reused."""
    moment = moment.astimezone(timezone.utc)
    return f"{prefix.rstrip('/')}/{moment:%Y/%m/%d/%H}/{moment:%M-%S-%f}-{uuid.uuid4().hex}.jsonl"


def write_whole(path: Path, body: bytes | Iterable[bytes]) -> Path:
    """Write a new file whole or not at all: a hidden temporary file beside it, written (chunk by chunk when the body
    is an iterable: an error while the chunks are made, such as a bad labels line, leaves nothing), flushed, then
    renamed. The folders it had to make are removed again when it fails, so a failure leaves no trace."""
    made = _missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_renamed(path, [body] if isinstance(body, bytes) else body)
    except BaseException:
        _remove_empty(made)
        raise
    return path


def _write_renamed(path: Path, chunks: Iterable[bytes]) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    handle = open(temporary, "xb")  # noqa: SIM115 - a name already taken fails here, before the finally owns it
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _missing_folders(folder: Path) -> list[Path]:
    """A folder and its parents that do not exist yet, deepest first: the ones a write will make."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders (deepest first) while they are empty: one another writer is using stays."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
