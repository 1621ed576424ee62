"""``mlops run``'s input data, before and after the run: what it cannot read is refused before anything is staged or
recorded (a URI other than s3://, a file that is no .csv/.parquet/.pq, a broken link among a directory's files), and a
failure in a file under a directory input names that file under the user's directory, "/" included."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from mlops_errors import MlopsError
from pipelines.build import config_from_kwargs, local_config
from pipelines.cli import main
from pipelines.commands.run import _input_names, user_names
from pipelines.local.definitions import stage_input_override
from pipelines.local.expressions import Context
from pipelines.local.reasons import sources_named
from pipelines.local.record import ExecutionRecord
from pipelines.staging import data_artifact
from tests.conftest import ABALONE, ROOT

CONFIG = str(ROOT / "mlops.yaml")
HEADER = ABALONE.read_text().splitlines()[0]
DATA = "/opt/ml/processing/input/data"  # where Preprocess reads InputDataUrl


def header_only_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "d"
    directory.mkdir()
    (directory / "b.csv").write_text(HEADER + "\n")
    return directory


def reason_as_shown(tmp_path: Path, staged: str, names: dict[str, str]) -> str:
    """Preprocess's failure about b.csv under the staged prefix, as the run prints it: the job's copy named by its
    URI (``sources_named``), then the URI by the user's path (``user_names``)."""
    execution = tmp_path / "state" / "executions" / "abcdefabcdef"
    step = {
        "Name": "Preprocess",
        "Arguments": {"ProcessingInputs": [{"S3Input": {"LocalPath": DATA, "S3Uri": staged}}]},
    }
    copy = execution / "steps" / "Preprocess" / "container" / DATA.lstrip("/") / "b.csv"
    recorded = sources_named(f"{copy} has a header row but no data rows", step, Context({}, {}), execution)
    assert recorded == f"{staged.rstrip('/')}/b.csv has a header row but no data rows"  # the record's words
    return user_names(recorded, names)


@pytest.mark.parametrize("slash", ["", "/"])
def test_a_file_under_a_directory_param_is_named_under_it(tmp_path, slash):
    config = local_config(config_from_kwargs({}, CONFIG))
    directory = header_only_directory(tmp_path)
    given = f"{directory}{slash}"
    staged = stage_input_override(given, config, tmp_path / "state")
    assert staged.endswith("/")
    names = _input_names(config, given, staged)
    assert reason_as_shown(tmp_path, staged, names) == f"{directory}/b.csv has a header row but no data rows"
    assert user_names(f"no data in {staged.rstrip('/')}", names) == f"no data in {directory}"  # the prefix itself


@pytest.mark.parametrize("slash", ["", "/"])
def test_a_file_under_a_directory_of_data_input_is_named_under_it(tmp_path, slash):
    config = local_config(config_from_kwargs({}, CONFIG))
    directory = header_only_directory(tmp_path)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, input=f"{directory}{slash}"))
    staged = data_artifact(directory).uri(config.sagemaker.bucket, config.pipeline_name)
    names = _input_names(config, None, None)
    assert reason_as_shown(tmp_path, staged, names) == f"{directory}/b.csv has a header row but no data rows"


def run(state: Path, *extra: str) -> int:
    return main(["run", "--config", CONFIG, "--state-dir", str(state), "--quiet", *extra])


def refused(state: Path, capsys, value: str) -> str:
    """The one-line error of ``mlops run --param InputDataUrl=value``; nothing was written."""
    assert run(state, "--param", f"InputDataUrl={value}") == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops run: error: --param InputDataUrl: ") and err.count("\n") == 1, err
    assert not state.exists()  # no execution, nothing staged
    return err


@pytest.mark.parametrize("uri", ["http://example.com/x.csv", "https://example.com/d/", "file:///tmp/x.csv"])
def test_an_input_uri_other_than_s3_is_refused_as_given(tmp_path, capsys, uri):
    err = refused(tmp_path / "state", capsys, uri)
    assert f"only a local path or an s3:// URI is supported, got {uri!r}" in err


def test_a_data_file_without_a_data_suffix_is_refused(tmp_path, capsys):
    noext = tmp_path / "noext"
    noext.write_text(ABALONE.read_text())
    err = refused(tmp_path / "state", capsys, str(noext))
    assert f"a data file's name must end in .csv, .parquet or .pq, got {noext}" in err


def test_a_broken_link_among_a_directorys_data_files_is_refused_by_name(tmp_path, capsys):
    directory = tmp_path / "dl"
    directory.mkdir()
    (directory / "a.csv").write_text(ABALONE.read_text())
    (directory / "b.csv").symlink_to("/nonexistent/x.csv")
    err = refused(tmp_path / "state", capsys, str(directory))
    assert f"{directory / 'b.csv'} is a broken symbolic link (to /nonexistent/x.csv)" in err
    (tmp_path / "link.csv").symlink_to(tmp_path / "gone.csv")
    err = refused(tmp_path / "state", capsys, str(tmp_path / "link.csv"))
    assert f"{tmp_path / 'link.csv'} is a broken symbolic link" in err


def test_a_bad_data_input_in_the_configuration_is_refused_naming_it(tmp_path, capsys):
    noext = tmp_path / "noext"
    noext.write_text(ABALONE.read_text())
    config = tmp_path / "mlops.yaml"
    config.write_text((ROOT / "mlops.yaml").read_text().replace("data/abalone.csv", str(noext)))
    assert str(noext) in config.read_text()
    state = tmp_path / "state"
    assert main(["run", "--config", str(config), "--state-dir", str(state), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"mlops run: error: data.input (in {config}): a data file's name must end in .csv" in err
    assert not state.exists()


def test_resume_of_an_unknown_execution_says_the_list_of_known_ones_is_cut(tmp_path, capsys):
    state = tmp_path / "state"
    ids = [f"exec{i:08d}" for i in range(7)]
    for age, execution_id in enumerate(reversed(ids)):  # exec00000006 is the newest
        ExecutionRecord.create(state, execution_id, "p", {}, {}, "{}")
        when = 1_700_000_000 - age * 60
        os.utime(state / "executions" / execution_id / "execution.json", (when, when))
    assert run(state, "--resume", "zzzzzzzzzzzz") == 2
    err = capsys.readouterr().err
    newest = ", ".join(reversed(ids[2:]))
    assert f"Unknown execution 'zzzzzzzzzzzz' under {state / 'executions'}; the 5 most recent of 7: {newest}" in err
    assert "executions list shows them all" in err
    assert run(state, "--resume", "../executions/exec00000001") == 2
    assert "an execution id is 12 lowercase letters and digits" in capsys.readouterr().err


def test_staging_a_directory_refuses_a_broken_link_too(tmp_path):
    """run-pipeline stages data with data_artifact, not through mlops run's checks: a broken link is named there."""
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "a.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    (directory / "b.csv").symlink_to("/nonexistent/x.csv")
    with pytest.raises(MlopsError, match=r"b\.csv is a broken symbolic link \(to /nonexistent/x\.csv\)"):
        data_artifact(directory)
