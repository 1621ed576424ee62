"""What each host of a multi-instance job reads and what the job's outputs become.

Inputs: a ``FullyReplicated`` input is copied whole to every host; a ``ShardedByS3Key`` input gives each host a
share of its objects. SageMaker documents only "about 1/N of the objects" per host, not which: the local runner
assigns the objects in key order round-robin (object i to host i mod N, ``round-robin``, the default) or in
contiguous blocks (``contiguous``: the first ceil(n/N) objects to algo-1, ...), chosen by the environment variable
``MLOPS_LOCAL_SHARD_ASSIGNMENT`` of the runner. Both are approximations: results must not depend on the
assignment. A host may receive no object (fewer objects than hosts); its input directory is then empty.

Outputs: every host writes into its own ``/opt/ml/...`` output directories; the job's output prefix receives the
union of them. Two hosts writing the same name with different bytes is refused (on SageMaker the last upload would
silently win); the same name with the same bytes is kept once.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from pipelines.local.store import ObjectStore, StepFailure, link_or_copy

ASSIGNMENTS = ("round-robin", "contiguous")
ENV_ASSIGNMENT = "MLOPS_LOCAL_SHARD_ASSIGNMENT"
SHARDED = "ShardedByS3Key"
REPLICATED = "FullyReplicated"


def assignment(environ: dict[str, str] | None = None) -> str:
    """The object assignment of ShardedByS3Key inputs (``MLOPS_LOCAL_SHARD_ASSIGNMENT``, default round-robin)."""
    value = (environ if environ is not None else os.environ).get(ENV_ASSIGNMENT) or ASSIGNMENTS[0]
    if value not in ASSIGNMENTS:
        raise StepFailure(f"{ENV_ASSIGNMENT} must be one of {', '.join(ASSIGNMENTS)}, got {value!r}", "ClientError")
    return value


def shard(count: int, hosts: int, index: int, how: str) -> list[int]:
    """The positions (in key order) of the objects host ``index`` (0-based) of ``hosts`` receives."""
    if how == "contiguous":
        size = -(-count // hosts)
        return list(range(index * size, min(count, (index + 1) * size)))
    return list(range(index, count, hosts))


def distribution(kind: str | None, where: str) -> str:
    """A validated S3DataDistributionType (FullyReplicated when absent)."""
    value = kind or REPLICATED
    if value not in (REPLICATED, SHARDED):
        raise StepFailure(f"{where}: S3DataDistributionType must be {REPLICATED} or {SHARDED}, got {value!r}")
    return value


def download_share(
    store: ObjectStore, uri: str, destination: Path, what: str, kind: str, host: tuple[int, int], how: str
) -> int:
    """Copy host ``host = (index, count)``'s share of an input to ``destination``; returns the number of objects."""
    if kind == REPLICATED:
        store.download(uri, destination, what)
        return len(store.objects(uri, what))
    objects = store.objects(uri, what)
    destination.mkdir(parents=True, exist_ok=True)
    chosen = [objects[i] for i in shard(len(objects), host[1], host[0], how)]
    for relative, source in chosen:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(source, target)
    return len(chosen)


def merge_outputs(sources: list[tuple[str, Path]], target: Path, what: str) -> list[str]:
    """Merge the hosts' copies of one output (``(host, directory)``) into ``target``; returns notes for the log.

    StepFailure naming both hosts when two wrote the same name with different bytes."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    owner: dict[str, str] = {}
    notes = []
    for host, directory in sources:
        files = sorted(p for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else []
        for path in files:
            name = path.relative_to(directory).as_posix()
            merged = target / name
            if name in owner:
                if not filecmp.cmp(path, merged, shallow=False):
                    raise StepFailure(
                        f"{what}: hosts {owner[name]} and {host} both wrote {name} with different contents; "
                        "on several instances each host must write its own names (or only the leader writes)",
                        "ClientError",
                    )
                notes.append(f"{what}: {host} wrote the same bytes as {owner[name]} for {name}")
                continue
            owner[name] = host
            merged.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(path, merged)
    return notes
