"""A virtualenv with the pinned checkov, built once per pin and interpreter under a file lock, outside the repository.

checkov pins its own boto3, botocore and friends, which cannot share the project's environment, so it gets a
virtualenv of its own under ``$XDG_CACHE_HOME`` (default ``~/.cache``)``/sagemaker-mlops-loop/checkov-<key>``, where
the key hashes the pin and the interpreter's version: a new pin builds a new environment, an unchanged one is reused
between runs. The environment counts as built only once its ``.complete`` marker (written last, naming the pin)
exists, so an interrupted build is rebuilt, never used; concurrent test runs wait for each other on the lock.
(It is built in place: a virtualenv's scripts name their interpreter by absolute path, so it cannot be moved.)
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

CHECKOV_PIN = "checkov==3.3.30"
INSTALL_TIMEOUT_SECONDS = 900


def cache_root() -> Path:
    """Where the environments live: outside the repository, per user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sagemaker-mlops-loop"


def environment_key(pin: str = CHECKOV_PIN) -> str:
    """What the environment depends on: the pin and the interpreter that builds it."""
    return hashlib.sha256(f"{pin}\n{sys.version_info[:3]}".encode()).hexdigest()[:16]


def checkov_executable(pin: str = CHECKOV_PIN, root: Path | None = None) -> Path:
    """The ``checkov`` program of the pinned environment, building the environment first if needed."""
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"checkov-{environment_key(pin)}"
    program = target / "bin" / "checkov"
    with open(root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        marker = target / ".complete"
        if not (marker.exists() and marker.read_text(encoding="utf-8").strip() == pin):
            _build(pin, target)
    return program


def _build(pin: str, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    log = target.with_name(target.name + ".log")
    steps = (
        [sys.executable, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", pin],
    )
    with open(log, "w", encoding="utf-8") as out:
        for step in steps:
            try:
                done = subprocess.run(
                    step, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_SECONDS, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"building the checkov environment timed out: {' '.join(step)}; log: {log}") from exc
            if done.returncode != 0:
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(
                    f"could not build the checkov environment ({pin}) in {target}: {' '.join(step)} exited "
                    f"{done.returncode}. Last lines of {log}:\n{tail}"
                )
    (target / ".complete").write_text(pin + "\n", encoding="utf-8")
