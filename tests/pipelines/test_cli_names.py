"""Options that stand for configuration values (``--endpoint``, ``--state-dir``, ``--bucket``) are checked like the
configuration's ``serving.endpoint_name``, ``project.state_dir`` and ``sagemaker.bucket``: exit 2 with the option,
the value and what was expected, before anything is read, built or written (an abuse test's findings D2, D3, D9)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pipelines.cli import build_parser, main
from tests.conftest import ROOT

CONFIG = str(ROOT / "mlops.yaml")
ENDPOINT = "must be 1-63 letters, digits or hyphens (an endpoint name: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$), got "
BUCKET = "must be an S3 bucket name (3-63 lowercase letters, digits, dots or hyphens; a letter or digit first and last)"


def refused(argv: list[str], capsys) -> str:
    """The one error line argparse prints for ``mlops <argv>`` (exit 2)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("name", ["../../evil", "/tmp/x", "a b", "", "x-", "x" * 64, "a.b"])
@pytest.mark.parametrize("command", ["deploy", "serve"])
def test_a_bad_endpoint_name_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys, command, name):
    """``deploy --force --version 1 --endpoint ../../evil`` wrote the endpoint's state file and model outside the
    state directory; ``--endpoint ''`` silently meant the default."""
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    extra = ["--force", "--version", "1"] if command == "deploy" else ["--port", "0"]
    argv = [command, *extra, "--endpoint", name, "--config", CONFIG, "--state-dir", str(state)]
    assert refused(argv, capsys) == f"mlops {command}: error: argument --endpoint: {ENDPOINT}{name!r}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["deploy", "serve"])
def test_an_empty_state_dir_is_refused(tmp_path, monkeypatch, capsys, command):
    """``--state-dir ''`` was the current directory: state written into the source tree."""
    monkeypatch.chdir(tmp_path)
    line = refused([command, "--config", CONFIG, "--state-dir", ""], capsys)
    assert line == f"mlops {command}: error: argument --state-dir: must be a non-empty path, got ''"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["definition", "deploy"])
def test_a_bad_bucket_option_is_refused(tmp_path, capsys, command):
    """``mlops definition --bucket 'Bad_Bucket!'`` printed a definition holding s3://Bad_Bucket!/..."""
    output = tmp_path / "definition.json"
    extra = ["--output", str(output)] if command == "definition" else ["--backend", "sagemaker"]
    line = refused([command, *extra, "--config", CONFIG, "--bucket", "Bad_Bucket!"], capsys)
    assert line == f"mlops {command}: error: argument --bucket: {BUCKET}, got 'Bad_Bucket!'"
    assert not output.exists()


def test_valid_values_are_taken_as_given():
    args = build_parser().parse_args(["deploy", "--endpoint", "my-endpoint-2", "--state-dir", "st", "--bucket", "my.b"])
    assert (args.endpoint, args.state_dir, args.bucket) == ("my-endpoint-2", Path("st"), "my.b")
    args = build_parser().parse_args(["serve"])
    assert (args.endpoint, args.state_dir) == (None, None)  # the configuration's, checked at load


# -- every option of the CLI -----------------------------------------------------------------------------------------
CHECKS = {"--endpoint": "endpoint_option", "--state-dir": "state_dir_option", "--bucket": "bucket_option"}


def options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command, option, argparse action) of every checked option, subcommands walked."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, (*path, name))
        for option in action.option_strings:
            if option in CHECKS:
                yield " ".join(path), option, action


CASES = [pytest.param(*found, id=f"{found[0]} {found[1]}") for found in options(build_parser())]


@pytest.mark.parametrize(("command", "option", "action"), CASES)
def test_every_option_standing_for_a_configuration_value_is_checked(command, option, action):
    assert getattr(action.type, "__name__", None) == CHECKS[option], (command, option, action.type)
