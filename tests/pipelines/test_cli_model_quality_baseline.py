"""``mlops monitor baseline --kind model-quality``: the reference statistics.json reproduced through the command
line, and every bad input named (file, column, line, value) in one line with exit code 2."""

from __future__ import annotations

import json
import shutil

import pytest

from pipelines.cli import main
from tests.conftest import REFERENCE

REGRESSION = REFERENCE / "model-quality" / "regression-baseline"
DATASET = REGRESSION / "baseline_dataset.csv"


def baseline(dataset, output, *extra: str, problem: str = "regression") -> int:
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
            "Label",
            "--inference-attribute",
            "Prediction",
            "--output",
            str(output),
            *extra,
        ]
    )


def test_the_reference_csv_gives_the_reference_statistics_field_for_field(tmp_path, capsys):
    assert baseline(DATASET, tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "Model-quality baseline (regression) of 100 records" in out and "statistics.json" in out
    ours = json.loads((tmp_path / "out" / "statistics.json").read_text())
    reference = json.loads((REGRESSION / "statistics.json").read_text())
    assert ours.keys() == reference.keys() and ours["dataset"] == reference["dataset"]
    assert ours["version"] == reference["version"]
    assert ours["regression_metrics"] == reference["regression_metrics"]  # every value to the last digit, "NaN" too
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert constraints["regression_constraints"]["r2"] == {
        "threshold": -3.208758170289026,
        "comparison_operator": "LessThanThreshold",
    }


def test_a_margin_and_the_object_store(tmp_path, capsys):
    state = tmp_path / "state"
    (state / "s3" / "bucket").mkdir(parents=True)
    shutil.copy(DATASET, state / "s3" / "bucket" / "mq.csv")
    assert baseline("s3://bucket/mq.csv", "s3://bucket/baseline", "--margin", "0.1", "--state-dir", str(state)) == 0
    constraints = json.loads((state / "s3" / "bucket" / "baseline" / "constraints.json").read_text())
    assert constraints["regression_constraints"]["mae"]["threshold"] == pytest.approx(0.5040653554420981 * 1.1)


def _csv(tmp_path, text: str):
    path = tmp_path / "labelled.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "problem", "extra", "message"),
    [
        ("", "regression", (), "labelled.csv is empty: expected a CSV with a header line"),
        ("Label,Prediction\n", "regression", (), "labelled.csv holds no records"),
        ("Label,Score\n1,0.5\n", "regression", (), "Column 'Prediction' (inference attribute) not found in"),
        ("Label,Prediction\n1,0.5\n0,high\n", "regression", (), "labelled.csv line 3: column 'Prediction'"),
        (
            "Label,Prediction\n1,0.5\n,0.2\n",
            "regression",
            (),
            "line 3: column 'Label' (ground truth attribute) must be a number, got ''",
        ),
        (
            "Label,Prediction\n1,1\n2,0\n",
            "binary",
            (),
            "line 3: column 'Label' (ground truth attribute) must be 0 or 1",
        ),
        (
            "Label,Prediction\n1,1\n0,3\n",
            "binary",
            (),
            "line 3: column 'Prediction' (inference attribute) must be a predicted",
        ),
        (
            "Label,Prediction,p\n1,1,0.9\n0,0,1.2\n",
            "binary",
            ("--probability-attribute", "p"),
            "line 3: column 'p' (probability attribute) must be in [0, 1], got '1.2'",
        ),
        (
            "Label,Prediction,p\n1,1,0.9\n",
            "binary",
            ("--probability-attribute", "q"),
            "Column 'q' (probability attribute) not found",
        ),
    ],
)
def test_bad_inputs_are_named_in_one_line(tmp_path, capsys, text, problem, extra, message):
    assert baseline(_csv(tmp_path, text), tmp_path / "out", *extra, problem=problem) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops monitor baseline: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_binary_probabilities_in_the_inference_column_are_cut_at_the_threshold(tmp_path, capsys):
    path = _csv(tmp_path, "Label,Prediction\n" + "".join(f"{i % 2},{0.3 + 0.4 * (i % 2)}\n" for i in range(10)))
    assert baseline(path, tmp_path / "out", "--probability-threshold", "0.8", problem="binary") == 0
    block = json.loads((tmp_path / "out" / "statistics.json").read_text())["binary_classification_metrics"]
    assert block["confusion_matrix"] == {"0": {"0": 5, "1": 0}, "1": {"0": 5, "1": 0}}  # 0.7 < 0.8: all negative
    assert block["auc"]["value"] == 1.0  # the probabilities still rank perfectly


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kind", "model-quality"], "--kind model-quality needs --problem-type, --ground-truth-attribute"),
        (["--problem-type", "binary"], "--problem-type must come with --kind model-quality, got --kind data-quality"),
    ],
)
def test_options_that_do_not_go_together(tmp_path, capsys, arguments, message):
    argv = ["monitor", "baseline", "--dataset", str(DATASET), "--output", str(tmp_path / "o"), *arguments]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
