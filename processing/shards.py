"""How Preprocess cuts the train split and the baseline dataset into objects, so multi-instance jobs can shard them.

Container code (the SageMaker XGBoost image): standard library only. A ``ShardedByS3Key`` input gives each of N
hosts "about 1/N of the objects", so an input of one object leaves every host but one without data. Preprocess
writes ``SHARD_FILES`` objects per sharded output: twice the largest supported instance count, so that any count up
to ``MAX_INSTANCE_COUNT`` gives every host at least two objects and no host more than 1.5 times its even share
(ceil(F/N) / (F/N) <= 1.5 when F >= 2N).

The objects are contiguous chunks of the split's rows in their order (sizes differing by at most one row, the
larger first) under zero-padded names, so the files read in sorted name order and concatenated are the one-file
split byte for byte. With fewer rows than objects the last objects hold no rows.
"""

from __future__ import annotations

MAX_INSTANCE_COUNT = 8  # the largest ProcessingInstanceCount / TrainingInstanceCount the pipeline accepts
SHARD_FILES = 2 * MAX_INSTANCE_COUNT


def shard_names(stem: str, count: int = SHARD_FILES) -> list[str]:
    """``<stem>-00.csv`` .. ``<stem>-<count - 1>.csv``, zero-padded to one width so name order is row order."""
    width = len(str(count - 1))
    return [f"{stem}-{index:0{width}d}.csv" for index in range(count)]


def shard_bounds(rows: int, count: int = SHARD_FILES) -> list[tuple[int, int]]:
    """``count`` contiguous ``(start, stop)`` row ranges covering ``range(rows)`` in order; the first
    ``rows % count`` ranges hold one row more than the others (all empty ones come last)."""
    if count < 1 or rows < 0:
        raise ValueError(f"cannot cut {rows} row(s) into {count} shard(s)")
    size, extra = divmod(rows, count)
    bounds, start = [], 0
    for index in range(count):
        stop = start + size + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds
