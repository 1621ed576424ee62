"""The check function (infrastructure/monitoring.yaml) may read the live pointer the deploy writes: its environment
names the same object ``mlops deploy`` writes, and every call ``read_pointer`` makes, recorded against moto, is
granted by CheckFunctionRole, with and without a KMS key (and the KMS grant is used only with one)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from monitoring.cloud.check_settings import read_pointer
from monitoring.cloud.names import monitored_features
from monitoring.cloud.parameters import Artifacts, Baselines, stack_parameters
from monitoring.cloud.repoint import RepointClients, live_pointer_uri, repoint
from monitoring.cloud.template import render_template
from pipelines.build import config_from_kwargs
from pipelines.registry.model import ModelVersion
from tests.conftest import ROOT
from tests.infrastructure.cfn_resolve import Resolver
from tests.infrastructure.iam_recorder import Recorder, State, evaluate, needs_of

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
BUCKET = "mlops-project-bucket"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ATTRIBUTES = {"CheckFunctionLogGroup.Arn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x:*"}


def version() -> ModelVersion:
    base = f"s3://{BUCKET}/abalone-pipeline/executions/e1/baseline"
    return ModelVersion(
        group="abalone",
        version=1,
        status="Approved",
        created="2025-03-01T00:00:00+00:00",
        arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/1",
        model_data_url=f"s3://{BUCKET}/abalone-pipeline/models/1/model.tar.gz",
        image_uri="xgboost-image",
        drift_baselines={"statistics": f"{base}/statistics.json", "constraints": f"{base}/constraints.json"},
    )


@pytest.mark.parametrize("kms", ["", KMS])
def test_the_check_role_reads_the_pointer_the_deploy_writes(kms):
    config = config_from_kwargs({"role": ROLE, "default_bucket": BUCKET}, str(ROOT / "mlops.yaml"))
    config = config.with_overrides(sagemaker={"kms_key_id": kms or None})
    template = render_template(monitored_features(config), (), ())  # what monitor deploy deploys
    artifacts = Artifacts("code/x/monitoring-lambdas.zip", f"s3://{BUCKET}/abalone-pipeline/code/x/lib", "image")
    resolver = Resolver(template, stack_parameters(config, artifacts, Baselines(), kms), ATTRIBUTES, placeholders=True)
    environment = resolver.resolve(template["Resources"]["CheckFunction"]["Properties"]["Environment"])["Variables"]
    assert environment["LIVE_POINTER_URI"] == live_pointer_uri(config)  # the object mlops deploy writes
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        recorder = Recorder()
        recorder.attach(s3)
        assert read_pointer(s3, environment["LIVE_POINTER_URI"]) is None  # none yet: listed, not a denied read
        repoint(config, version(), RepointClients(boto3.client("s3", region_name="us-east-1"), None))
        assert read_pointer(s3, environment["LIVE_POINTER_URI"]).reference == "abalone/1"
    needs, unmapped = needs_of(recorder.calls, State())
    assert not unmapped
    statements = resolver.policy_statements("CheckFunctionRole")
    missing, used = evaluate(statements, needs)
    assert not missing, missing
    pointer_sids = {"ReadTheLivePointer", "TellAMissingLivePointerFromADeniedOne"} | (
        {"DecryptTheLivePointer"} if kms else set()
    )
    assert pointer_sids == {sid for sid, _, _ in used}
    assert ("DecryptTheLivePointer" in {s["Sid"] for s in statements}) == bool(kms)
