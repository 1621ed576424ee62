"""One contract, two registries: SQLite (local) and the SageMaker Model Registry (through moto)."""

from __future__ import annotations

import itertools
import multiprocessing

import boto3
import pytest
from moto import mock_aws

from pipelines.registry import APPROVED, PENDING, REJECTED, RegistryError, parse_reference
from pipelines.registry.sagemaker import SageMakerRegistry
from pipelines.registry.sqlite import SQLiteRegistry


def _source(uri: str) -> dict:
    return {"ContentType": "application/json", "S3Uri": uri}


def package_request(group: str = "abalone", n: int = 1, status: str = PENDING) -> dict:
    """A CreateModelPackage request as the pipeline's Register step sends it: data-quality and model-quality
    baselines in ModelMetrics and DriftCheckBaselines, evaluation.json in CustomerMetadataProperties."""
    base = f"s3://bucket/abalone-pipeline/executions/exec-{n}"
    return {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
                    "ModelDataUrl": f"s3://bucket/abalone-pipeline/models/train-{n}/output/model.tar.gz",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    },
                }
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": _source(f"{base}/model-quality/statistics.json"),
                "Constraints": _source(f"{base}/model-quality/constraints.json"),
            },
            "ModelDataQuality": {
                "Statistics": _source(f"{base}/baseline/statistics.json"),
                "Constraints": _source(f"{base}/baseline/constraints.json"),
            },
        },
        "DriftCheckBaselines": {
            "ModelDataQuality": {
                "Statistics": _source(f"{base}/baseline/statistics.json"),
                "Constraints": _source(f"{base}/baseline/constraints.json"),
            },
            "ModelQuality": {
                "Statistics": _source(f"{base}/model-quality/statistics.json"),
                "Constraints": _source(f"{base}/model-quality/constraints.json"),
            },
        },
        "CustomerMetadataProperties": {"evaluation": f"{base}/evaluation/evaluation.json"},
    }


@pytest.fixture(params=["sqlite", "sagemaker"])
def registry(request, tmp_path):
    if request.param == "sqlite":
        yield SQLiteRegistry(tmp_path / "registry.db")
        return
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        yield SageMakerRegistry(boto3.client("sagemaker", region_name="us-east-1"), s3, "bucket")


def test_versions_are_consecutive_per_group_and_keep_what_was_registered(registry):
    first = registry.register(package_request(n=1), source="exec-1")
    second = registry.register(package_request(n=2))
    other = registry.register(package_request(group="other"))
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.status == PENDING and first.group == "abalone"
    assert first.model_data_url.endswith("train-1/output/model.tar.gz")
    assert first.environment["SAGEMAKER_PROGRAM"] == "inference.py"
    assert first.content_types == ("text/csv", "application/json")
    base = "s3://bucket/abalone-pipeline/executions/exec-1"
    assert first.metrics == {
        "evaluation": f"{base}/evaluation/evaluation.json",
        "model_statistics": f"{base}/model-quality/statistics.json",
        "model_constraints": f"{base}/model-quality/constraints.json",
        "model_data_statistics": f"{base}/baseline/statistics.json",
        "model_data_constraints": f"{base}/baseline/constraints.json",
    }
    assert first.drift_baselines == {
        "statistics": f"{base}/baseline/statistics.json",
        "constraints": f"{base}/baseline/constraints.json",
        "model_statistics": f"{base}/model-quality/statistics.json",
        "model_constraints": f"{base}/model-quality/constraints.json",
    }
    assert first.source == "exec-1"  # beside the evaluation in CustomerMetadataProperties on SageMaker
    assert first.arn.endswith("model-package/abalone/1") and first.created
    assert [v.version for v in registry.list_versions("abalone")] == [2, 1]
    assert {v.reference for v in registry.list_versions()} == {"abalone/1", "abalone/2", "other/1"}


def test_approval_and_rejection_are_recorded_with_who_when_and_why(registry):
    registry.register(package_request(n=1))
    registry.register(package_request(n=2))
    approved = registry.set_status("abalone", 2, APPROVED, by="alice", note="RMSE 2.1, checked the residuals")
    assert approved.status == APPROVED
    registry.set_status("abalone", 1, REJECTED, by="bob", note="superseded")
    assert [v.version for v in registry.list_versions("abalone", APPROVED)] == [2]
    assert [v.version for v in registry.list_versions(status=REJECTED)] == [1]
    (event,) = registry.history("abalone", 2)
    assert (event.from_status, event.to_status, event.by, event.note) == (
        PENDING,
        APPROVED,
        "alice",
        "RMSE 2.1, checked the residuals",
    )
    assert event.at
    registry.set_status("abalone", 2, REJECTED, by="carol", note="drift found")
    assert [e.to_status for e in registry.history("abalone", 2)] == [APPROVED, REJECTED]


