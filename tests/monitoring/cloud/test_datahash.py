"""The content hash of training data in S3 equals the local loop's hash of the same files."""

from __future__ import annotations

import hashlib

import pytest

from monitoring.cloud.datahash import is_content_addressed, s3_content_hash
from pipelines.monitor import retrain as local
from tests.conftest import ABALONE
from tests.monitoring.cloud.conftest import BUCKET

DATA = ABALONE.read_bytes()


def _expected(*files: tuple[str, bytes]) -> str:
    """The documented algorithm: per file in path order, its relative path, NUL, its bytes."""
    sha = hashlib.sha256()
    for name, data in files:
        sha.update(name.encode() + b"\0" + data)
    return sha.hexdigest()


def test_a_file_hashes_under_its_name(aws):
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key="p/data/abalone.csv", Body=DATA)
    s3.put_object(Bucket=BUCKET, Key="p/data/abalone.csv.bak", Body=b"other")
    assert s3_content_hash(s3, f"s3://{BUCKET}/p/data/abalone.csv") == (_expected(("abalone.csv", DATA)), 1)


def test_a_directory_hashes_its_files_relative_to_it_in_path_order(aws):
    s3 = aws.client("s3")
    # "a-b" sorts before "a/b" as a flat key, after it as a path ("a" < "a-b"): the local walk uses paths
    for key, body in (("p/retraining/a-b.csv", b"1"), ("p/retraining/a/b.csv", b"2"), ("p/retraining-old/x", b"3")):
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    s3.put_object(Bucket=BUCKET, Key="p/retraining/", Body=b"")  # a console "folder": no data
    expected = (_expected(("a/b.csv", b"2"), ("a-b.csv", b"1")), 2)
    assert s3_content_hash(s3, f"s3://{BUCKET}/p/retraining/") == expected
    assert s3_content_hash(s3, f"s3://{BUCKET}/p/retraining") == expected  # a prefix without / is the directory


def test_nothing_there_is_none(aws):
    assert s3_content_hash(aws.client("s3"), f"s3://{BUCKET}/p/empty/") is None


def test_the_same_files_hash_alike_locally_and_in_s3(aws, tmp_path):
    s3 = aws.client("s3")
    (tmp_path / "snap" / "part").mkdir(parents=True)
    (tmp_path / "snap" / "abalone.csv").write_bytes(DATA)
    (tmp_path / "snap" / "part" / "extra.csv").write_bytes(b"x,y\n1,2\n")
    s3.put_object(Bucket=BUCKET, Key="p/snap/abalone.csv", Body=DATA)
    s3.put_object(Bucket=BUCKET, Key="p/snap/part/extra.csv", Body=b"x,y\n1,2\n")
    assert s3_content_hash(s3, f"s3://{BUCKET}/p/snap/")[0] == local.content_hash(tmp_path / "snap")
    assert s3_content_hash(s3, f"s3://{BUCKET}/p/snap/abalone.csv")[0] == local.content_hash(
        tmp_path / "snap" / "abalone.csv"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"s3://b/abalone-pipeline/data/{'0a' * 32}/abalone.csv", True),
        (f"s3://b/abalone-pipeline/code/{'0a' * 32}/lib/", True),
        ("s3://b/abalone-pipeline/retraining/abalone.csv", False),
        (f"s3://b/abalone-pipeline/data/{'0a' * 31}/abalone.csv", False),
    ],
)
def test_staged_locations_are_recognised_as_immutable(uri, expected):
    assert is_content_addressed(uri) is expected
