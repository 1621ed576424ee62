"""Ground truth at check time: the ground-truth files of a window (``ground_truth_files``) and their records read
back as columns (``read_ground_truth``), bad records counted rather than fatal.

The rest of the ground-truth side: a user's labels file is read and checked by ``ground_truth_labels`` (the rules
for one id and one label in ``ground_truth_label_rules``, the CSV and JSON Lines formats in
``ground_truth_label_formats``) and written as SageMaker's records, one new file an ingestion in the folder of its
UTC hour, by ``ground_truth_records``. The model-quality job reads those files here: chosen by hour folder and
ordered so that a later label replaces an earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.jsonl_tables import SkipCounter, parse_numbers, read_jsonl

MISSING_ID = "missing_id"
BAD_LABEL = "bad_label"
UNSUPPORTED_ENCODING = "unsupported_encoding"

_HOUR = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})$")
_GROUND_TRUTH_SCHEMA = pa.schema(
    [
        pa.field("groundTruthData", pa.struct([("data", pa.string()), ("encoding", pa.string())])),
        pa.field("eventMetadata", pa.struct([("eventId", pa.string())])),
    ]
)


def _hour(path: Path) -> datetime | None:
    match = _HOUR.search(path.parent.as_posix())
    if not match:
        return None
    year, month, day, hour = map(int, match.groups())
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def ground_truth_files(root: Path, start: datetime | None = None, end: datetime | None = None) -> list[Path]:
    """Ground-truth files under ``root`` in hour folders from the hour of ``start`` to ``end`` (inclusive), ordered
    by folder hour, then file name: the order in which a later label replaces an earlier one. Files outside the
    hourly layout come first (in name order) and are always kept."""
    root = Path(root)
    if root.is_file():
        return [root]
    first = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) if start else None
    chosen = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith(".") or path.suffix not in (".jsonl", ".json"):
            continue
        hour = _hour(path)
        if hour is not None and ((first and hour < first) or (end and hour > end)):
            continue
        chosen.append((hour or datetime.min.replace(tzinfo=timezone.utc), path.as_posix(), path))
    return [path for _, _, path in sorted(chosen)]


def read_ground_truth(
    files: Iterable[Path], skips: SkipCounter, threads: bool = True
) -> tuple[pa.ChunkedArray, np.ndarray, int]:
    """(ids, labels as float64, records read) of ground-truth files in the given order; bad records (invalid JSON,
    no event id, a label that is not a number, an encoding other than CSV) are counted in ``skips``. ``threads``:
    as ``read_jsonl``'s."""
    keys: list[pa.Array] = []
    labels: list[np.ndarray] = []
    records = 0
    for path in files:
        for table in read_jsonl(Path(path), _GROUND_TRUTH_SCHEMA, skips, threads=threads):
            records += table.num_rows
            data = pc.struct_field(table.column("groundTruthData"), "data")
            encoding = pc.utf8_upper(pc.struct_field(table.column("groundTruthData"), "encoding"))
            key = pc.struct_field(table.column("eventMetadata"), "eventId")
            has_key = pc.fill_null(pc.greater(pc.utf8_length(key), 0), False)
            csv_encoded = pc.fill_null(pc.equal(encoding, "CSV"), True)
            values, numeric = parse_numbers(data)
            skips.skip(MISSING_ID, f"{path}: a record without eventMetadata.eventId", _count(pc.invert(has_key)))
            unsupported = pc.and_(has_key, pc.invert(csv_encoded))
            skips.skip(UNSUPPORTED_ENCODING, f"{path}: groundTruthData.encoding other than CSV", _count(unsupported))
            bad = pc.and_(pc.and_(has_key, csv_encoded), pc.invert(numeric))
            skips.skip(BAD_LABEL, f"{path}: groundTruthData.data is not a number", _count(bad))
            keep = pc.and_(pc.and_(has_key, csv_encoded), numeric)
            keys.append(pc.filter(key, keep).combine_chunks())
            labels.append(pc.filter(values, keep).to_numpy(zero_copy_only=False))
    chunked = pa.chunked_array(keys, type=pa.string())
    return chunked, (np.concatenate(labels) if labels else np.empty(0)), records


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)
