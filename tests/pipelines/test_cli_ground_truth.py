"""``mlops monitor ground-truth``: labels checked, one ground-truth file written whole (local or S3 with KMS)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from monitoring.ground_truth_label_rules import LabelsError
from pipelines.cli import main
from pipelines.commands import ground_truth

NOW = datetime(2026, 11, 30, 14, 5, 6, tzinfo=timezone.utc)


def _binary_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "binary.yaml"
    config.write_text(
        "project: {name: abalone-old}\n"
        "data: {target: old, problem_type: binary, positive_class: 'yes', categorical: [sex], numeric: [length]}\n"
        "training: {objective: 'binary:logistic', eval_metric: auc}\n"
        "gate: {metric: auc, threshold: 0.75}\n" + extra
    )
    return config


def _args(tmp_path: Path, labels: Path, **options) -> argparse.Namespace:
    values = {
        "labels": labels,
        "id_column": "inference_id",
        "label_column": "label",
        "negative_class": None,
        "config": None,
        "state_dir": tmp_path / "state",
        "backend": "local",
        "bucket": None,
        "region": None,
    }
    values.update(options)
    return argparse.Namespace(**values)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_local_labels_land_in_the_hour_of_ingestion(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\nreq-1,9\nreq-2,12.5\nreq-1,10\n")
    assert ground_truth.run(_args(tmp_path, labels), clock=lambda: NOW) == 0
    written = list((tmp_path / "state" / "s3").rglob("*.jsonl"))
    assert len(written) == 1
    relative = written[0].relative_to(tmp_path / "state" / "s3").as_posix()
    assert relative.startswith("mlops-local/abalone-pipeline/ground-truth/2026/11/30/14/05-06-")
    assert [r["eventMetadata"]["eventId"] for r in _records(written[0])] == ["req-1", "req-2", "req-1"]
    assert _records(written[0])[1] == {
        "groundTruthData": {"data": "12.5", "encoding": "CSV"},
        "eventMetadata": {"eventId": "req-2"},
        "eventVersion": "0",
    }
    out = capsys.readouterr().out
    assert "Wrote 3 labels for regression to s3://mlops-local/abalone-pipeline/ground-truth/2026/11/30/14/" in out
    assert "1 ids repeated" in out
    assert not list(written[0].parent.glob(".*"))  # no temporary file left


def test_two_ingestions_in_one_hour_write_two_files(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"inference_id": "a", "label": 1}\n')
    for _ in range(2):
        ground_truth.run(_args(tmp_path, labels), clock=lambda: NOW)
    assert len(list((tmp_path / "state").rglob("*.jsonl"))) == 2


def test_binary_labels_use_the_configured_classes(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("request,old\na,yes\nb,no\nc,1\n")
    config = _binary_config(tmp_path)
    args = _args(tmp_path, labels, config=str(config), id_column="request", label_column="old", negative_class="no")
    ground_truth.run(args, clock=lambda: NOW)
    (written,) = (tmp_path / "state").rglob("*.jsonl")
    assert [r["groundTruthData"]["data"] for r in _records(written)] == ["1", "0", "1"]
    assert "Wrote 3 labels for binary" in capsys.readouterr().out


def test_a_bad_line_is_named_and_nothing_is_written(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\na,yes\nb,no\nc,2\n")
    config = _binary_config(tmp_path)
    code = main(
        [
            "monitor",
            "ground-truth",
            "--labels",
            str(labels),
            "--config",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert f"{labels}: 2 bad line(s); nothing was written" in error
    assert "line 3: label 'no' is not 0 or 1 (or the class 'yes')" in error
    assert "line 4: label '2'" in error
    assert not (tmp_path / "state").exists()


@mock_aws
def test_sagemaker_backend_puts_one_kms_encrypted_object(tmp_path, capsys):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="team-bucket")
    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    config = _binary_config(tmp_path, f"sagemaker: {{bucket: team-bucket, kms_key_id: {key_id}}}\n")
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"inference_id": "a", "label": 1}\n{"inference_id": "b", "label": 0}\n')
    args = _args(tmp_path, labels, config=str(config), backend="sagemaker")
    assert ground_truth.run(args, s3_client=s3, clock=lambda: NOW) == 0
    (listed,) = s3.list_objects_v2(Bucket="team-bucket")["Contents"]
    assert listed["Key"].startswith("abalone-old-pipeline/ground-truth/2026/11/30/14/")
    head = s3.head_object(Bucket="team-bucket", Key=listed["Key"])
    assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
    body = s3.get_object(Bucket="team-bucket", Key=listed["Key"])["Body"].read().decode()
    assert [json.loads(x)["groundTruthData"]["data"] for x in body.splitlines()] == ["1", "0"]
    assert f"to s3://team-bucket/{listed['Key']}" in capsys.readouterr().out
    assert not (tmp_path / "state").exists()


@mock_aws
def test_sagemaker_backend_reports_a_missing_bucket_and_writes_nothing(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    config = _binary_config(tmp_path, "sagemaker: {bucket: no-such-bucket}\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\na,1\n")
    with pytest.raises(ground_truth.GroundTruthUploadError, match="Cannot write s3://no-such-bucket/"):
        ground_truth.run(_args(tmp_path, labels, config=str(config), backend="sagemaker"), s3_client=s3)


def test_sagemaker_backend_needs_a_bucket(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\na,1\n")
    with pytest.raises(ground_truth.GroundTruthUploadError, match="needs a bucket"):
        ground_truth.run(_args(tmp_path, labels, config=str(_binary_config(tmp_path)), backend="sagemaker"))


def _main(tmp_path: Path, labels: Path, *options: str) -> int:
    return main(["monitor", "ground-truth", "--labels", str(labels), "--state-dir", str(tmp_path / "state"), *options])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("big.csv", "inference_id,label\n" + "x" * 200_000 + ",1\n", "line 2: a field longer than 131,072 characters"),
        (
            "deep.jsonl",
            '{"inference_id": "a", "label": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
            "line 1: JSON nested",
        ),
        ("big.jsonl", '{"inference_id": "a", "label": 1' + "0" * 5000 + "}\n", "line 1: label 100000"),
        (
            "latin1.csv",
            b"inference_id,label\na,1\ncaf\xe9,2\n",
            "line 3: not UTF-8 text (invalid continuation byte at byte 26 of the file",
        ),
        ("ids.jsonl", '{"inference_id": true, "label": 1}\n', "line 1: id true is a boolean"),
        ("dir.csv", None, "dir.csv: is a directory"),
    ],
)
def test_abusive_labels_files_are_named_lines_exit_2_no_traceback(tmp_path, capsys, name, content, expected):
    labels = tmp_path / name
    if content is None:
        labels.mkdir()
    elif isinstance(content, bytes):
        labels.write_bytes(content)
    else:
        labels.write_text(content)
    assert _main(tmp_path, labels) == 2
    error = capsys.readouterr().err
    assert expected in error and "Traceback" not in error and len(error) < 1000
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("options", "binary", "expected"),
    [
        (["--negative-class", "yes"], True, "--negative-class 'yes' is also data.positive_class"),
        (["--negative-class", "1"], True, "--negative-class '1' would mean 0, but the label 1 always means 1"),
        (
            ["--negative-class", "no"],
            False,
            "--negative-class 'no' is for binary labels; data.problem_type is regression",
        ),
        (["--id-column", "label", "--label-column", "label"], False, "--id-column and --label-column are both 'label'"),
    ],
)
def test_contradictory_options_are_refused_with_exit_2(tmp_path, capsys, options, binary, expected):
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\na,yes\nb,no\nc,1\n")
    config = ["--config", str(_binary_config(tmp_path))] if binary else []
    assert _main(tmp_path, labels, *config, *options) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


def test_a_bad_line_after_the_first_written_chunk_leaves_nothing(tmp_path, capsys):
    from monitoring.ground_truth_records import CHUNK_LINES

    labels = tmp_path / "labels.csv"
    good = "".join(f"req-{i},{i % 30}\n" for i in range(CHUNK_LINES * 2 + 5))
    labels.write_text("inference_id,label\n" + good + "last,n/a\n")
    assert _main(tmp_path, labels) == 2
    assert f"line {CHUNK_LINES * 2 + 7}: label 'n/a' is not a finite number" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()  # no temporary file, no folders made for it


def test_memory_does_not_grow_with_the_labels_file(tmp_path, capsys):
    import tracemalloc

    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_text("inference_id,label\na,1\n")
    large.write_text("inference_id,label\n" + "".join(f"req-{i:08d},{i % 29}.5\n" for i in range(60_000)))
    ground_truth.run(_args(tmp_path, small), clock=lambda: NOW)  # imports and configuration, not measured
    tracemalloc.start()
    try:
        ground_truth.run(_args(tmp_path, large), clock=lambda: NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "Wrote 60000 labels" in capsys.readouterr().out
    assert peak < 12_000_000  # the labels as tuples and the file as one bytes: 28 MB; streamed: about 5 MB


@mock_aws
def test_sagemaker_backend_puts_nothing_on_a_bad_line(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="team-bucket")
    config = _binary_config(tmp_path, "sagemaker: {bucket: team-bucket}\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\na,1\nb,2\n")
    with pytest.raises(LabelsError, match=r"line 3: label '2' is not 0 or 1"):
        ground_truth.run(_args(tmp_path, labels, config=str(config), backend="sagemaker"), s3_client=s3)
    assert "Contents" not in s3.list_objects_v2(Bucket="team-bucket")
