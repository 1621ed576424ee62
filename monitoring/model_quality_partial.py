"""One host's part of a model-quality check across instances, and the file it travels in.

With ``analysis_stage=profile`` every host joins its shard of the capture (ShardedByS3Key: about 1/N of the
objects) with all the ground truth (FullyReplicated) and writes ``model_quality_partial-<current_host>.parquet``:
per-host names, so hosts never collide. The file is Parquet (pyarrow, in the processing image), one row per
in-window capture record with a prediction:

- matched rows (``matched`` true): ``key``, ``label``, ``prediction`` and, for binary, ``probability``; binary rows
  sorted by score (stable), so the merge stage's sort of the concatenated runs is a merge of sorted runs;
  regression rows in record order (files in listing order, lines in file order);
- unmatched rows (``matched`` false): the ``key`` only, so that the merge counts keys shared by records on
  different hosts (``duplicate_capture_keys``) as one host counts them.

The schema metadata (``mlops.model_quality_partial``) holds the host, the job's hosts, the join settings, the join's
counts (in the join's order) and the first example of each malformed reason. Floats are stored as float64: they
read back bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring.errors import AnalyzerInputError
from monitoring.labelled import LabelledPredictions
from monitoring.partial_profile import HOST_NAME, one_job

KIND = "mlops.model_quality_partial"
SCHEMA = 1
PREFIX = "model_quality_partial-"
SUFFIX = ".parquet"
_META = KIND.encode()


class ModelQualityPartialError(AnalyzerInputError):
    """A model-quality partial that cannot be read or does not fit with the others; the message names the file."""


@dataclass(frozen=True)
class ModelQualityPartial:
    """What one host's join found: its matched pairs, the keys of its unmatched predictions, its counts."""

    host: str
    hosts: tuple[str, ...]
    settings: dict  # problem_type, attributes, threshold, window: must be the same on every host
    pairs: LabelledPredictions
    unmatched_keys: np.ndarray  # object array of str
    counts: dict[str, int]
    examples: dict[str, str] = field(default_factory=dict)


def file_name(host: str) -> str:
    """The per-host file name of a model-quality partial."""
    if not HOST_NAME.match(host):
        raise ModelQualityPartialError(
            f"host name {host!r} cannot name a file: expected letters, digits, '.', '_', '-'"
        )
    return f"{PREFIX}{host}{SUFFIX}"


def _table(partial: ModelQualityPartial) -> pa.Table:
    pairs, unmatched = partial.pairs, len(partial.unmatched_keys)
    keys = np.concatenate([np.asarray(pairs.keys, dtype=object), np.asarray(partial.unmatched_keys, dtype=object)])
    absent = pa.nulls(unmatched, pa.float64())

    def column(values: np.ndarray | None) -> pa.Array:
        if values is None:
            return pa.nulls(len(keys), pa.float64())
        return pa.concat_arrays([pa.array(np.asarray(values, dtype=np.float64)), absent])

    meta = {
        "kind": KIND,
        "schema": SCHEMA,
        "host": partial.host,
        "hosts": list(partial.hosts),
        "settings": partial.settings,
        "counts": partial.counts,
        "examples": partial.examples,
    }
    table = pa.table(
        {
            "key": pa.array(keys, pa.string()),
            "label": column(pairs.labels),
            "prediction": column(pairs.predictions),
            "probability": column(pairs.probabilities),
            "matched": pa.array(np.arange(len(keys)) < len(pairs)),
        }
    )
    return table.replace_schema_metadata({_META: json.dumps(meta).encode()})


def write_partial(partial: ModelQualityPartial, output: Path) -> Path:
    """Write ``model_quality_partial-<host>.parquet`` into ``output`` atomically (a temporary name, then renamed)."""
    path = Path(output) / file_name(partial.host)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(_table(partial), tmp)
    tmp.replace(path)
    return path


def _from_table(table: pa.Table, source: str) -> ModelQualityPartial:
    raw = (table.schema.metadata or {}).get(_META)
    if raw is None:
        raise ModelQualityPartialError(f"{source}: not a model-quality partial (no {KIND} metadata)")
    meta = json.loads(raw)
    if not isinstance(meta, dict):
        raise ModelQualityPartialError(f"{source}: its {KIND} metadata must be a JSON object, got {meta!r}")
    if meta.get("kind") != KIND or meta.get("schema") != SCHEMA:
        raise ModelQualityPartialError(f"{source}: expected {KIND} schema {SCHEMA}, got {meta.get('schema')!r}")
    matched = np.asarray(table.column("matched").to_numpy(zero_copy_only=False), dtype=bool)
    count = int(matched.sum())
    if not matched[:count].all():
        raise ModelQualityPartialError(f"{source}: matched rows must come before the unmatched keys")
    keys = table.column("key").to_numpy(zero_copy_only=False)

    def floats(name: str) -> np.ndarray:
        return table.column(name).slice(0, count).to_numpy(zero_copy_only=False).astype(np.float64)

    probabilities = floats("probability") if meta["settings"]["problem_type"] == "binary" else None
    pairs = LabelledPredictions(keys[:count], floats("label"), floats("prediction"), probabilities)
    host, hosts = meta["host"], tuple(meta["hosts"])
    if host not in hosts:
        raise ValueError(f"host {host!r} is not one of the job's hosts {list(hosts)}")
    counts = {str(k): int(v) for k, v in meta["counts"].items()}
    return ModelQualityPartial(host, hosts, meta["settings"], pairs, keys[count:], counts, meta.get("examples", {}))


def read_partial(path: Path) -> ModelQualityPartial:
    """One host's partial; ModelQualityPartialError naming the file when it is not one."""
    try:
        table = pq.read_table(path)
        return _from_table(table, str(path))
    except ModelQualityPartialError:
        raise
    except (OSError, pa.ArrowException, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelQualityPartialError(
            f"{path}: cannot read the model-quality partial: {type(exc).__name__}: {exc}"
        ) from exc


def read_partials(directory: Path) -> list[ModelQualityPartial]:
    """Every ``model_quality_partial-*.parquet`` under ``directory`` (recursively), checked to be one complete job:
    the same hosts and settings in each, each host exactly once. Returned in the job's host order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelQualityPartialError(f"Model-quality partials directory not found: {directory}")
    paths = sorted(p for p in directory.rglob(f"{PREFIX}*{SUFFIX}") if p.is_file())
    if not paths:
        raise ModelQualityPartialError(f"No {PREFIX}<host>{SUFFIX} files under {directory}")
    partials = [read_partial(p) for p in paths]
    return one_job(partials, paths, directory, ModelQualityPartialError, "model-quality partial")
