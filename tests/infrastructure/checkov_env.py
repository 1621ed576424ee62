"""A virtualenv with the pinned checkov, built once per pin and interpreter under a file lock, outside the repository.

checkov pins its own boto3, botocore and friends, which cannot share the project's environment, so it gets a
virtualenv of its own under ``$XDG_CACHE_HOME`` (default ``~/.cache``)``/sagemaker-mlops-loop/checkov-<key>``, where
the key hashes the pin and the interpreter's version: a new pin builds a new environment, an unchanged one is reused
between runs. The environment counts as built only once its ``.complete`` marker (written last, naming the pin)
exists, so an interrupted build is rebuilt, never used; concurrent test runs wait for each other on the lock. The
lock, the atomic build and the marker are tests/cached_venv.py's, shared with the parity suite's environment.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path

from tests import cached_venv

CHECKOV_PIN = "checkov==3.3.30"
INSTALL_TIMEOUT_SECONDS = 900
MARKER = ".complete"


def cache_root() -> Path:
    """Where the environments live: outside the repository, per user."""
    return cached_venv.cache_base() / "sagemaker-mlops-loop"


def environment_key(pin: str = CHECKOV_PIN) -> str:
    """What the environment depends on: the pin and the interpreter that builds it."""
    return hashlib.sha256(f"{pin}\n{sys.version_info[:3]}".encode()).hexdigest()[:16]


def checkov_executable(pin: str = CHECKOV_PIN, root: Path | None = None) -> Path:
    """The ``checkov`` program of the pinned environment, building the environment first if needed."""
    target = (root or cache_root()) / f"checkov-{environment_key(pin)}"
    populate = functools.partial(_populate, pin)
    cached_venv.ensure_built(target, MARKER, lambda final: cached_venv.atomic_build(final, MARKER, populate))
    return target / "bin" / "checkov"


def _populate(pin: str, work: Path, log: Path) -> str:
    """A virtualenv in ``work`` with ``pin`` installed; the marker's text."""
    python = str(work / "bin" / "python")
    steps = (
        ([sys.executable, "-m", "venv", str(work)], "create the virtualenv"),
        ([python, "-m", "pip", "install", "--disable-pip-version-check", pin], f"install {pin}"),
    )
    for command, what in steps:
        cached_venv.run_logged(command, log, what, subject="checkov environment", timeout=INSTALL_TIMEOUT_SECONDS)
    return pin + "\n"
