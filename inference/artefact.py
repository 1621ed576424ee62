"""Model artefacts (``model.tar.gz``) extracted safely, cached by content and verified before reuse (the
extraction itself: inference/tar_extraction.py).

- **What may be extracted**: the semantics of tarfile's ``data`` filter (PEP 706), a little stricter. Regular
  files and directories only: links of either kind, devices and fifos are refused, as are absolute names and
  ``..``. Modes are normalised: directories and files the archive marks executable by their owner get 0755, other
  files 0644 (no setuid, setgid, sticky or world-writable bit survives); owners and groups in the archive are
  ignored (files belong to whoever extracts). Where tarfile has ``data_filter`` (3.12, 3.10.12+, 3.11.4+) every
  member passes it too, after this module's own checks, which are the same on every Python.
- **How much**: at most ``ExtractionLimits.max_bytes`` in total and ``max_members`` members; the member that
  crosses a limit is refused before it is written.
- **Where**: ``<models dir>/<sha256 prefix of the archive>/``, extracted into a hidden staging directory next to it
  and renamed into place (readers see nothing or a whole extraction). The extraction carries a manifest
  (``.mlops-manifest.json``: size, mode and sha256 of every file) and is verified against it before reuse; a
  partial, edited or re-moded extraction is logged and extracted again. The manifest guards against interrupted
  extractions and accidental edits, not against someone who can write the models directory (who could rewrite
  the manifest as well). Python's bytecode caches (``__pycache__``) are not part of an extraction: they are
  removed at verification and rebuilt from the verified sources on import.
- **Which extractions stay** (``prune_extractions``): those of the archives given to keep (the endpoint's live
  version and the one being switched to); every other extraction goes, and so do staging or replaced directories
  that interrupted extractions left behind more than an hour ago.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from inference.tar_extraction import (
    DEFAULT_LIMITS,
    FORMAT,
    MANIFEST,
    MIB,
    ArtefactError,
    ExtractionLimits,
    ModelLoadError,
    extract_into,
    file_sha256,
)

__all__ = [  # the extraction's errors, limits and names, used with the cache from here
    "DEFAULT_LIMITS",
    "MANIFEST",
    "MIB",
    "STALE_SECONDS",
    "ArtefactError",
    "ExtractionLimits",
    "ModelLoadError",
    "extract_archive",
    "extraction_dir",
    "prune_extractions",
    "verify_extraction",
]

logger = logging.getLogger(__name__)

STALE_SECONDS = 3600.0
_EXTRACTION = re.compile(r"^[0-9a-f]{16}$")
_LEFTOVER = re.compile(r"^\.[0-9a-f]{16}\.[0-9a-f]{8}\.(tmp|stale)$")


def verify_extraction(directory: Path, digest: str) -> str | None:
    """None when ``directory`` holds exactly what its manifest lists for the archive ``digest``; else what differs.

    Bytecode caches (``__pycache__``) the manifest does not list are removed: imports rebuild them from the
    verified sources.
    """
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {MANIFEST} (an interrupted or older extraction)"
    except (OSError, ValueError) as exc:
        return f"unreadable {MANIFEST} ({exc})"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if manifest.get("format") != FORMAT or manifest.get("archive_sha256") != digest or not isinstance(files, dict):
        return f"{MANIFEST} is not this archive's (format {FORMAT}, sha256 {digest})"
    seen = set()
    for root, dirs, names in os.walk(directory):
        here = Path(root)
        if here.name == "__pycache__":
            unlisted = [n for n in names if (here / n).relative_to(directory).as_posix() not in files]
            if len(unlisted) == len(names) and not dirs:
                shutil.rmtree(here, ignore_errors=True)
                continue
            for name in unlisted:
                (here / name).unlink(missing_ok=True)
            names = [n for n in names if n not in unlisted]
        mode = stat.S_IMODE(os.lstat(here).st_mode)
        if mode != 0o755 and here.name != "__pycache__":
            return f"directory {here.relative_to(directory).as_posix() or '.'} has mode {mode:04o}, not 0755"
        for name in names:
            path = here / name
            relative = path.relative_to(directory).as_posix()
            if relative == MANIFEST:
                continue
            info = os.lstat(path)
            expected = files.get(relative)
            if expected is None:
                return f"{relative} is not in the archive"
            if not stat.S_ISREG(info.st_mode):
                return f"{relative} is no longer a regular file"
            if f"{stat.S_IMODE(info.st_mode):04o}" != expected.get("mode") or info.st_size != expected.get("size"):
                return (
                    f"{relative} has mode {stat.S_IMODE(info.st_mode):04o} and {info.st_size} bytes, not as extracted"
                )
            if file_sha256(path) != expected.get("sha256"):
                return f"{relative} was modified after extraction (sha256 differs)"
            seen.add(relative)
    missing = sorted(set(files) - seen)
    return f"{missing[0]} is missing" if missing else None


def _remove(path: Path) -> None:
    """Remove a directory tree, making read-only directories writable first (an edited extraction may have any);
    a failure is logged, not raised (it must not hide the error that led here)."""

    def retry(function, name, *_) -> None:
        os.chmod(os.path.dirname(name), 0o755)
        function(name)

    handler: dict[str, Any] = {"onexc": retry} if sys.version_info >= (3, 12) else {"onerror": retry}
    try:
        shutil.rmtree(path, **handler)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("Could not remove %s: %s", path, exc)


def _install(staging: Path, target: Path, digest: str) -> None:
    """Rename ``staging`` to ``target``, replacing an extraction that failed verification; first complete one wins."""
    for _ in range(3):
        try:
            staging.rename(target)
            return
        except OSError:
            if verify_extraction(target, digest) is None:  # another process installed the same archive first
                _remove(staging)
                return
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.stale")
        try:
            target.rename(old)
        except FileNotFoundError:
            continue
        _remove(old)
    _remove(staging)
    raise ArtefactError(f"Could not install the extraction {target}: it keeps changing under this process")


def extraction_dir(archive: Path, models_dir: Path) -> Path:
    """Where ``archive`` is (or would be) extracted under ``models_dir``."""
    return Path(models_dir) / file_sha256(Path(archive))[:16]


def extract_archive(archive: Path, models_dir: Path, limits: ExtractionLimits | None = None) -> Path:
    """Extract ``model.tar.gz`` into ``models_dir/<sha256 prefix>`` unless a verified extraction is there already;
    returns the model directory. See the module docstring for what is refused and how modes are set."""
    archive = Path(archive)
    if not archive.is_file():
        raise ModelLoadError(f"Model archive not found: {archive}")
    digest = file_sha256(archive)
    target = Path(models_dir) / digest[:16]
    if target.exists():
        problem = verify_extraction(target, digest)
        if problem is None:
            return target
        logger.warning("Extraction %s of %s is not intact (%s): extracting it again", target, archive, problem)
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        extract_into(archive, staging, digest, limits or DEFAULT_LIMITS)
    except BaseException:
        _remove(staging)
        raise
    _install(staging, target, digest)
    logger.info("Extracted %s into %s", archive, target)
    return target


def prune_extractions(models_dir: Path, keep: Iterable[Path], now: float | None = None) -> list[Path]:
    """Remove every extraction in ``models_dir`` but those of the archives in ``keep``; returns what was removed.

    An extraction is kept when its name is the content prefix of a kept archive, or when its manifest names a kept
    archive's path (so an extraction still counts as kept when its archive has gone from the object store). Staging
    and replaced directories are removed once older than ``STALE_SECONDS`` (younger ones may be in use).
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    keep = [Path(path) for path in keep]
    names = {file_sha256(path)[:16] for path in keep if path.is_file()}
    paths = {str(path) for path in keep}
    now = time.time() if now is None else now
    removed = []
    for entry in sorted(models_dir.iterdir()):
        if _EXTRACTION.match(entry.name) and entry.is_dir() and entry.name not in names:
            try:
                recorded = json.loads((entry / MANIFEST).read_text(encoding="utf-8")).get("archive")
            except (OSError, ValueError, AttributeError):
                recorded = None
            if recorded in paths:
                continue
        elif not (_LEFTOVER.match(entry.name) and now - entry.stat().st_mtime > STALE_SECONDS):
            continue
        _remove(entry)
        removed.append(entry)
    if removed:
        logger.info("Removed %d old extraction(s) from %s: %s", len(removed), models_dir, [p.name for p in removed])
    return removed
