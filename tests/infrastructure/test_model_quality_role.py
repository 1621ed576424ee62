"""ModelQualityFunctionRole (infrastructure/monitoring.yaml) grants exactly what a model-quality check does: a whole
check after a deploy (the live pointer, the live version's model-quality constraints, listing the window's capture
and ground truth, the manifests, CreateProcessingJob with its tags and role, the thresholds' PutMetricData) is
recorded against moto and botocore's Stubber, mapped to IAM actions and resources (iam_recorder), and evaluated
against the role as the stack resolves it, with and without the project's KMS key. Every call is granted; every
grant but the Lambda runtime's own is used; removing any one used grant makes a call go unallowed."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from monitoring.cloud.model_quality_job import start_model_quality_check
from monitoring.cloud.model_quality_settings import ModelQualitySettings
from monitoring.cloud.s3util import encryption_args, split_s3_uri
from pipelines.monitoring_stack.repoint import RepointClients, repoint
from tests.conftest import ROOT
from tests.infrastructure.iam_recorder import (
    Need,
    Recorder,
    State,
    assert_every_grant_needed,
    evaluate,
    needs_of,
)
from tests.infrastructure.test_check_role import EVENT, RUNTIME  # the Lambda's own calls; a scheduled firing
from tests.infrastructure.test_check_role_reads_pointer import BUCKET, KMS, stack, version

REFERENCE = ROOT / "tests/fixtures/model-monitor/model-quality/regression-baseline/good_cases_constraints.json"
MQ_BASE = f"s3://{BUCKET}/abalone-pipeline/executions/e1/model-quality-baseline"


def _check(kms: str):
    """(the recorded calls, the resolver, the check's outcome) of one model-quality check after a deploy."""
    config, template, resolver = stack(kms)
    variables = resolver.resolve(template["Resources"]["ModelQualityFunction"]["Properties"]["Environment"])
    settings = ModelQualitySettings.from_env({**variables["Variables"], "AWS_REGION": "us-east-1"})
    assert settings.alarmed_metrics == config.model_quality_alarmed_metrics
    live = version()
    live = type(live)(
        **{
            **live.__dict__,
            "drift_baselines": {
                **live.drift_baselines,
                "model_statistics": f"{MQ_BASE}/statistics.json",
                "model_constraints": f"{MQ_BASE}/constraints.json",
            },
        }
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        repoint(config, live, RepointClients(s3, None))  # the deploy writes the pointer
        for uri, body in (
            (f"{MQ_BASE}/constraints.json", REFERENCE.read_bytes()),
            (f"{settings.job.capture_uri}/2025/03/04/10/capture.jsonl", b"{}\n"),
            (f"{settings.ground_truth_uri}/2025/03/04/11/labels.jsonl", b"{}\n"),
        ):
            bucket, key = split_s3_uri(uri)
            s3.put_object(Bucket=bucket, Key=key, Body=body, **encryption_args(kms))
        cloudwatch, sagemaker = (boto3.client(n, region_name="us-east-1") for n in ("cloudwatch", "sagemaker"))
        recorder = Recorder()
        for client in (s3, cloudwatch, sagemaker):
            recorder.attach(client)
        with Stubber(sagemaker) as stub:
            stub.add_response(
                "create_processing_job", {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:1:processing-job/x"}
            )
            clients = {"s3": s3, "cloudwatch": cloudwatch, "sagemaker": sagemaker}
            outcome = start_model_quality_check(settings, EVENT, clients)
    return recorder.calls, resolver, outcome


@pytest.fixture(scope="module", params=["", KMS], ids=["no-kms", "kms"])
def check(request):
    return request.param, *_check(request.param)


def test_the_check_ran_every_kind_of_call(check):
    _, calls, _, outcome = check
    assert outcome["status"] == "Started" and outcome["thresholds"], outcome
    operations = {(c.service, c.operation) for c in calls}
    assert {
        ("s3", "ListObjectsV2"),
        ("s3", "GetObject"),
        ("s3", "PutObject"),
        ("sagemaker", "CreateProcessingJob"),
        ("cloudwatch", "PutMetricData"),
    } == operations


def test_the_role_grants_every_call_and_nothing_unused(check):
    kms, calls, resolver, _ = check
    needs, unmapped = needs_of(calls, State())
    assert not unmapped, unmapped
    statements = resolver.policy_statements("ModelQualityFunctionRole")
    missing, used = evaluate(statements, needs)
    assert not missing, "\n".join(f"{n.action} on {n.resource} {dict(n.context)} ({n.origin})" for n in missing)
    used_sids = {sid for sid, _, _ in used}
    assert used_sids == {s["Sid"] for s in statements} - RUNTIME
    assert ("UseTheProjectsDataKey" in used_sids) == bool(kms)
    assert_every_grant_needed(statements, needs, used, RUNTIME)


def test_the_role_does_not_reach_past_the_checks_prefixes(check):
    """Listing other keys of the capture bucket, writing beside the manifests, or publishing to Model Monitor's own
    namespace (the job does that, with its own role) is refused."""
    resolver = check[2]
    statements = resolver.policy_statements("ModelQualityFunctionRole")
    outside = [
        Need("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", (("s3:prefix", "abalone-pipeline/code/"),)),
        Need("s3:PutObject", f"arn:aws:s3:::{BUCKET}/abalone-pipeline/monitoring/abalone-endpoint/live.json"),
        Need("s3:GetObject", f"arn:aws:s3:::{BUCKET}/abalone-pipeline/executions/e1/model/model.tar.gz"),
        Need("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", "aws/sagemaker/Endpoints/model-metrics"),)),
        Need(
            "sagemaker:CreateProcessingJob",
            "arn:aws:sagemaker:us-east-1:123456789012:processing-job/abalone-endpoint-dq-1",
        ),
    ]
    missing, _ = evaluate(statements, outside)
    assert missing == outside
