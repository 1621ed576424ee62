"""The rules that chain and report the two jobs of a check on several instances (infrastructure/monitoring.yaml),
their patterns run through moto's EventBridge: only a completed profile job invokes the check function (whose
handler takes the delivered event for a merge), and the job-state rule alerts on profile jobs that failed or were
stopped (which start no merge) and on merge jobs that failed or found violations."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from monitoring.cloud.check_job import is_job_state_event
from monitoring.cloud.check_merge import profile_job_name
from pipelines.monitoring_stack.template import render_template

PREFIX = "abalone-endpoint-dq"
VALUES = {"JobNamePrefix": PREFIX, "EndpointName": "abalone-endpoint", "NamePrefix": "abalone-endpoint"}
VALUES |= {"ReportsS3Uri": "s3://bucket/abalone-pipeline/monitoring", "MonitoringScheduleName": "abalone-endpoint-dq"}
PROFILE = f"{PREFIX}-p-2025030412-0a1b2c3d"
MERGE = f"{PREFIX}-m-2025030412-0a1b2c3d"
ONE_HOST = f"{PREFIX}-2025030412-0a1b2c3d"
VIOLATIONS = "CompletedWithViolations: Job completed successfully with 1 violations."


@pytest.fixture(scope="module")
def resources() -> dict:
    return render_template(["length", "sex"])["Resources"]


def _sub(value):
    """The template's Fn::Sub strings with the test's values."""
    text = json.dumps(value)
    return json.loads(
        re.sub(
            r'\{"Fn::Sub": "([^"]*)"\}',
            lambda m: json.dumps(re.sub(r"\$\{([^}]+)\}", lambda v: VALUES[v.group(1)], m.group(1))),
            text,
        )
    )


def job_event(name: str, status: str, exit_message: str = "") -> dict:
    detail = {"ProcessingJobName": name, "ProcessingJobStatus": status, "ExitMessage": exit_message}
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Processing Job State Change", "detail": detail}


def matched(pattern: dict, events: list[dict]) -> list[dict]:
    """The events moto's EventBridge delivers for ``pattern`` (to an SQS queue standing in for the target)."""
    with mock_aws():
        client, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="target")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client.put_rule(Name="rule", EventPattern=json.dumps(_sub(pattern)), State="ENABLED")
        client.put_targets(Rule="rule", Targets=[{"Id": "target", "Arn": arn}])
        entries = [
            {"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])} for e in events
        ]
        assert client.put_events(Entries=entries)["FailedEntryCount"] == 0
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in received]


def test_only_a_completed_profile_job_invokes_the_check_function_for_its_merge(resources):
    rule = resources["ProfileCompletedRule"]["Properties"]
    events = [
        job_event(PROFILE, "Completed", "Completed: Job completed successfully. Host algo-1 of 2 profiled 10 records"),
        job_event(PROFILE, "InProgress"),
        job_event(PROFILE.replace("0a1b", "1a1b"), "Failed", "Failed: KeyError"),
        job_event(PROFILE.replace("0a1b", "2a1b"), "Stopped"),
        job_event(MERGE, "Completed", "Completed: Job completed successfully."),  # a merge starts nothing more
        job_event(ONE_HOST, "Completed", "Completed: Job completed successfully."),
        job_event("abalone-endpoint-mq-p-2025030412-0a1b2c3d", "Completed"),  # not this check's prefix
    ]
    (delivered,) = matched(rule["EventPattern"], events)
    assert is_job_state_event(delivered) and profile_job_name(delivered) == PROFILE  # what the handler reads
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["CheckFunction", "Arn"]} and "Input" not in target  # the event itself
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["CheckDeadLetterQueue", "Arn"]}
    permission = resources["ProfileCompletedRuleInvokesCheck"]["Properties"]
    assert permission["FunctionName"] == {"Fn::GetAtt": ["CheckFunction", "Arn"]}
    assert permission["SourceArn"] == {"Fn::GetAtt": ["ProfileCompletedRule", "Arn"]}
    assert permission["Principal"] == "events.amazonaws.com"


def test_the_job_state_rule_alerts_on_profile_jobs_that_start_no_merge_and_on_merge_results(resources):
    pattern = dict(resources["JobStateRule"]["Properties"]["EventPattern"])
    pattern["detail"] = pattern["detail"]["Fn::If"][1]  # the processing engine's branch
    events = [
        job_event(PROFILE, "Failed", "Failed: KeyError"),
        job_event(PROFILE.replace("0a1b", "1a1b"), "Stopped"),
        job_event(PROFILE.replace("0a1b", "2a1b"), "Completed", "Completed: Job completed successfully."),
        job_event(MERGE, "Completed", VIOLATIONS),
        job_event(MERGE.replace("0a1b", "1a1b"), "Failed", "Failed: PartialProfileError"),
        job_event(MERGE.replace("0a1b", "2a1b"), "Completed", "Completed: Job completed successfully."),
    ]
    alerted = sorted(
        (e["detail"]["ProcessingJobName"], e["detail"]["ProcessingJobStatus"]) for e in matched(pattern, events)
    )
    assert alerted == [
        (MERGE, "Completed"),
        (MERGE.replace("0a1b", "1a1b"), "Failed"),
        (PROFILE, "Failed"),
        (PROFILE.replace("0a1b", "1a1b"), "Stopped"),
    ]
