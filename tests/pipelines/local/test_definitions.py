"""A local directory as the pipeline's input (``data.input: <dir>`` or ``--param InputDataUrl=<dir>``): staged into
the object store as a prefix of its CSV / Parquet files, named by a content hash over their relative names and
contents, and what Preprocess receives from that prefix gives the one-file input's outputs; an s3:// prefix is
passed through and an empty directory refused."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pipelines.build import config_from_kwargs, local_config
from pipelines.errors import InputFileNotFoundError
from pipelines.local.definitions import local_definition, stage_input_override
from pipelines.local.store import ObjectStore
from processing.preprocess import preprocess
from tests.conftest import ABALONE, ROOT
from tests.processing.test_preprocess import HEADER, LINES, files_under, write
from tests.training.steps import REGRESSION


@pytest.fixture()
def config():
    return local_config(config_from_kwargs({}, str(ROOT / "mlops.yaml")))


def parts(directory, names=("a.csv", "b.csv", "c.csv")):
    directory.mkdir(parents=True, exist_ok=True)
    cuts = (0, 1000, 2500, len(LINES))
    for i, name in enumerate(names):
        write(directory / name, [HEADER, *LINES[cuts[i] : cuts[i + 1]]])
    (directory / "notes.txt").write_text("not data")  # not staged: Preprocess reads only its formats
    return directory


def test_a_directory_is_staged_as_a_prefix_named_by_its_files_names_and_contents(tmp_path, config):
    state = tmp_path / "state"
    uri = stage_input_override(str(parts(tmp_path / "in")), config, state)
    prefix = f"s3://{config.sagemaker.bucket}/{config.pipeline_name}/data/"
    assert uri.startswith(prefix) and uri.endswith("/") and len(uri) == len(prefix) + 64 + 1
    store = ObjectStore(state)
    assert [name for name, _ in store.objects(uri, "input")] == ["a.csv", "b.csv", "c.csv"]
    # the same files elsewhere: the same prefix; a renamed file or a changed byte: another
    assert stage_input_override(str(parts(tmp_path / "copy")), config, state) == uri
    (tmp_path / "copy" / "c.csv").rename(tmp_path / "copy" / "d.csv")
    assert stage_input_override(str(tmp_path / "copy"), config, state) != uri
    write(tmp_path / "in" / "a.csv", [HEADER, *LINES[:999]])
    assert stage_input_override(str(tmp_path / "in"), config, state) != uri


def test_preprocess_given_the_staged_prefix_writes_the_one_files_outputs(tmp_path, config):
    state = tmp_path / "state"
    uri = stage_input_override(str(parts(tmp_path / "in")), config, state)
    received = tmp_path / "container" / "input" / "data"
    ObjectStore(state).download(uri, received, "input data")  # what the local runner mounts for the job
    preprocess(received, tmp_path / "from-prefix", REGRESSION)
    preprocess(ABALONE, tmp_path / "from-file", REGRESSION)
    got, want = tmp_path / "from-prefix", tmp_path / "from-file"
    assert files_under(got) == files_under(want)
    assert all((got / n).read_bytes() == (want / n).read_bytes() for n in files_under(want))


def test_an_s3_prefix_passes_through_and_an_empty_directory_is_refused(tmp_path, config):
    given = "s3://somewhere/abalone/2024/"
    assert stage_input_override(given, config, tmp_path / "state") == given
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README").write_text("no data here")
    with pytest.raises(InputFileNotFoundError, match=r"Input data directory .*empty holds no \.csv, \.parquet or"):
        stage_input_override(str(tmp_path / "empty"), config, tmp_path / "state")
    assert not (tmp_path / "state" / "s3").exists()  # nothing staged


def test_data_input_as_a_directory_is_the_definitions_input_default(tmp_path, config):
    data = parts(tmp_path / "in")
    directory = replace(config, data=replace(config.data, input=str(data)))
    definition, _ = local_definition(directory, tmp_path / "state")
    (parameter,) = [p for p in json.loads(definition)["Parameters"] if p["Name"] == "InputDataUrl"]
    assert parameter["DefaultValue"] == stage_input_override(str(data), config, tmp_path / "state")
    assert parameter["DefaultValue"].endswith("/")
