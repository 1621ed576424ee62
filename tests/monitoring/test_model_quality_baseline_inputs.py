"""``mlops monitor baseline --kind model-quality`` on damaged or unusual input: header names by their exact spelling
(each once), a BOM dropped, long values cut in messages, options that a regression would ignore refused, and an output
that cannot be a folder refused before the data set is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitoring import model_quality_job
from monitoring.errors import AnalyzerOutputError
from monitoring.model_quality_dataset import DatasetError, read_labelled_csv
from monitoring.model_quality_job import run_model_quality_baseline, run_model_quality_check
from pipelines.cli import main


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def read(path: Path, **options):
    settings = {"problem_type": "regression", "ground_truth_attribute": "label", "inference_attribute": "prediction"}
    return read_labelled_csv(path, **{**settings, **options})


def cli(dataset: Path, output: Path, *extra: str, problem: str = "regression") -> int:
    return main(
        [
            "monitor",
            "baseline",
            "--kind",
            "model-quality",
            "--dataset",
            str(dataset),
            "--problem-type",
            problem,
            "--ground-truth-attribute",
            "label",
            "--inference-attribute",
            "prediction",
            "--output",
            str(output),
            *extra,
        ]
    )


def test_a_named_column_given_twice_in_the_header_is_refused(tmp_path):
    path = write(tmp_path / "dup.csv", "label,label,prediction\n1,2,3\n4,5,6\n")
    with pytest.raises(DatasetError) as info:
        read(path)
    assert str(info.value) == (
        f"{path} line 1: column 'label' (ground truth attribute) is named twice in the header (columns 1 and 2); "
        "expected it once"
    )


def test_pandas_renamings_are_not_column_names(tmp_path):
    path = write(tmp_path / "dup.csv", "label,prediction,prediction\n1,2,3\n")
    with pytest.raises(DatasetError, match=r"Column 'prediction\.1' \(inference attribute\) not found"):
        read(path, inference_attribute="prediction.1")
    path = write(tmp_path / "unnamed.csv", "label,,prediction\n1,2,3\n")
    with pytest.raises(DatasetError, match=r"Column 'Unnamed: 1' \(inference attribute\) not found"):
        read(path, inference_attribute="Unnamed: 1")
    assert read(path).predictions.tolist() == [3.0]  # the unnamed column is not used: no matter


def test_a_repeated_name_of_an_unused_column_does_not_matter(tmp_path):
    pairs = read(write(tmp_path / "ids.csv", "id,id,label,prediction\n7,8,1,2\n"))
    assert pairs.labels.tolist() == [1.0] and pairs.predictions.tolist() == [2.0]


def test_a_bom_is_not_part_of_the_first_name(tmp_path):
    pairs = read(write(tmp_path / "bom.csv", b"\xef\xbb\xbflabel,prediction\r\n1,2\r\n3,4\r\n"))
    assert pairs.labels.tolist() == [1.0, 3.0]


def test_a_long_value_is_cut_in_the_message(tmp_path):
    path = write(tmp_path / "long.csv", "label,prediction\n1," + "z" * 300_000 + "\n")
    with pytest.raises(DatasetError) as info:
        read(path)
    message = str(info.value)
    assert len(message) < 400
    assert f"got '{'z' * 100}'... (300000 characters) (1 such lines)" in message


def test_an_unterminated_quote_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="EOF inside string"):
        read(write(tmp_path / "q.csv", 'label,prediction\n1,"2\n3,4\n'))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--probability-threshold", "0.3"), "--probability-threshold: for binary classification only"),
        (("--probability-attribute", "p"), "--probability-attribute: for binary classification only"),
    ],
)
def test_binary_options_with_a_regression_are_refused(tmp_path, capsys, extra, message):
    dataset = write(tmp_path / "mq.csv", "label,prediction,p\n1,2,0.5\n")
    assert cli(dataset, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "got --problem-type regression" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def no_reading(monkeypatch):
    def reading(*args, **kwargs):
        raise AssertionError("the data set was read before the output was checked")

    monkeypatch.setattr(model_quality_job, "read_labelled_csv", reading)


def test_an_output_under_a_file_is_refused_before_reading(tmp_path, no_reading):
    taken = write(tmp_path / "taken", "keep")
    settings = {"problem_type": "regression", "ground_truth_attribute": "label", "inference_attribute": "prediction"}
    with pytest.raises(AnalyzerOutputError, match=rf"output {taken}/sub is under {taken}, which is a file"):
        run_model_quality_baseline(tmp_path / "mq.csv", taken / "sub", **settings)
    with pytest.raises(AnalyzerOutputError, match=rf"output {taken} is a file"):
        run_model_quality_baseline(tmp_path / "mq.csv", taken, **settings)
    assert taken.read_text() == "keep"


def test_the_cli_names_the_output_in_one_line(tmp_path, capsys):
    dataset = write(tmp_path / "mq.csv", "label,prediction\n1,2\n3,4\n")
    taken = write(tmp_path / "taken", "")
    assert cli(dataset, taken / "sub") == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops monitor") and err.endswith(
        f": error: output {taken}/sub is under {taken}, which is a file; expected a folder (new or existing) for the "
        "results\n"
    )
    assert err.count("\n") == 1


def test_a_check_output_that_is_a_file_is_refused(tmp_path):
    dataset = write(tmp_path / "mq.csv", "label,prediction\n1,2\n3,4\n")
    baseline = run_model_quality_baseline(
        dataset,
        tmp_path / "base",
        problem_type="regression",
        ground_truth_attribute="label",
        inference_attribute="prediction",
    )
    constraints = json.loads(baseline.paths["constraints"].read_text())
    pairs = read(dataset)
    with pytest.raises(AnalyzerOutputError, match="is a file"):
        run_model_quality_check(
            pairs, constraints, write(tmp_path / "taken", ""), problem_type="regression", min_pairs=1
        )
