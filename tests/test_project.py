"""Project-level promises: the README's two commands, and CI running the README's test command."""

from __future__ import annotations

import re

from tests.conftest import ROOT

SHARED_PATH = re.compile(r"""parents?\b[^\n]*/\s*["']shared["']|["']\.\./shared""")


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


def test_the_suite_reads_its_fixtures_from_the_repository():
    """Fresh clones run the tests without ../shared beside them: every fixture path lies inside the repository."""
    from tests import conftest

    for name in ("ABALONE", "REFERENCE", "QUALITY_BASELINE", "MONITOR_FIXTURES"):
        path = getattr(conftest, name).resolve()
        assert path.is_relative_to(ROOT), f"{name} = {path} lies outside the repository"
        assert path.exists(), f"{name} = {path} is missing"
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("*.py")
        if p.name != "test_project.py" and SHARED_PATH.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"tests that read ../shared: {offenders}"


def test_every_readme_command_starts_with_a_program_a_new_shell_finds():
    """After the first command a new shell has no virtualenv on PATH: commands name the console script by path."""
    blocks = re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]  # join continued lines
    programs = {line.split()[0] for line in lines if line.strip()}
    console_scripts = {".venv/bin/mlops", ".venv/bin/run-pipeline", ".venv/bin/get-pipeline-definition"}
    system = {"python3", "bash", "aws", "curl", "source", "cd"}
    unknown = programs - console_scripts - system
    assert not unknown, f"commands a new shell cannot find: {unknown}"
    for script in programs & console_scripts:
        assert script.rsplit("/", 1)[1] in (ROOT / "setup.py").read_text(), f"{script} is not a console script"