def test_unknown_group_or_version_is_a_clear_error(registry):
    registry.register(package_request())
    with pytest.raises(RegistryError, match="Unknown model package group 'nope'") as unknown:
        registry.set_status("nope", 1, APPROVED, by="alice")
    where = str(registry.path) if isinstance(registry, SQLiteRegistry) else "SageMaker Model Registry (us-east-1)"
    assert where in str(unknown.value)  # the registry it read: a state directory's, or a region's
    with pytest.raises(RegistryError, match="Unknown version abalone/7"):
        registry.set_status("abalone", 7, APPROVED, by="alice")
    with pytest.raises(RegistryError, match="status must be one of"):
        registry.set_status("abalone", 1, "Fine", by="alice")
    with pytest.raises(RegistryError, match="no ModelPackageGroupName"):
        registry.register({"InferenceSpecification": {}})


def _register_many(path: str, count: int, queue) -> None:
    registry = SQLiteRegistry(path)
    queue.put([registry.register(package_request(n=i)).version for i in range(count)])


def test_two_processes_registering_at_once_get_distinct_consecutive_versions(tmp_path):
    path = str(tmp_path / "registry.db")
    SQLiteRegistry(path)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_register_many, args=(path, 15, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    versions = sorted(results[0] + results[1])
    assert versions == list(range(1, 31))
    assert all(r == sorted(r) for r in results)


def _flip_status(path: str, count: int, who: str) -> None:
    registry = SQLiteRegistry(path)
    for i in range(count):
        registry.set_status("abalone", 1, APPROVED if i % 2 else REJECTED, by=who)


def test_status_changes_at_once_from_two_processes_record_an_unbroken_history(tmp_path):
    """Each approval event's from_status is the status it replaced, even with two writers at once: the status is
    read in the write transaction that replaces it, not before it."""
    path = str(tmp_path / "registry.db")
    SQLiteRegistry(path).register(package_request())
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_flip_status, args=(path, 20, f"worker-{n}")) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    events = SQLiteRegistry(path).history("abalone", 1)
    assert len(events) == 40
    assert events[0].from_status == PENDING
    assert all(later.from_status == earlier.to_status for earlier, later in itertools.pairwise(events))


def test_references_parse():
    assert parse_reference("abalone-p-1/12") == ("abalone-p-1", 12)
    with pytest.raises(RegistryError, match="expected GROUP/VERSION"):
        parse_reference("abalone")
    for other_digits in ("abalone/\u00b2", "abalone/\u0662", "abalone/\uff11"):  # superscript, Arabic, full-width
        with pytest.raises(RegistryError, match="expected GROUP/VERSION"):
            parse_reference(other_digits)


def test_a_note_or_approver_sagemaker_would_not_keep_is_refused_and_nothing_changes(registry):
    registry.register(package_request())
    for note, by, expected in (
        ("x" * 1025, "alice", "note must be at most 1024 characters"),
        ("fine\nsecond line", "alice", "note must be one line of printable text"),
        ("fine", "ev\x1b]0;title\x07il", "approver \\(by\\) must be one line of printable text"),
    ):
        with pytest.raises(RegistryError, match=expected):
            registry.set_status("abalone", 1, APPROVED, by=by, note=note)
    assert registry.get("abalone", 1).status == PENDING and registry.history("abalone", 1) == []
    assert registry.set_status("abalone", 1, APPROVED, by="alice", note="y" * 1024).approval_note == "y" * 1024


def test_the_drift_baselines_of_each_check_type_are_kept_apart(registry):
    """A version with model-quality baselines that differ from the metrics' (RegisterNewModelQualityBaseline=false
    keeps the previous one for drift checks), and a version registered before model quality existed."""
    request = package_request(n=2)
    request["DriftCheckBaselines"]["ModelQuality"] = {
        "Statistics": _source("s3://bucket/previous/model-quality/statistics.json"),
        "Constraints": _source("s3://bucket/previous/model-quality/constraints.json"),
    }
    version = registry.register(request)
    assert version.drift_baselines["model_statistics"] == "s3://bucket/previous/model-quality/statistics.json"
    assert version.drift_baselines["model_constraints"] == "s3://bucket/previous/model-quality/constraints.json"
    assert version.metrics["model_constraints"].endswith("exec-2/model-quality/constraints.json")
    assert version.drift_baselines["statistics"].endswith("exec-2/baseline/statistics.json")
    old = package_request(n=3)
    del old["DriftCheckBaselines"]["ModelQuality"], old["ModelMetrics"]["ModelQuality"]["Constraints"]
    del old["CustomerMetadataProperties"]
    old["ModelMetrics"]["ModelQuality"]["Statistics"] = _source("s3://bucket/exec-3/evaluation/evaluation.json")
    before = registry.register(old)
    assert set(before.drift_baselines) == {"statistics", "constraints"}
    assert before.metrics["model_statistics"] == "s3://bucket/exec-3/evaluation/evaluation.json"
    assert "evaluation" not in before.metrics and "model_constraints" not in before.metrics
    assert registry.get("abalone", before.version).metrics == before.metrics  # read back the same
