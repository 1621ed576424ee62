"""Virtualenvs that tests need beside the project's own (checkov's, the parity suite's image pins): built once per
key into a cache outside the repository, under a file lock, atomically, and reused between runs.

``ensure_built`` takes the lock and builds only when the environment's marker file is missing (another run may
have finished the build while this one waited). ``atomic_build`` builds into ``<final>.tmp-<pid>`` with a log beside
it, writes the marker last, points the console scripts' shebangs at the final path and renames the directory into
place, so an interrupted or failed build leaves nothing that looks built. ``run_logged`` runs one build step into
the log and raises with the log's last lines when it fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

_ISOLATING = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")  # the test run's environment must not leak into pip's


def cache_base(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``: per user, outside the repository."""
    return Path(environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing), held for the block: concurrent runs wait here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_built(final: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """``final`` once ``final/marker`` exists: reused as it is, else ``build(final)`` under ``<final>.lock``."""
    if (final / marker).is_file():
        return final
    with locked(final.with_name(f"{final.name}.lock")):
        if not (final / marker).is_file():  # another run may have finished it while this one waited
            build(final)
    return final


def atomic_build(final: Path, marker: str, populate: Callable[[Path, Path], str]) -> None:
    """Build ``final`` beside it and rename it into place: ``populate(work, log)`` fills the work directory and
    returns the marker's text, written last. On any failure the work directory goes and the log stays."""
    work = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)  # a directory without its marker is an interrupted build's
    work.parent.mkdir(parents=True, exist_ok=True)
    log = work.with_name(f"{work.name}.log")
    log.unlink(missing_ok=True)
    try:
        text = populate(work, log)
        rewrite_shebangs(work / "bin", str(work), str(final))
        (work / marker).write_text(text, encoding="utf-8")
        os.rename(work, final)
        log.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def run_logged(
    command: list[str],
    log: Path,
    what: str,
    *,
    error: type[Exception] = RuntimeError,
    subject: str = "build",
    advice: str = "",
    timeout: float | None = None,
) -> None:
    """Run one build step, its output appended to ``log``; ``error`` saying ``<subject>: cannot <what>``, the log's
    path and last lines (and ``advice``) when it exits non-zero or outlives ``timeout`` seconds."""
    environ = {k: v for k, v in os.environ.items() if k not in _ISOLATING}
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        try:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, env=environ, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise error(f"{subject}: cannot {what}: timed out after {timeout} s; full log: {log}") from None
    if done.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        message = f"{subject}: cannot {what} (exit {done.returncode}); full log: {log}\n{tail}"
        raise error(message + (f"\n{advice}" if advice else ""))


def rewrite_shebangs(bin_dir: Path, old: str, new: str) -> None:
    """Console scripts name the virtualenv's path: point them at where the rename puts it."""
    if not bin_dir.is_dir():
        return
    for path in bin_dir.iterdir():
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if data.startswith(b"#!") and old.encode() in data.split(b"\n", 1)[0]:
            path.write_bytes(data.replace(old.encode(), new.encode(), 1))
