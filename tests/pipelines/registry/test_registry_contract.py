"""One contract, two registries: SQLite (local) and the SageMaker Model Registry (through moto)."""

from __future__ import annotations

import multiprocessing

import boto3
import pytest
from moto import mock_aws

from pipelines.registry import APPROVED, PENDING, REJECTED, RegistryError, parse_reference
from pipelines.registry.sagemaker import SageMakerRegistry
from pipelines.registry.sqlite import SQLiteRegistry


def package_request(group: str = "abalone", n: int = 1, status: str = PENDING) -> dict:
    """A CreateModelPackage request as the pipeline's Register step sends it."""
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
                "Statistics": {"ContentType": "application/json", "S3Uri": f"{base}/evaluation/evaluation.json"}
            },
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"{base}/baseline/statistics.json"},
                "Constraints": {"ContentType": "application/json", "S3Uri": f"{base}/baseline/constraints.json"},
            },
        },
        "DriftCheckBaselines": {
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"{base}/baseline/statistics.json"},
                "Constraints": {"ContentType": "application/json", "S3Uri": f"{base}/baseline/constraints.json"},
            }
        },
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
    assert first.metrics["model_statistics"].endswith("exec-1/evaluation/evaluation.json")
    assert first.drift_baselines == {
        "statistics": "s3://bucket/abalone-pipeline/executions/exec-1/baseline/statistics.json",
        "constraints": "s3://bucket/abalone-pipeline/executions/exec-1/baseline/constraints.json",
    }
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


def test_references_parse():
    assert parse_reference("abalone-p-1/12") == ("abalone-p-1", 12)
    with pytest.raises(RegistryError, match="expected GROUP/VERSION"):
        parse_reference("abalone")
