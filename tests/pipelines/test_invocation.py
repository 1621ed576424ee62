"""Follow-on commands the CLI prints work as typed in a new shell, where the virtualenv is not activated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.invocation import as_typed, command, program

MLOPS = Path(sys.executable).parent / "mlops"  # the console script `pip install -e .` put beside this interpreter
NEW_SHELL_PATH = "/usr/local/bin:/usr/bin:/bin"  # a login shell's PATH: no virtualenv on it


def _printed_in_new_shell(cwd: Path, argv0: str, path: str = NEW_SHELL_PATH) -> str:
    """What ``command("--help")`` prints when ``mlops`` was started as ``argv0`` from ``cwd``."""
    code = f"import sys; sys.argv[0] = {argv0!r}; from pipelines.invocation import command; print(command('--help'))"
    env = {**os.environ, "PATH": path}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _runs_in_new_shell(line: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": NEW_SHELL_PATH}
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_printed_command_runs_in_a_new_shell_without_the_virtualenv_on_path(tmp_path):
    relative = os.path.relpath(MLOPS, tmp_path)
    printed = _printed_in_new_shell(tmp_path, relative)
    assert printed == f"{relative if relative.startswith('.') else './' + relative} --help"
    done = _runs_in_new_shell(printed, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: mlops" in done.stdout


def test_bare_mlops_only_when_it_is_the_program_on_path(tmp_path):
    assert _printed_in_new_shell(tmp_path, str(MLOPS), path=f"{MLOPS.parent}:{NEW_SHELL_PATH}") == "mlops --help"
    assert _printed_in_new_shell(tmp_path, str(MLOPS)).endswith("/mlops --help")


def test_called_from_python_the_module_form_is_printed_and_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert program("/somewhere/pytest").endswith(" -m pipelines.cli")
    line = command("--help")
    done = _runs_in_new_shell(line, Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "usage: mlops" in done.stdout


def test_suggested_commands_in_messages_are_rewritten_as_typed(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [str(MLOPS)])
    monkeypatch.setenv("PATH", NEW_SHELL_PATH)
    start = program()
    assert start.endswith("/mlops") and start != "mlops"
    message = "none approved (mlops models approve abalone/2 --note '...'); the mlops.yaml file; run `mlops deploy`"
    assert as_typed(message) == (
        f"none approved ({start} models approve abalone/2 --note '...'); the mlops.yaml file; run `{start} deploy`"
    )
    monkeypatch.setenv("PATH", f"{MLOPS.parent}:{NEW_SHELL_PATH}")
    assert as_typed(message) == message
