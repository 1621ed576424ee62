"""CheckFunctionRole (infrastructure/monitoring.yaml) grants exactly what the scheduled data-quality check does, with
one instance and with two: a whole check after a deploy (the live pointer, listing the hour's capture,
CreateProcessingJob with its tags and role) and, with two instances, the profile job's completion (DescribeProcessingJob
and ListTags of that job, CreateProcessingJob of its merge job) are recorded against moto and botocore's Stubber,
mapped to IAM actions and resources (iam_recorder), and evaluated against the role as the stack resolves it, with
and without the project's KMS key. Every call is granted; every grant but the Lambda runtime's own is used; removing
any one used grant makes a call go unallowed; the profile jobs' grant exists only with several instances."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from monitoring.cloud.check_job import start_check
from monitoring.cloud.check_merge import start_merge
from monitoring.cloud.check_settings import CheckSettings
from monitoring.cloud.s3util import encryption_args, split_s3_uri
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, stack_parameters
from pipelines.monitoring_stack.repoint import RepointClients, repoint
from tests.infrastructure import iam_recorder
from tests.infrastructure.cfn_resolve import Resolver
from tests.infrastructure.iam_recorder import (
    Need,
    Recorder,
    State,
    assert_every_grant_needed,
    evaluate,
    needs_of,
)
from tests.infrastructure.test_check_role_reads_pointer import ATTRIBUTES, BUCKET, KMS, stack, version

RUNTIME = {"WriteItsLogs", "DeadLetterItsFailedInvocations", "UseTheStacksKey"}  # Lambda's own calls
EVENT = {"scheduled_time": "2025-03-04T13:00:00Z", "execution_id": "exec-1"}
PROFILE_SID = "ReadItsCompletedProfileJobs"
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:processing-job"


def _processing_job_table(monkeypatch) -> None:
    """The two calls of the merge stage, mapped the same explicit way as the recorder's table."""
    job = iam_recorder._sm
    monkeypatch.setitem(
        iam_recorder.TABLE,
        ("sagemaker", "DescribeProcessingJob"),
        lambda call, state: [
            Need("sagemaker:DescribeProcessingJob", job("processing-job", call.params["ProcessingJobName"]))
        ],
    )
    monkeypatch.setitem(
        iam_recorder.TABLE,
        ("sagemaker", "ListTags"),
        lambda call, state: [Need("sagemaker:ListTags", call.params["ResourceArn"])],
    )


def _described(request: dict) -> dict:
    """DescribeProcessingJob's answer for the completed job ``request`` started."""
    kept = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingJobName", "ProcessingResources")
    kept += ("StoppingCondition", "AppSpecification", "Environment", "NetworkConfig", "RoleArn")
    return {
        **{k: request[k] for k in kept},
        "ProcessingJobArn": f"{JOB_ARN}/{request['ProcessingJobName']}",
        "ProcessingJobStatus": "Completed",
        "CreationTime": datetime(2025, 3, 4, 13, 1, tzinfo=timezone.utc),
    }


