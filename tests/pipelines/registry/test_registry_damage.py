"""The local registry and ``mlops models`` on bad input and damaged state: a registry file SQLite cannot use, a version
number out of range, an empty ``--note`` or ``--by``, a state directory that is a file or missing; each a one-line
error naming what was given (``mlops models <subcommand>: error: ...``, exit 2), and a closed standard output ends a
command quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.registry import RegistryError
from pipelines.registry.sqlite import MAX_VERSION, SQLiteRegistry
from tests.conftest import ROOT
from tests.pipelines.registry.test_registry_contract import package_request

CONFIG = str(ROOT / "mlops.yaml")
HUGE = "99999999999999999999999"


def models(state: Path, *argv: str) -> int:
    return main(["models", *argv, "--state-dir", str(state), "--config", CONFIG])


def one_line_error(capsys, prefix: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(prefix) and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def state(tmp_path) -> Path:
    SQLiteRegistry(tmp_path / "registry.db").register(package_request())
    return tmp_path


def test_a_registry_file_that_is_not_sqlite_is_named(tmp_path, capsys):
    (tmp_path / "registry.db").write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(RegistryError, match=f"The local registry {tmp_path / 'registry.db'} cannot be used"):
        SQLiteRegistry(tmp_path / "registry.db")
    assert models(tmp_path, "list") == 2
    err = one_line_error(capsys, f"mlops models list: error: The local registry {tmp_path / 'registry.db'} ")
    assert "file is not a database" in err and "move it aside" in err
    assert (tmp_path / "registry.db").read_bytes() == b"this is not a database\n" * 100  # left as it was


def test_a_registry_made_unusable_after_opening_is_named_too(state):
    registry = SQLiteRegistry(state / "registry.db")
    (state / "registry.db").write_bytes(b"\0" * 4096)
    for name in ("registry.db-wal", "registry.db-shm"):
        (state / name).unlink(missing_ok=True)
    with pytest.raises(RegistryError, match="cannot be used"):
        registry.list_versions()
    with pytest.raises(RegistryError, match="cannot be used"):
        registry.register(package_request(n=2))


def test_a_version_out_of_range_is_refused_naming_it(state, capsys):
    registry = SQLiteRegistry(state / "registry.db")
    for version in (MAX_VERSION + 1, 10**23, 0):
        with pytest.raises(RegistryError, match=f"version {version} of abalone is out of range: versions are 1 to"):
            registry.get("abalone", version)
    with pytest.raises(RegistryError, match="out of range"):
        registry.set_status("abalone", MAX_VERSION + 1, "Approved", "alice", "x")
    assert models(state, "show", f"abalone/{HUGE}") == 2
    err = one_line_error(capsys, "mlops models show: error: ")
    assert f"version {HUGE} in 'abalone/{HUGE}' is out of range: versions are 1 to {MAX_VERSION}" in err
    assert models(state, "approve", f"abalone/{HUGE}", "--note", "x") == 2
    one_line_error(capsys, "mlops models approve: error: version")
    assert models(state, "show", f"abalone/{MAX_VERSION}") == 2  # in range: simply unknown
    assert f"Unknown version abalone/{MAX_VERSION}" in one_line_error(capsys, "mlops models show: error: ")


def test_deploy_of_a_version_out_of_range_is_refused_naming_it(state, capsys):
    argv = ["deploy", "--version", HUGE, "--state-dir", str(state), "--config", CONFIG]
    assert main(argv) == 2
    assert f"version {HUGE} of abalone is out of range" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--note", "", "argument --note: must say why (it is kept in the approval history), got ''"),
        ("--note", "  ", "argument --note: must say why"),
        ("--by", "", "argument --by: must name who (or leave --by out for the current user), got ''"),
    ],
)
def test_an_empty_note_or_approver_is_refused(state, capsys, option, value, message):
    extra = [option, value] if option == "--by" else []
    with pytest.raises(SystemExit) as exited:
        models(state, "approve", "abalone/1", "--note", value if option == "--note" else "good", *extra)
    assert exited.value.code == 2
    assert f"mlops models approve: error: {message}" in capsys.readouterr().err
    assert SQLiteRegistry(state / "registry.db").history("abalone", 1) == []  # nothing recorded


def test_a_state_directory_that_is_a_file_or_missing_is_said_to_be(tmp_path, capsys):
    afile = tmp_path / "passwd"
    afile.write_text("x\n")
    assert models(afile, "list") == 2
    one_line_error(capsys, f"mlops models list: error: --state-dir {afile}: is a file, not a directory")
    missing = tmp_path / "nonexistent"
    assert models(missing, "list") == 2
    one_line_error(capsys, f"mlops models list: error: --state-dir {missing}: no such directory")
    assert models(missing, "approve", "abalone/1", "--note", "x") == 2
    one_line_error(capsys, f"mlops models approve: error: --state-dir {missing}: no such directory")
    assert not missing.exists()  # nothing made


def test_a_closed_standard_output_ends_models_show_quietly(state):
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "models", "show", "abalone/1", "--state-dir", str(state)],
            cwd=ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.stderr == "" and done.returncode == 141, done.stderr


def test_a_sagemaker_registry_without_credentials_is_a_registry_error():
    """No credentials (or no endpoint to reach) is the user's to fix: one line naming the call, not a traceback."""
    from botocore.exceptions import NoCredentialsError

    from pipelines.registry.sagemaker import SageMakerRegistry

    class NoCredentials:
        def __getattr__(self, name):
            def call(**kwargs):
                raise NoCredentialsError()

            return call

    registry = SageMakerRegistry(NoCredentials(), NoCredentials(), "bucket")
    with pytest.raises(RegistryError, match=r"DescribeModelPackageGroup abalone failed: Unable to locate credentials"):
        registry.list_versions("abalone", "Approved")
