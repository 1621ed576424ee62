"""The analyzer on two local hosts: each profiles its ShardedByS3Key share (``analysis_stage=profile``), a
one-host merge job combines the partial profiles, and the baseline equals the one-host baseline, whichever
assignment of objects to hosts the runner makes."""

from __future__ import annotations

import json
import math

import pytest

from pipelines.local.jobs import run_processing
from pipelines.local.sharding import ENV_ASSIGNMENT
from pipelines.local.store import ObjectStore
from tests.conftest import ABALONE, ROOT

FILES = 6
DATA, PARTIALS, RESULT = "/opt/ml/processing/input/data", "/opt/ml/processing/input/partials", "/opt/ml/processing/out"


def analyzer(count: int, stage: str, source: tuple[str, str], output: str) -> dict:
    """A CreateProcessingJob request for the analyzer image (one S3 input, one output)."""
    local, uri = source
    return {
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.xlarge"}},
        "AppSpecification": {"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"},
        "ProcessingInputs": [
            {
                "InputName": "input",
                "S3Input": {
                    "S3Uri": uri,
                    "LocalPath": local,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "ShardedByS3Key" if stage == "profile" else "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "result", "S3Output": {"S3Uri": output, "LocalPath": RESULT}}]
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        "Environment": {
            "PYTHONPATH": str(ROOT),
            "analysis_stage": stage,
            "dataset_source": DATA,
            "dataset_format": json.dumps({"csv": {"header": True}}),
            "output_path": RESULT,
            "partial_profiles": PARTIALS,
        },
    }


@pytest.fixture(scope="module")
def one_host(tmp_path_factory) -> tuple[ObjectStore, dict]:
    root = tmp_path_factory.mktemp("analysis")
    store = ObjectStore(root / "state")
    head, *rows = ABALONE.read_text().splitlines()
    for i in range(FILES):
        store.put_bytes(f"s3://bucket/data/part-{i}.csv", ("\n".join([head, *rows[i::FILES]]) + "\n").encode())
    run_processing(
        analyzer(1, "full", (DATA, "s3://bucket/data"), "s3://bucket/one"), root / "one", store, root / "l", "a"
    )
    return store, read(store, "s3://bucket/one")


def read(store: ObjectStore, prefix: str) -> dict:
    return {
        name: json.loads(store.path(f"{prefix}/{name}").read_text()) for name in ("statistics.json", "constraints.json")
    }


@pytest.mark.parametrize("how", ["round-robin", "contiguous"])
def test_two_hosts_profile_their_shards_and_the_merge_equals_one_host(one_host, tmp_path, monkeypatch, how):
    store, expected = one_host
    monkeypatch.setenv(ENV_ASSIGNMENT, how)
    log = tmp_path / "log.txt"
    partials = f"s3://bucket/partials-{how}"
    run_processing(analyzer(2, "profile", (DATA, "s3://bucket/data"), partials), tmp_path / "p", store, log, "p")
    assert sorted(p.name for p in store.path(partials).iterdir()) == [
        "partial_profile-algo-1.json",
        "partial_profile-algo-2.json",
    ]
    merged = f"s3://bucket/merged-{how}"
    run_processing(analyzer(1, "merge", (PARTIALS, partials), merged), tmp_path / "m", store, log, "m")
    got = read(store, merged)
    assert got["constraints.json"] == expected["constraints.json"]  # from exact fields only
    one, two = expected["statistics.json"], got["statistics.json"]
    assert one["dataset"] == two["dataset"]
    for a, b in zip(one["features"], two["features"], strict=True):
        assert a["name"] == b["name"] and a["inferred_type"] == b["inferred_type"]
        if "numerical_statistics" in a:
            na, nb = a["numerical_statistics"], b["numerical_statistics"]
            assert (na["common"], na["min"], na["max"]) == (nb["common"], nb["min"], nb["max"])
            for key in ("sum", "mean", "std_dev"):
                assert math.isclose(na[key], nb[key], rel_tol=1e-12, abs_tol=0.0), (a["name"], key)
        else:
            assert a == b