def _run(kms: str, count: int):
    """(the recorded calls, the resolver, the outcomes) of a check after a deploy, and with several instances the
    profile job's completion."""
    config, template, _ = stack(kms)
    artifacts = Artifacts("code/x/monitoring-lambdas.zip", f"s3://{BUCKET}/abalone-pipeline/code/x/lib", "image")
    parameters = {**stack_parameters(config, artifacts, Baselines(), kms), "ProcessingInstanceCount": str(count)}
    resolver = Resolver(template, parameters, ATTRIBUTES, placeholders=True)
    variables = resolver.resolve(template["Resources"]["CheckFunction"]["Properties"]["Environment"])["Variables"]
    settings = CheckSettings.from_env({**variables, "AWS_REGION": "us-east-1"})
    assert settings.instance_count == count
    seen: list[dict] = []
    outcomes = []
    with mock_aws():
        s3, sagemaker = boto3.client("s3", region_name="us-east-1"), boto3.client("sagemaker", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        repoint(config, version(), RepointClients(s3, None))  # the deploy writes the pointer
        bucket, key = split_s3_uri(f"{settings.capture_uri}/2025/03/04/12/capture.jsonl")
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n", **encryption_args(kms))
        recorder = Recorder()
        for client in (s3, sagemaker):
            recorder.attach(client)
        sagemaker.meta.events.register(
            "provide-client-params.sagemaker.CreateProcessingJob", lambda params, **_: seen.append(params)
        )
        with Stubber(sagemaker) as stub:
            stub.add_response("create_processing_job", {"ProcessingJobArn": f"{JOB_ARN}/x"})
            outcomes.append(start_check(settings, EVENT, sagemaker, s3))
            if count > 1:
                stub.add_response("describe_processing_job", _described(seen[0]))
                stub.add_response("list_tags", {"Tags": seen[0]["Tags"]})
                stub.add_response("create_processing_job", {"ProcessingJobArn": f"{JOB_ARN}/y"})
                detail = {"ProcessingJobName": seen[0]["ProcessingJobName"], "ProcessingJobStatus": "Completed"}
                event = {"detail-type": "SageMaker Processing Job State Change", "detail": detail}
                outcomes.append(start_merge(settings, event, sagemaker))
            stub.assert_no_pending_responses()
    return recorder.calls, resolver, outcomes


@pytest.fixture(scope="module", params=[("", 1), (KMS, 1), ("", 2), (KMS, 2)], ids=["1", "1-kms", "2", "2-kms"])
def check(request):
    with pytest.MonkeyPatch.context() as monkeypatch:
        _processing_job_table(monkeypatch)
        kms, count = request.param
        calls, resolver, outcomes = _run(kms, count)
        needs, unmapped = needs_of(calls, State())
    return kms, count, calls, resolver, outcomes, needs, unmapped


def test_the_check_ran_every_kind_of_call(check):
    _, count, calls, _, outcomes, _, _ = check
    assert [o["status"] for o in outcomes] == ["Started"] * count
    assert [o["stage"] for o in outcomes] == (["full"] if count == 1 else ["profile", "merge"])
    operations = {(c.service, c.operation) for c in calls}
    expected = {("s3", "ListObjectsV2"), ("s3", "GetObject"), ("sagemaker", "CreateProcessingJob")}
    if count > 1:
        expected |= {("sagemaker", "DescribeProcessingJob"), ("sagemaker", "ListTags")}
    assert operations == expected


def test_the_role_grants_every_call_and_nothing_unused(check):
    kms, count, _, resolver, _, needs, unmapped = check
    assert not unmapped, unmapped
    statements = resolver.policy_statements("CheckFunctionRole")
    assert (PROFILE_SID in {s["Sid"] for s in statements}) == (count > 1)
    missing, used = evaluate(statements, needs)
    assert not missing, "\n".join(f"{n.action} on {n.resource} {dict(n.context)} ({n.origin})" for n in missing)
    used_sids = {sid for sid, _, _ in used}
    assert used_sids == {s["Sid"] for s in statements} - RUNTIME - ({"DecryptTheLivePointer"} if not kms else set())
    assert ("DecryptTheLivePointer" in used_sids) == bool(kms)
    assert_every_grant_needed(statements, needs, used, RUNTIME)


def test_the_role_reads_only_its_own_profile_jobs(check):
    _, count, _, resolver, _, _, _ = check
    if count == 1:
        pytest.skip("with one instance the role reads no processing job at all (checked above)")
    statements = resolver.policy_statements("CheckFunctionRole")
    outside = [
        Need("sagemaker:DescribeProcessingJob", f"{JOB_ARN}/abalone-endpoint-dq-2025030412-0a1b2c3d"),  # one-host
        Need("sagemaker:DescribeProcessingJob", f"{JOB_ARN}/abalone-endpoint-dq-m-2025030412-0a1b2c3d"),  # a merge
        Need("sagemaker:ListTags", f"{JOB_ARN}/abalone-endpoint-mq-2025030412-0a1b2c3d"),
        Need("sagemaker:CreateProcessingJob", f"{JOB_ARN}/abalone-endpoint-mq-2025030412-0a1b2c3d"),
        Need("sagemaker:StopProcessingJob", f"{JOB_ARN}/abalone-endpoint-dq-p-2025030412-0a1b2c3d"),
    ]
    missing, _ = evaluate(statements, outside)
    assert missing == outside
