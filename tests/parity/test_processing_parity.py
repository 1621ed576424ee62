"""Preprocess, the data-quality baseline (profile and merge) and Evaluate of the local run, executed again with the
image's Python and pins (the project's code on PYTHONPATH from the staged lib, as the jobs get it): byte-identical
outputs."""

from __future__ import annotations

import pytest

from tests.parity.jobs import run_processing
from tests.parity.pipeline_run import tree_bytes


@pytest.mark.parametrize("step", ["Preprocess", "DataQualityProfile", "DataQualityBaseline", "Evaluate"])
def test_processing_step_in_the_images_python_gives_the_local_runners_outputs(step, local_run, container, tmp_path):
    request = local_run.arguments(step)
    assert request["AppSpecification"]["ImageUri"].endswith("/sagemaker-xgboost:3.0-5")

    outputs = run_processing(container, request, local_run, tmp_path / f"{step}.log")

    for item in request["ProcessingOutputConfig"]["Outputs"]:
        expected = tree_bytes(local_run.store.path(item["S3Output"]["S3Uri"]))
        assert expected, f"{step}: the local runner left nothing at {item['S3Output']['S3Uri']}"
        produced = tree_bytes(outputs[item["OutputName"]])
        assert sorted(produced) == sorted(expected), f"{step}/{item['OutputName']}: other files"
        different = [name for name in expected if produced[name] != expected[name]]
        assert not different, f"{step}/{item['OutputName']}: {different} differ from the local runner's"
