"""Dead letters and failure alerts of both stacks: every asynchronous delivery (the schedule, every rule target, the
functions' own async failures) ends in a KMS-encrypted SQS queue kept 14 days, whose depth alarms to the alerts
topic; queue, key and topic policies admit exactly the senders; failed pipeline executions and failed deploy builds
alert (their patterns checked through moto's EventBridge)."""

from __future__ import annotations

import fnmatch
import json
import re

import boto3
import pytest
from moto import mock_aws

from pipelines.monitoring_stack.template import load_yaml, render_template
from tests.conftest import ROOT

FOURTEEN_DAYS = 14 * 24 * 3600
PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "NamePrefix": "abalone-endpoint",
    "EndpointName": "abalone-endpoint",
    "PipelineName": "abalone-pipeline",
    "PipelineArnName": "abalone-pipeline",
    "ModelQualityJobNamePrefix": "abalone-endpoint-mq",
    "ModelQualityScheduleName": "abalone-endpoint-model-quality",
    "ReportsS3Uri": "s3://bucket/abalone-pipeline/monitoring",
}


@pytest.fixture(scope="module")
def monitoring() -> dict:
    return render_template(["length", "sex"], model_quality_metrics=["rmse", "r2"])


@pytest.fixture(scope="module")
def deploy() -> dict:
    return load_yaml(ROOT / "infrastructure" / "deploy-on-approval.yaml")


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def sub(value) -> str:
    """An Fn::Sub string (or a plain one) with the test's parameters."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([^}]+)\}", lambda m: PARAMETERS[m.group(1)], text)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def source_rules(sources) -> set[str]:
    """The rules named by a policy's aws:SourceArn values (a conditional one: its true branch)."""
    rules = set()
    for source in as_list(sources):
        if "Fn::If" in source:
            condition, source, otherwise = source["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, condition
        rules.add(source["Fn::GetAtt"][0])
    return rules


def targets_with_dead_letters(template: dict) -> dict[str, str]:
    """Each asynchronous sender (rule target, schedule, function) -> the logical id of its dead-letter queue."""
    senders = {}
    for logical, rule in of_type(template, "AWS::Events::Rule").items():
        for target in rule["Properties"]["Targets"]:
            assert "RetryPolicy" in target, f"{logical}/{target['Id']} has no retry policy"
            assert "DeadLetterConfig" in target, f"{logical}/{target['Id']} has no dead-letter queue"
            senders[logical] = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    for logical, schedule in of_type(template, "AWS::Scheduler::Schedule").items():
        target = schedule["Properties"]["Target"]
        assert "DeadLetterConfig" in target, f"{logical} has no dead-letter queue"
        senders[logical] = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    for logical, function in of_type(template, "AWS::Lambda::Function").items():
        assert "DeadLetterConfig" in function["Properties"], f"{logical} has no dead-letter queue"
        senders[logical] = function["Properties"]["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
    return senders


@pytest.mark.parametrize(("stack", "key"), [("monitoring", "AlertsKey"), ("deploy", "DeployKey")])
def test_every_queue_is_encrypted_with_the_stacks_key_kept_14_days_and_alarmed(request, stack, key):
    template = request.getfixturevalue(stack)
    queues = of_type(template, "AWS::SQS::Queue")
    assert queues
    assert set(targets_with_dead_letters(template).values()) == set(queues)  # every queue has a sender, and back
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    for logical, queue in queues.items():
        properties = queue["Properties"]
        assert properties["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}, logical
        assert "SqsManagedSseEnabled" not in properties
        assert properties["MessageRetentionPeriod"] == FOURTEEN_DAYS
        (resource,) = [
            a
            for a in alarms
            if a["Properties"].get("Dimensions")
            == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical, "QueueName"]}}]
        ]
        alarm = resource["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == (
            "GreaterThanThreshold",
            0,
            "notBreaching",
        )
        assert resource.get("Condition") == queue.get("Condition")
        expected = (
            [{"Ref": "AlertsTopic"}]
            if stack == "monitoring"
            else {"Fn::If": ["HasAlertsTopic", [{"Ref": "AlertsTopicArn"}], {"Ref": "AWS::NoValue"}]}
        )
        assert alarm["AlarmActions"] == expected


def test_the_monitoring_senders_and_their_queues(monitoring):
    assert targets_with_dead_letters(monitoring) == {
        "CheckFunction": "CheckDeadLetterQueue",
        "CheckSchedule": "CheckDeadLetterQueue",
        "ProfileCompletedRule": "CheckDeadLetterQueue",  # with several instances: starts the merge jobs
        "ModelQualityFunction": "ModelQualityDeadLetterQueue",
        "ModelQualitySchedule": "ModelQualityDeadLetterQueue",
        "ModelQualityJobStateRule": "AlertsDeadLetterQueue",
        "ModelMonitorQualityJobStateRule": "AlertsDeadLetterQueue",
        "RetrainFunction": "RetrainDeadLetterQueue",
        "DriftAlarmRule": "RetrainDeadLetterQueue",
        "JobStateRule": "AlertsDeadLetterQueue",
        "PipelineFailedRule": "AlertsDeadLetterQueue",
        "DeployBuildFailedRule": "AlertsDeadLetterQueue",
    }


