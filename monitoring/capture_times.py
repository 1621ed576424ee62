"""ISO-8601 times of data capture: a window's bounds (``parse_time``) and each record's
``eventMetadata.inferenceTime`` (``parse_times``, vectorised).

One reader of record times for both checks, the data-quality capture reader (``monitoring.capture``, its window)
and the model-quality join (``monitoring.model_quality_read``), so that a record is placed alike by both: ISO 8601
as SageMaker writes it (``2026-11-30T08:00:00.123Z``), an offset converted to UTC, no zone meaning UTC. A record
whose time is missing or is no time (``2026-13-45T08:00:00Z``) is counted as ``bad_inference_time`` (``BAD_TIME``)
by its reader, whatever the other times of its block.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BAD_TIME = "bad_inference_time"

_TIME = r"^\d{4}-\d\d-\d\d[T ]\d\d(:\d\d(:\d\d(\.\d{1,9})?)?)?(Z|[+-]\d\d(:?\d\d)?)?$"  # ISO 8601 as Arrow reads it
_ZONE = r"(Z|[+-]\d\d(:?\d\d)?)$"
_NANOS = r"(\.\d{6})\d+"  # digits past the microsecond
_UTC_MICROS = pa.timestamp("us", tz="UTC")
_PLACEHOLDER = pa.scalar("1970-01-01T00:00:00Z")


def parse_times(text: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | pa.ChunkedArray, pa.Array]:
    """(UTC timestamps in microseconds, whether each text is a time) of ISO-8601 texts, read as Arrow's cast reads
    them: ``YYYY-MM-DD``, ``T`` or a space, ``hh[:mm[:ss[.fraction]]]`` and a zone ``Z`` or ``±hh[[:]mm]``, which
    is converted to UTC (SageMaker writes ``2026-11-30T08:00:00.123Z``). No zone means UTC, and fraction digits past
    the microsecond are dropped. A date or time that does not exist (month 13, 30 February, 24:00, second 60, zone
    +99:00) is not a time; nor is null. The time of a bad text is a placeholder (1970), never null.

    Arrow's cast reads a clean array at once. Any other array is matched with a pattern, its naive and nanosecond
    texts rewritten, and cast in halves until the texts Arrow refuses are found (a few casts of shrinking halves a
    bad text): so a text reads alike whatever its neighbours, and a bad one costs little."""
    try:  # every time zoned and well formed: Arrow's cast reads them at once
        return pc.cast(text, _UTC_MICROS), pc.is_valid(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    shaped = pc.fill_null(pc.match_substring_regex(text, _TIME), False)
    text = pc.replace_substring_regex(pc.if_else(shaped, text, _PLACEHOLDER), _NANOS, r"\1")
    zoned = pc.match_substring_regex(text, _ZONE)
    text = pc.if_else(zoned, text, pc.binary_join_element_wise(text, pa.scalar("Z"), ""))
    ok = np.asarray(shaped.to_numpy(zero_copy_only=False), dtype=bool) & _castable(text)
    good = pa.array(ok)
    return pc.cast(pc.if_else(good, text, _PLACEHOLDER), _UTC_MICROS), good


def _castable(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which texts Arrow's cast reads as UTC microseconds: the whole array at once, else each half."""
    try:
        pc.cast(text, _UTC_MICROS)
        return np.ones(len(text), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(text) <= 1:
            return np.zeros(len(text), dtype=bool)
    half = len(text) // 2
    return np.concatenate([_castable(text.slice(0, half)), _castable(text.slice(half))])


def inference_times(meta: pa.ChunkedArray) -> tuple[pa.Array | pa.ChunkedArray, pa.Array]:
    """``parse_times`` of each record's ``inferenceTime``."""
    return parse_times(pc.struct_field(meta, "inferenceTime"))
