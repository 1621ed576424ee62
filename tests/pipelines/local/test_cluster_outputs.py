"""A multi-instance processing job publishes its outputs all or none: when two hosts collide on a name in one output,
no other output of the job reaches its S3 prefix either (SageMaker uploads a failed job's outputs nowhere)."""

from __future__ import annotations

import pytest

from pipelines.local.store import StepFailure
from tests.pipelines.local.test_cluster_jobs import processing_request, run, store  # noqa: F401 (fixture)


def test_a_collision_in_one_output_publishes_no_output(store, tmp_path):  # noqa: F811
    request = processing_request(2, {"ACTION_algo_1": "collide", "ACTION_algo_2": "collide"})
    first = {
        "OutputName": "ref",
        "S3Output": {"S3Uri": "s3://bucket/first", "LocalPath": "/opt/ml/processing/input/ref"},
    }
    request["ProcessingOutputConfig"]["Outputs"].insert(0, first)  # merged before the colliding one: fine on its own
    with pytest.raises(StepFailure, match=r"output out: hosts algo-1 and algo-2 both wrote result\.txt"):
        run(store, tmp_path, request)
    assert not store.path("s3://bucket/first").exists()
    assert not store.path("s3://bucket/out").exists()
