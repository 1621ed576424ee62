"""Moving data between the local object store and a job's ``/opt/ml`` directory."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_errors import MlopsError
from pipelines.atomic_files import replace_file
from pipelines.objectstore import local_path


class StepFailure(MlopsError, RuntimeError):
    """A step failed. ``kind`` is what SageMaker's retry policies match on (e.g. SageMaker.JOB_INTERNAL_ERROR)."""

    def __init__(self, message: str, kind: str = "AlgorithmError") -> None:
        super().__init__(message)
        self.kind = kind


class ObjectStore:
    """``s3://bucket/key`` <-> ``<state dir>/s3/bucket/key``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def path(self, uri: str) -> Path:
        return local_path(uri, self.state_dir)

    def download(self, uri: str, destination: Path, what: str) -> None:
        """Copy an object (into ``destination/<name>``) or a prefix (its tree into ``destination``)."""
        source = self.path(uri)
        destination.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            link_or_copy(source, destination / source.name)
        elif source.is_dir():
            for item in sorted(source.rglob("*")):
                if item.is_file():
                    target = destination / item.relative_to(source)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    link_or_copy(item, target)
        else:
            raise StepFailure(f"{what}: {uri} does not exist in the local object store ({source})", "ClientError")

    def objects(self, uri: str, what: str) -> list[tuple[str, Path]]:
        """The objects of an object or prefix ``uri`` in key order: (name relative to the prefix, local file)."""
        source = self.path(uri)
        if source.is_file():
            return [(source.name, source)]
        if source.is_dir():
            return [(p.relative_to(source).as_posix(), p) for p in sorted(source.rglob("*")) if p.is_file()]
        raise StepFailure(f"{what}: {uri} does not exist in the local object store ({source})", "ClientError")

    def upload(self, source: Path, uri: str) -> None:
        """Replace the prefix ``uri`` with the contents of ``source`` (a directory or one file)."""
        target = self.path(uri)
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        if source.is_dir():
            shutil.copytree(source, target)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:
            target.mkdir(parents=True, exist_ok=True)

    def put_bytes(self, uri: str, data: bytes) -> None:
        replace_file(self.path(uri), data)


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link of ``source`` at ``target`` (replaced), or a copy across file systems."""
    if target.exists():
        target.unlink()
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)
