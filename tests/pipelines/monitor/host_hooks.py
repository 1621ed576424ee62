"""A ``sitecustomize`` put first on PYTHONPATH, so that every analyzer host a test's check starts runs it first (the
hosts inherit the monitor's environment): how the tests see inside, or stall, a host process."""

from __future__ import annotations

import os
from pathlib import Path


def host_hook(tmp_path: Path, monkeypatch, code: str, env_name: str) -> Path:
    """Install ``code`` as the hosts' ``sitecustomize``; returns a new folder, named to the hosts by the environment
    variable ``env_name``, for what they record."""
    hook, records = tmp_path / "hook", tmp_path / env_name.lower()
    hook.mkdir()
    records.mkdir()
    (hook / "sitecustomize.py").write_text(code)
    rest = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", f"{hook}{os.pathsep}{rest}" if rest else str(hook))
    monkeypatch.setenv(env_name, str(records))
    return records
