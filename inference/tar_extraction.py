"""Reading a model archive safely: which members may be extracted, how much, and the manifest an extraction
carries (the rules are in inference/artefact.py's docstring, which caches and verifies what this writes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from mlops_errors import MlopsError

MANIFEST = ".mlops-manifest.json"
FORMAT = "mlops-extraction/v1"
MIB = 1 << 20
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class ModelLoadError(MlopsError, RuntimeError):
    """The archive or its handler cannot be loaded; the message names the file and what was expected."""


class ArtefactError(ModelLoadError):
    """The model archive cannot be extracted safely; the message names the archive, the member and the rule."""


@dataclass(frozen=True)
class ExtractionLimits:
    """Caps on one extraction: total bytes of the files and number of members (directories included)."""

    max_bytes: int = 2048 * MIB
    max_members: int = 10_000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_members"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ExtractionLimits.{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = ExtractionLimits()


def file_sha256(path: Path) -> str:
    """sha256 of a file, hex."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            sha.update(block)
    return sha.hexdigest()


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a fifo"
    return f"of tar type {member.type!r}"


def _checked_member(member: tarfile.TarInfo, archive: Path, staging: Path) -> tuple[str, int] | None:
    """The member's normalised relative name and mode, or None for the archive's root entry; refuses the rest."""
    name = member.name
    where = f"{archive}: member {name!r}"
    if name.startswith(("/", "\\")):
        raise ArtefactError(f"{where} has an absolute name: it points outside the model directory")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArtefactError(f"{where} points outside the model directory ('..'); names must stay inside it")
    if not (member.isreg() or member.isdir()):
        raise ArtefactError(f"{where} is {_kind(member)}: refused, a model archive holds only files and directories")
    if not parts:
        return None
    relative = "/".join(parts)
    if relative == MANIFEST:
        raise ArtefactError(f"{where} is reserved: that name is the extraction's manifest")
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is not None:  # the standard library's rules as well, where this Python has them
        try:
            data_filter(member, str(staging))
        except tarfile.FilterError as exc:
            raise ArtefactError(f"{where} is refused by tarfile's data filter: {exc}") from exc
    mode = 0o755 if member.isdir() or member.mode & stat.S_IXUSR else 0o644
    return relative, mode


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, mode: int, where: str) -> dict:
    """Write one regular member (never through an existing name or link); its manifest entry."""
    source = tar.extractfile(member)
    if source is None:
        raise ArtefactError(f"{where} has no data")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o600)
    except FileExistsError as exc:
        raise ArtefactError(f"{where} appears twice in the archive (or also as a directory)") from exc
    sha, size = hashlib.sha256(), 0
    with os.fdopen(fd, "wb") as out:
        for block in iter(lambda: source.read(MIB), b""):
            sha.update(block)
            out.write(block)
            size += len(block)
        os.fchmod(out.fileno(), mode)
    if size != member.size:
        raise ArtefactError(f"{where} declares {member.size} bytes but holds {size}")
    return {"sha256": sha.hexdigest(), "mode": f"{mode:04o}", "size": size}


def extract_into(archive: Path, staging: Path, digest: str, limits: ExtractionLimits) -> None:
    """Extract ``archive`` (sha256 ``digest``) into the new directory ``staging`` and write its manifest there;
    ArtefactError naming the member and the rule it breaks."""
    files: dict[str, dict] = {}
    total = count = 0
    staging.mkdir(mode=0o755)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                count += 1
                where = f"{archive}: member {member.name!r}"
                if count > limits.max_members:
                    raise ArtefactError(
                        f"{where} is member number {count}, over the limit of {limits.max_members} members "
                        "(serving.max_model_files)"
                    )
                checked = _checked_member(member, archive, staging)
                if checked is None:
                    continue
                relative, mode = checked
                path = staging / relative
                if member.isdir():
                    if path.exists() and not path.is_dir():
                        raise ArtefactError(f"{where} is a directory and also a file in the archive")
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                total += member.size
                if total > limits.max_bytes:
                    raise ArtefactError(
                        f"{where} ({member.size} bytes) takes the extracted size to {total} bytes, over the limit "
                        f"of {limits.max_bytes} bytes (serving.max_model_mib = {limits.max_bytes / MIB:g})"
                    )
                files[relative] = _write(tar, member, path, mode, where)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArtefactError(f"{archive}: not a readable model.tar.gz ({type(exc).__name__}: {exc})") from exc
    except OSError as exc:
        raise ArtefactError(f"{archive}: extracting into {staging} failed: {exc}") from exc
    for directory, _, _ in os.walk(staging):  # explicit and implied directories alike
        os.chmod(directory, 0o755)
    manifest = {"format": FORMAT, "archive": str(archive), "archive_sha256": digest, "files": files}
    path = staging / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(path, 0o644)
