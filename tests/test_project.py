"""Project-level promises: the README's two commands, and CI running the README's test command."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())[:2]


def test_readme_starts_with_the_main_job_and_the_test_command():
    main_job, tests = readme_commands()
    assert main_job.endswith("mlops demo") and "pip install" in main_job
    assert tests.endswith("python -m pytest -q") and ".[test]" in tests


def test_ci_runs_the_readmes_test_command_verbatim():
    _, tests = readme_commands()
    run = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in run
