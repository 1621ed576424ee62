"""Type check of the product packages, run as CI runs it: ``python -m mypy`` with pyproject.toml's [tool.mypy]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_reports_no_errors_over_the_product_packages() -> None:
    """mypy in default mode (files, Python 3.10 target and per-module overrides from pyproject.toml) exits 0.

    mypy is in the test extras (``pip install -e '.[test]'``); without it this fails rather than skips.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    report = "\n".join(proc.stdout.splitlines() + proc.stderr.splitlines())
    assert proc.returncode == 0, f"mypy exit {proc.returncode}, {len(errors)} error(s):\n{report}"
