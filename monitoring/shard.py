"""A host's part in a multi-instance analysis job: its role from resourceconfig.json and the profile of its shard.

SageMaker writes ``/opt/ml/config/resourceconfig.json`` into every processing container: ``current_host``
(``algo-1`` .. ``algo-N``) and ``hosts``. The analysis stage (env ``analysis_stage``) follows from it:

- ``full`` (the default): profile the whole input and write the final outputs, as one job always did. On several
  hosts only the leader (the first of the sorted hosts) runs it, on its FullyReplicated copy of the input; the other
  hosts write nothing (stage ``idle``), so no two hosts write the same names. This keeps a job sized by
  ProcessingInstanceCount > 1 correct while the definition runs no merge job;
- ``profile`` (asked for): profile this host's shard (ShardedByS3Key: about 1/N of the objects) and write only
  ``partial_profile-<current_host>.json`` into the output, so hosts never write the same name;
- ``merge``: a one-instance job reads the partial profiles (env ``partial_profiles``, default
  /opt/ml/processing/input/partials) and writes statistics.json / constraints.json / constraint_violations.json.

``merge`` on several hosts is refused: every host would write the same files over one another. See
``monitoring.profile_merge`` for why the merge is a second job rather than a leader on the job's network, and
``monitoring.host_role`` for how a host finds its role and stage.
Model-quality checks use the same stages and roles (``monitoring.model_quality_entry``): the profile writes
``model_quality_partial-<current_host>.parquet`` (``monitoring.model_quality_profile``), the merge reads them
(``monitoring.model_quality_reduce``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from monitoring.analyzer import read_dataset
from monitoring.capture import capture_files
from monitoring.errors import AnalyzerFileNotFoundError
from monitoring.host_role import HostRole
from monitoring.partial_profile import PartialProfile, write_partial
from monitoring.profile import DatasetProfile
from monitoring.report import ReadReport
from monitoring.sources import Chunk, DatasetFormat, detect_format, list_files

log = logging.getLogger(__name__)
_SUFFIXES = {"csv": (".csv",), "json": (".jsonl", ".json"), "parquet": (".parquet", ".pq"), "capture": ()}


def shard_files(dataset: Path, fmt: DatasetFormat | None, start=None, end=None) -> list[tuple[Path, DatasetFormat]]:
    """This host's files, in the analyzer's listing order, each with the format to read it by. An existing but
    empty folder is an empty shard (a host may receive no object); a missing one is an error."""
    if not dataset.exists():
        raise AnalyzerFileNotFoundError(f"Dataset not found: {dataset}")
    if dataset.is_dir() and not list_files(dataset, (".csv", ".jsonl", ".json", ".parquet", ".pq")):
        return []
    kind = fmt.kind if fmt else detect_format(dataset)
    files = capture_files(dataset, start, end) if kind == "capture" else list_files(dataset, _SUFFIXES[kind])
    file_format = DatasetFormat(kind, fmt.header if fmt else None)
    return [(file, file_format) for file in files]


def profile_shard(
    dataset: Path,
    host: str = "algo-1",
    hosts: Sequence[str] = ("algo-1",),
    fmt: DatasetFormat | None = None,
    names: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    preprocessor: Callable | None = None,
) -> PartialProfile:
    """Profile the files of one shard into a partial profile, recording where each column first appears."""
    dataset = Path(dataset)
    partial = PartialProfile(host, tuple(hosts), DatasetProfile(), ReadReport())
    root = dataset if dataset.is_dir() else dataset.parent
    if not dataset.exists() and len(hosts) > 1:  # a host may get no object of a ShardedByS3Key input at all
        log.warning("host %s: no input at %s; its shard is empty", host, dataset)
        return partial
    files = shard_files(dataset, fmt, start, end)

    def chunks() -> Iterator[Chunk]:
        for file, file_format in files:
            key, row = file.relative_to(root).as_posix(), 0
            for chunk in read_dataset(file, file_format, partial.report, names, start, end, preprocessor):
                for name in chunk:
                    partial.origins.setdefault(name, (key, row))
                row += len(next(iter(chunk.values()))) if chunk else 0
                yield chunk

    partial.profile.add_all(chunks())
    return partial


def run_profile_stage(
    dataset: Path,
    output: Path,
    role: HostRole,
    fmt: DatasetFormat | None = None,
    names: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    preprocessor: Callable | None = None,
) -> tuple[int, str]:
    """The profile stage of one host: its partial profile written to ``output``; (exit code, exit message)."""
    partial = profile_shard(dataset, role.current_host, role.hosts, fmt, names, start, end, preprocessor)
    path = write_partial(partial, output)
    return 0, (
        f"Completed: Job completed successfully. Host {role.current_host} of {len(role.hosts)} profiled "
        f"{partial.profile.item_count} records into {path}; the merge stage writes the results."
    )