@pytest.mark.parametrize("stack", ["monitoring", "deploy"])
def test_queue_policies_admit_only_the_rules_that_dead_letter_there(request, stack):
    template = request.getfixturevalue(stack)
    senders = targets_with_dead_letters(template)
    rules = set(of_type(template, "AWS::Events::Rule"))
    for logical, policy in of_type(template, "AWS::SQS::QueuePolicy").items():
        (queue,) = [q["Ref"] for q in policy["Properties"]["Queues"]]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        allowed = [s for s in statements if s["Effect"] == "Allow"]
        expected_rules = {s for s, q in senders.items() if q == queue and s in rules}
        if not expected_rules:
            assert not allowed, f"{logical}: nothing delivers to {queue} through its policy"
        else:
            (statement,) = allowed
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}
            assert statement["Action"] == "sqs:SendMessage"
            assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
            assert source_rules(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == expected_rules
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {p["Properties"]["Queues"][0]["Ref"] for p in of_type(template, "AWS::SQS::QueuePolicy").values()} == set(
        of_type(template, "AWS::SQS::Queue")
    )


def role_statements(template: dict, role: str) -> list[dict]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"] if "Fn::If" not in s]


@pytest.mark.parametrize(
    ("role", "queue"),
    [
        ("CheckFunctionRole", "CheckDeadLetterQueue"),
        ("SchedulerRole", "CheckDeadLetterQueue"),
        ("RetrainFunctionRole", "RetrainDeadLetterQueue"),
        ("ModelQualityFunctionRole", "ModelQualityDeadLetterQueue"),
        ("ModelQualitySchedulerRole", "ModelQualityDeadLetterQueue"),
    ],
)
def test_functions_and_the_schedule_dead_letter_through_their_roles(monitoring, role, queue):
    statements = role_statements(monitoring, role)
    (send,) = [s for s in statements if "sqs:SendMessage" in as_list(s["Action"])]
    assert send["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    key = [s for s in statements if {"kms:GenerateDataKey", "kms:Decrypt"} <= set(as_list(s["Action"]))]
    assert any(s["Resource"] == {"Fn::GetAtt": ["AlertsKey", "Arn"]} for s in key)


@pytest.mark.parametrize(("stack", "key"), [("monitoring", "AlertsKey"), ("deploy", "DeployKey")])
def test_the_key_lets_eventbridge_encrypt_only_into_its_rule_fed_queues(request, stack, key):
    template = request.getfixturevalue(stack)
    senders = targets_with_dead_letters(template)
    rule_fed = {q for s, q in senders.items() if s in of_type(template, "AWS::Events::Rule")}
    queue_arns = {
        f"arn:aws:sqs:us-east-1:123456789012:{sub(template['Resources'][q]['Properties']['QueueName'])}"
        for q in rule_fed
    }
    statements = template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
    (statement,) = [s for s in statements if "kms:EncryptionContext:aws:sqs:arn" in json.dumps(s.get("Condition", {}))]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    context = statement["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sqs:arn"]
    assert {sub(v) for v in as_list(context)} == queue_arns


def test_the_topic_admits_exactly_the_alarms_and_rules_that_alert(monitoring, deploy):
    statements = monitoring["Resources"]["AlertsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    alarm_arns = set()
    for s in statements:
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}:
            alarm_arns |= {sub(v) for v in as_list(s["Condition"].get("ArnEquals", {}).get("aws:SourceArn", []))}
    for logical, alarm in of_type(monitoring, "AWS::CloudWatch::Alarm").items():
        if alarm["Properties"].get("AlarmActions") == [{"Ref": "AlertsTopic"}]:
            name = sub(alarm["Properties"]["AlarmName"])
            assert f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}" in alarm_arns, logical
    (rules,) = [s for s in statements if s.get("Sid") == "AlertRulesPublish"]
    publishing = {
        logical
        for logical, rule in of_type(monitoring, "AWS::Events::Rule").items()
        if any(t["Arn"] == {"Ref": "AlertsTopic"} for t in rule["Properties"]["Targets"])
    }
    assert source_rules(rules["Condition"]["ArnEquals"]["aws:SourceArn"]) == publishing
    for composite in of_type(monitoring, "AWS::CloudWatch::CompositeAlarm").values():  # drift and model quality
        name = sub(composite["Properties"]["AlarmName"])
        assert f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}" in alarm_arns, name
    # the deploy stack's dead-letter alarm (its EndpointName: the endpoint in lower case), for long names too
    (deploy_alarm,) = [s for s in statements if s.get("Sid") == "DeployStackDeadLetterAlarmPublishes"]
    pattern = deploy_alarm["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    name = deploy["Resources"]["DeadLetterAlarm"]["Properties"]["AlarmName"]["Fn::Sub"]
    for endpoint in ("abalone-endpoint", "x" * 39 + "-y" * 12, "a" * 63):
        prefix = endpoint.lower()[:40].rstrip("-")
        allowed = pattern.replace("${NamePrefix}", prefix)
        arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + name.replace("${EndpointName}", endpoint)
        assert fnmatch.fnmatchcase(arn, sub(allowed)), (arn, allowed)


def deliver(rule: dict, events: list[dict]) -> list[str]:
    """The messages the rule's target gets for these events (moto's EventBridge, the target's input transformer,
    an SQS queue standing in for the topic)."""
    pattern = json.loads(json.dumps(rule["EventPattern"], default=str))
    pattern = json.loads(
        re.sub(r'\{"Fn::Sub": "([^"]*)"\}', lambda m: json.dumps(sub(m.group(1))), json.dumps(pattern))
    )
    (target,) = rule["Targets"]
    transformer = dict(target["InputTransformer"])
    transformer["InputTemplate"] = sub(transformer["InputTemplate"])
    with mock_aws():
        client, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client.put_rule(Name="rule", EventPattern=json.dumps(pattern), State="ENABLED")
        client.put_targets(Rule="rule", Targets=[{"Id": "alerts", "Arn": arn, "InputTransformer": transformer}])
        entries = [
            {"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])} for e in events
        ]
        assert client.put_events(Entries=entries)["FailedEntryCount"] == 0
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(json.loads(m["Body"]) for m in received)


def pipeline_event(status: str, pipeline: str = "abalone-pipeline", name: str = "run-1") -> dict:
    execution = f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{pipeline}/execution/{name}"
    return {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
        "detail": {
            "pipelineArn": f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{pipeline}",
            "pipelineExecutionArn": execution,
            "pipelineExecutionDisplayName": name,
            "currentPipelineExecutionStatus": status,
            "previousPipelineExecutionStatus": "Executing",
        },
    }


def test_failed_pipeline_executions_alert(monitoring):
    rule = monitoring["Resources"]["PipelineFailedRule"]["Properties"]
    events = [
        pipeline_event("Failed", name="bad"),
        pipeline_event("Succeeded", name="good"),
        pipeline_event("Stopped", name="stopped"),
        pipeline_event("Failed", pipeline="other-pipeline", name="theirs"),
    ]
    (message,) = deliver(rule, events)
    assert message.startswith("Pipeline abalone-pipeline: execution bad ended Failed")
    assert "list-pipeline-execution-steps --pipeline-execution-arn arn:aws:sagemaker" in message


def build_event(status: str, project: str = "abalone-endpoint-deploy-on-approval") -> dict:
    return {
        "source": "aws.codebuild",
        "detail-type": "CodeBuild Build State Change",
        "detail": {
            "build-status": status,
            "project-name": project,
            "build-id": f"arn:aws:codebuild:us-east-1:123456789012:build/{project}:{status.lower()}",
        },
    }


def test_failed_deploy_builds_alert(monitoring, deploy):
    rule = monitoring["Resources"]["DeployBuildFailedRule"]["Properties"]
    project = sub(deploy["Resources"]["DeployProject"]["Properties"]["Name"])
    events = [
        build_event("FAILED", project),
        build_event("SUCCEEDED", project),
        build_event("IN_PROGRESS", project),
        build_event("FAILED", "someone-elses-project"),
    ]
    (message,) = deliver(rule, events)
    assert message.startswith(f"Approval deploy build arn:aws:codebuild:us-east-1:123456789012:build/{project}:failed")
    assert "ended FAILED" in message and f"/aws/codebuild/{project}" in message


def job_event(name: str, status: str, exit_message: str) -> dict:
    return {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Processing Job State Change",
        "detail": {"ProcessingJobName": name, "ProcessingJobStatus": status, "ExitMessage": exit_message},
    }


def test_model_quality_checks_with_violations_or_failures_alert(monitoring):
    rule = monitoring["Resources"]["ModelQualityJobStateRule"]["Properties"]
    violations = "CompletedWithViolations: Job completed successfully with 1 violations."
    events = [
        job_event("abalone-endpoint-mq-2025030413-0a1b2c3d", "Completed", violations),
        job_event("abalone-endpoint-mq-2025030414-0a1b2c3d", "Failed", "Failed: KeyError"),
        job_event("abalone-endpoint-mq-2025030415-0a1b2c3d", "Completed", "Completed: Job completed successfully."),
        job_event("abalone-endpoint-dq-2025030413-0a1b2c3d", "Completed", violations),  # data quality's own rule
    ]
    messages = deliver(rule, events)
    assert len(messages) == 2 and all(
        m.startswith("Model-quality check abalone-endpoint-mq-20250304") for m in messages
    )
    assert any("ended Failed" in m for m in messages)
    assert all("abalone-endpoint/abalone-endpoint-model-quality/" in m for m in messages)
