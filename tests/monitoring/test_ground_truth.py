"""Labels files in, SageMaker ground-truth records out, and those records read back."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlops_errors import MlopsError
from monitoring.ground_truth import ground_truth_files, read_ground_truth
from monitoring.ground_truth_label_rules import LabelsError
from monitoring.ground_truth_labels import read_labels
from monitoring.ground_truth_records import ground_truth_key, ground_truth_lines, write_whole
from monitoring.jsonl_tables import SkipCounter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model-monitor" / "monitor-fixtures"


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_regression_labels_in_file_order(tmp_path):
    path = _file(tmp_path, "labels.csv", "inference_id,label,note\nreq-1,9,x\nreq-2, 10.5 ,y\n\nreq-1,11,z\n")
    assert read_labels(path, "regression") == [("req-1", "9.0"), ("req-2", "10.5"), ("req-1", "11.0")]


def test_jsonl_labels_with_named_columns_and_sagemaker_records(tmp_path):
    record = '{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "ev-9"}}'
    path = _file(tmp_path, "labels.jsonl", f'{{"id": "a", "y": 0}}\n{{"id": "b", "y": true}}\n\n{record}\n')
    assert read_labels(path, "binary", id_column="id", label_column="y") == [("a", "0"), ("b", "1"), ("ev-9", "1")]


def test_binary_labels_accept_the_configured_classes(tmp_path):
    path = _file(tmp_path, "labels.csv", "inference_id,label\na,yes\nb,no\nc,1.0\nd,0\n")
    labels = read_labels(path, "binary", positive_class="yes", negative_class="no")
    assert labels == [("a", "1"), ("b", "0"), ("c", "1"), ("d", "0")]


@pytest.mark.parametrize(
    ("name", "text", "problem", "expected"),
    [
        (
            "bad.jsonl",
            '{"inference_id": "a", "label": 1}\n{"inference_id": "b", "label": \n',
            "regression",
            "line 2: invalid JSON",
        ),
        ("bad.jsonl", '{"label": 1}\n', "regression", "line 1: no key 'inference_id'"),
        ("bad.jsonl", "[1, 2]\n", "regression", "line 1: not a JSON object"),
        ("bad.csv", "inference_id,label\na,1\n,2\n", "regression", "line 3: no id"),
        ("bad.csv", "inference_id,label\na,ten\n", "regression", "line 2: label 'ten' is not a finite number"),
        ("bad.csv", "inference_id,label\na,nan\n", "regression", "label 'nan' is not a finite number"),
        ("bad.csv", "inference_id,label\na,2\n", "binary", "line 2: label '2' is not 0 or 1"),
        ("bad.csv", "inference_id,label\na,yes\n", "binary", "label 'yes' is not 0 or 1"),
        ("bad.csv", "inference_id,label\na\n", "regression", "line 2: 1 fields where the header has 2"),
        (
            "bad.csv",
            "id,label\na,1\n",
            "regression",
            "the header has no column 'inference_id'; its columns are id, label",
        ),
        ("bad.csv", "inference_id,label\n", "regression", "no labels found"),
        ("bad.txt", "a,1\n", "regression", "must be .csv or .jsonl"),
    ],
)
def test_bad_labels_files_name_the_file_and_line(tmp_path, name, text, problem, expected):
    path = _file(tmp_path, name, text)
    with pytest.raises(LabelsError) as error:
        read_labels(path, problem)
    assert str(path) in str(error.value)
    assert expected in str(error.value)
    assert isinstance(error.value, MlopsError)


def test_every_bad_line_is_named_up_to_ten(tmp_path):
    rows = "".join(f"id-{i},x\n" for i in range(13))
    with pytest.raises(LabelsError, match=r"13 bad line\(s\)") as error:
        read_labels(_file(tmp_path, "bad.csv", "inference_id,label\n" + rows), "regression")
    message = str(error.value)
    assert "line 2:" in message and "line 11:" in message and "line 12:" not in message
    assert "and 3 more" in message


def test_records_have_sagemakers_shape():
    lines = ground_truth_lines([("74b0dd56-e7c8-368e-94b1-14a138a96000", "1"), ('id "quoted"', "2.5")])
    ours = [json.loads(line) for line in lines.decode().splitlines()]
    reference = json.loads((FIXTURES / "actuals.jsonl").read_text().splitlines()[0])
    del reference["eventMetadata"]["inferenceTime"]  # a stand-in the SDK's tests substitute
    assert ours[0] == reference
    assert ours[1]["eventMetadata"]["eventId"] == 'id "quoted"'
    assert ours[1]["groundTruthData"] == {"data": "2.5", "encoding": "CSV"}


def test_keys_are_in_the_utc_hour_of_ingestion_and_never_reused():
    moment = datetime(2026, 11, 30, 23, 59, 58, tzinfo=timezone.utc)
    first, second = (ground_truth_key("s3://b/p/ground-truth/", moment) for _ in range(2))
    assert first.startswith("s3://b/p/ground-truth/2026/11/30/23/59-58-")
    assert first.endswith(".jsonl") and first != second


def test_write_whole_leaves_no_partial_file_and_never_overwrites(tmp_path):
    target = tmp_path / "2026" / "11" / "30" / "23" / "a.jsonl"
    write_whole(target, b"x\n")
    assert target.read_bytes() == b"x\n"
    with pytest.raises(FileExistsError):
        write_whole(target, b"y\n")
    assert target.read_bytes() == b"x\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.jsonl"]


def test_files_are_ordered_by_hour_then_name_and_windowed(tmp_path):
    for hour, name in [
        ("2026/11/30/10", "b.jsonl"),
        ("2026/11/30/09", "z.jsonl"),
        ("2026/11/30/10", "a.jsonl"),
        ("2026/11/29/23", "old.jsonl"),
        ("2026/11/30/11", "late.jsonl"),
    ]:
        (tmp_path / hour).mkdir(parents=True, exist_ok=True)
        (tmp_path / hour / name).write_text("")
    (tmp_path / "2026/11/30/10/.a.jsonl.partial").write_text("")
    start = datetime(2026, 11, 30, 9, 30, tzinfo=timezone.utc)
    end = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    names = [p.relative_to(tmp_path).as_posix() for p in ground_truth_files(tmp_path, start, end)]
    assert names == ["2026/11/30/09/z.jsonl", "2026/11/30/10/a.jsonl", "2026/11/30/10/b.jsonl"]
    assert len(ground_truth_files(tmp_path)) == 5


def test_reading_back_counts_bad_records(tmp_path):
    good = ground_truth_lines([("a", "1"), ("b", "0.5")]).decode()
    path = _file(
        tmp_path,
        "gt.jsonl",
        good
        + '{"groundTruthData": {"data": "n/a", "encoding": "CSV"}, "eventMetadata": {"eventId": "c"}}\n'
        + '{"groundTruthData": {"data": "1", "encoding": "JSON"}, "eventMetadata": {"eventId": "d"}}\n'
        + '{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {}}\n'
        + '{"groundTruthData": {"data": "1", "enc\n',
    )
    skips = SkipCounter()
    keys, labels, records = read_ground_truth([path], skips)
    assert keys.to_pylist() == ["a", "b"] and labels.tolist() == [1.0, 0.5]
    assert records == 5
    assert dict(skips.counts) == {"bad_label": 1, "unsupported_encoding": 1, "missing_id": 1, "invalid_json": 1}
    assert "line 6" in skips.examples["invalid_json"]


def test_the_reference_actuals_read_back():
    keys, labels, records = read_ground_truth([FIXTURES / "actuals.jsonl"], SkipCounter())
    assert records == len(keys) == 44
    assert set(labels.tolist()) <= {0.0, 1.0}
