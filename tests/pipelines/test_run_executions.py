"""``mlops executions`` and ``mlops run`` on damaged or unusual local state: an unreadable record is named with its
file (``show``: an error; ``list``: a row, the others still listed), an execution id is checked before it becomes a
path, a state directory that is a file or (for reading) missing is said to be, and a closed standard output ends a
command quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.errors import StateError
from pipelines.local.record import ExecutionRecord, list_records, read_records
from tests.conftest import ROOT

CONFIG = str(ROOT / "mlops.yaml")
GOOD, TRUNCATED, ARRAY, STRANGER = "good00000000", "trunc0000000", "array0000000", "other0000000"


def executions(state: Path, *argv: str) -> int:
    return main(["executions", *argv, "--state-dir", str(state), "--config", CONFIG])


@pytest.fixture
def state(tmp_path) -> Path:
    """One good record and three damaged ones: truncated JSON, ``[]``, and another execution's record."""
    state = tmp_path / "state"
    ExecutionRecord.create(state, GOOD, "abalone-pipeline", {}, {"Preprocess": "Processing"}, "{}")
    good = (state / "executions" / GOOD / "execution.json").read_text()
    for name, text in ((TRUNCATED, good[: len(good) // 2]), (ARRAY, "[]"), (STRANGER, good)):
        (state / "executions" / name).mkdir()
        (state / "executions" / name / "execution.json").write_text(text)
    return state


def record_file(state: Path, execution_id: str) -> Path:
    return state / "executions" / execution_id / "execution.json"


def test_list_shows_each_unreadable_record_with_its_file_and_still_lists_the_others(state, capsys):
    assert executions(state, "list") == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {GOOD, TRUNCATED, ARRAY, STRANGER}
    assert rows[GOOD].split()[1] == "Executing"
    assert f"Unreadable - Execution record {record_file(state, TRUNCATED)} is not valid JSON (" in " ".join(
        rows[TRUNCATED].split()
    )
    assert f"{record_file(state, ARRAY)} holds an array, expected an object" in rows[ARRAY]
    assert f"is the record of execution {GOOD!r}, not of its directory's {STRANGER!r}" in rows[STRANGER]
    assert executions(state, "list", "--json") == 0
    listed = {r["execution_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[GOOD]["status"] == "Executing" and "error" not in listed[GOOD]
    assert listed[ARRAY]["status"] == "Unreadable" and str(record_file(state, ARRAY)) in listed[ARRAY]["error"]
    records, unreadable = read_records(state)
    assert [r["execution_id"] for r in records] == [GOOD] == [r["execution_id"] for r in list_records(state)]
    assert sorted(u.execution_id for u in unreadable) == sorted([TRUNCATED, ARRAY, STRANGER])


@pytest.mark.parametrize("execution_id", [TRUNCATED, ARRAY])
def test_show_of_an_unreadable_record_is_an_error_naming_the_file(state, capsys, execution_id):
    assert executions(state, "show", execution_id) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlops executions show: error: Execution record {record_file(state, execution_id)} ")
    assert err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(StateError, match=r"move the directory .* aside"):
        ExecutionRecord.load(state, execution_id)


@pytest.mark.parametrize(
    ("execution_id", "shown"),
    [
        ("a" * 5000, f"{'a' * 40!r}... (5000 characters)"),
        (f"../executions/{GOOD}", repr(f"../executions/{GOOD}")),
        (GOOD.upper(), repr(GOOD.upper())),
        ("nope", "'nope'"),
    ],
)
def test_an_execution_id_of_another_format_is_refused_before_it_is_a_path(state, capsys, execution_id, shown):
    assert executions(state, "show", execution_id) == 2
    err = capsys.readouterr().err
    assert err == (
        "mlops executions show: error: an execution id is 12 lowercase letters and digits, as the run printed it "
        f"and executions list shows it; got {shown}\n"
    )


def test_an_unknown_execution_is_named(state, capsys):
    assert executions(state, "show", "zzzzzzzzzzzz") == 2
    err = capsys.readouterr().err
    assert f"Unknown execution 'zzzzzzzzzzzz' under {state / 'executions'}; known: " in err


def test_a_missing_state_directory_is_said_to_be_missing_for_reading(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert executions(missing, "list") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlops executions list: error: --state-dir {missing}: no such directory")
    assert executions(missing, "show", GOOD) == 2
    assert "no such directory" in capsys.readouterr().err
    assert not missing.exists()


def test_a_state_directory_that_is_a_file_is_said_to_be_one(tmp_path, capsys):
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0\n")
    assert main(["run", "--config", CONFIG, "--state-dir", str(afile), "--quiet"]) == 2
    assert capsys.readouterr().err == f"mlops run: error: --state-dir {afile}: is a file, not a directory " + (
        "(one holding executions/, registry.db, s3/)\n"
    )
    assert executions(afile, "list") == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert executions(afile / "below", "list") == 2
    assert f"--state-dir {afile / 'below'}: cannot be a directory: {afile} is a file" in capsys.readouterr().err
    assert afile.read_text() == "root:x:0:0\n"


def test_a_closed_standard_output_ends_a_command_quietly(state):
    """``mlops executions show ID | head -2``: the reader is gone before the output is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        for argv in (["show", GOOD], ["list"]):
            done = subprocess.run(
                [sys.executable, "-m", "pipelines.cli", "executions", *argv, "--state-dir", str(state)],
                cwd=ROOT,
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
            assert done.stderr == "" and done.returncode == 141, done.stderr
    finally:
        os.close(write)
