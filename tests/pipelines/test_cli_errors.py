"""How ``mlops`` reports errors: a user error (``MlopsError``) in one line with exit 2, its traceback only with ``-v``;
anything else (a bug, such as a ValueError from numpy) with its traceback, never dressed up as a user mistake."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mlops_errors import MlopsError
from pipelines.cli import main
from pipelines.commands import models
from tests.conftest import ROOT

CONFIG = str(ROOT / "mlops.yaml")


def numpy_bug(args) -> int:
    """A command that hits a genuine bug: numpy refuses a reshape (ValueError: cannot reshape array ...)."""
    return int(np.arange(3).reshape(2).sum())


def test_a_user_error_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["models", "show", "abalone", "--state-dir", str(tmp_path), "--config", CONFIG]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops models show: error: ") and "expected GROUP/VERSION" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_verbose_shows_the_traceback_of_a_user_error_too(tmp_path, capsys):
    assert main(["-v", "models", "show", "abalone", "--state-dir", str(tmp_path), "--config", CONFIG]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RegistryError" in err
    assert err.strip().splitlines()[-1].startswith("mlops models show: error: ")  # the one line still ends it


def test_a_numpy_value_error_inside_a_command_propagates(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models, "_list", numpy_bug)
    with pytest.raises(ValueError, match="cannot reshape") as raised:
        main(["models", "list", "--state-dir", str(tmp_path), "--config", CONFIG])
    assert not isinstance(raised.value, MlopsError)
    assert "error:" not in capsys.readouterr().err  # not printed as if it were the user's mistake


def test_a_bug_shows_its_traceback_and_exits_1_from_the_command_line(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from pipelines.commands import models
        from tests.pipelines.test_cli_errors import numpy_bug
        models._list = numpy_bug
        from pipelines.cli import main
        sys.exit(main(["models", "list", "--state-dir", {str(tmp_path)!r}, "--config", {CONFIG!r}]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr and "in numpy_bug" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ValueError: cannot reshape")
    assert "mlops models list: error:" not in proc.stderr


def test_definition_checks_its_output_before_building(tmp_path, capsys, monkeypatch):
    """The build takes seconds: a folder or a missing directory as --output is named first, and nothing is built."""
    import pipelines.build

    monkeypatch.setattr(pipelines.build, "build_definition", lambda config: pytest.fail("built before the check"))
    for output, expected in (
        (tmp_path, f"--output {tmp_path}: is a directory"),
        (tmp_path / "missing" / "d.json", f"--output {tmp_path / 'missing' / 'd.json'}: no such directory"),
    ):
        assert main(["definition", "--config", CONFIG, "--output", str(output)]) == 2
        assert capsys.readouterr().err.startswith(f"mlops definition: error: {expected}")


def ctrl_c(args) -> int:
    """A command interrupted by Ctrl-C while it works (it has no handling of its own)."""
    raise KeyboardInterrupt


def test_ctrl_c_in_a_command_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models, "_list", ctrl_c)
    assert main(["models", "list", "--state-dir", str(tmp_path), "--config", CONFIG]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "mlops models list: interrupted" and "Traceback" not in err
