"""The local object store: ``s3://bucket/key`` <-> ``<state dir>/s3/bucket/key``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.errors import InputError

DEFAULT_STATE_DIR = Path(".mlops")


def is_s3_uri(text: str) -> bool:
    return text.startswith("s3://")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI, with a clear error for anything else."""
    if not is_s3_uri(uri):
        raise InputError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InputError(f"S3 URI has no bucket: {uri!r}")
    return bucket, key


def local_path(location: str, state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """Where a local path or s3:// URI lives on this machine."""
    if not is_s3_uri(location):
        return Path(location)
    bucket, key = split_s3_uri(location)
    return Path(state_dir) / "s3" / bucket / key


def locator(state_dir: Path = DEFAULT_STATE_DIR) -> Callable[[str], Path]:
    """``local_path`` bound to one state directory: the path resolver the local endpoint is given."""
    return lambda location: local_path(location, state_dir)
