"""The demo's labelled rows: read from data.input as Preprocess reads it, a file or a directory of CSV and Parquet."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from pipelines.config import load_config
from pipelines.demo_data import read_rows
from processing.input_data import DataValidationError
from tests.conftest import ROOT


def _config(data_input: str):
    config = load_config(str(ROOT / "mlops.yaml"))
    return dataclasses.replace(config, data=dataclasses.replace(config.data, input=data_input))


def test_a_directory_of_csv_and_parquet_gives_the_rows_of_the_one_file(tmp_path):
    single = ROOT / "data" / "abalone.csv"
    frame = pd.read_csv(single, dtype=str)
    parts = tmp_path / "parts"
    parts.mkdir()
    frame.iloc[:1000].to_csv(parts / "part-1.csv", index=False)
    second = frame.iloc[1000:].copy()
    numeric = [c for c in frame.columns if c != "sex"]  # numbers in Parquet, as a data lake would hold them
    for column in numeric:
        second[column] = pd.to_numeric(second[column])
    second[list(reversed(second.columns))].to_parquet(parts / "part-2.parquet", index=False)  # another column order
    (parts / ".hidden.csv").write_text("not,data\n")  # skipped, as Preprocess skips it
    header, rows = read_rows(_config(str(parts)))
    expected_header, expected_rows = read_rows(_config(str(single)))
    assert header == expected_header == list(frame.columns)  # the first file's order: the endpoint's input order
    assert len(rows) == len(frame)
    as_numbers = {header.index(column) for column in numeric}
    for got, want in zip(rows, expected_rows, strict=True):
        assert [float(g) if i in as_numbers else g for i, g in enumerate(got)] == [
            float(w) if i in as_numbers else w for i, w in enumerate(want)
        ]


def test_a_directory_without_data_files_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("no data here")
    with pytest.raises(DataValidationError, match=rf"No \.csv, \.parquet or \.pq files in {tmp_path}"):
        read_rows(_config(str(tmp_path)))


def test_the_demo_refuses_a_configuration_without_the_columns_it_drifts_before_anything_runs(tmp_path, capsys):
    from pipelines.cli import main

    text = (ROOT / "mlops.yaml").read_text(encoding="utf-8").replace("shell_weight]", "shell_mass]")
    assert "shell_mass" in text
    (tmp_path / "mine.yaml").write_text(text, encoding="utf-8")
    state = tmp_path / "state"
    assert main(["demo", "--config", str(tmp_path / "mine.yaml"), "--state-dir", str(state)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlops demo: error: {tmp_path / 'mine.yaml'}: the demo drifts the bundled abalone")
    assert "lack shell_weight" in err
    assert not (state / "executions").exists()  # nothing ran


def test_the_bundled_configuration_has_every_column_the_demo_drifts():
    from pipelines.demo_data import check_demo_columns

    check_demo_columns(load_config(str(ROOT / "mlops.yaml")))
