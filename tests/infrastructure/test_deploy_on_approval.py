"""infrastructure/deploy-on-approval.yaml: cfn-lint clean, the rule's pattern matches only approvals of this group
(through moto's EventBridge to an SQS target, with the template's input transformer), least-privilege IAM,
encryption at rest, and the build command is one `mlops deploy` accepts."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import boto3
import pytest
import yaml
from cfnlint.api import lint_file
from moto import mock_aws

from pipelines.commands import deploy as deploy_command
from tests.conftest import ROOT
from tests.infrastructure.templates import load_template

TEMPLATE = ROOT / "infrastructure" / "deploy-on-approval.yaml"
GROUP = "abalone"


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


def resolve(value, parameters: dict):
    """Substitute {"Ref": parameter} (enough for the event pattern)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {k: resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    return value


def test_cfn_lint_is_clean():
    matches = lint_file(Path(TEMPLATE))
    assert not matches, "\n".join(str(m) for m in matches)


def event(status: str, group: str = GROUP, version: int = 3, source: str = "aws.sagemaker") -> dict:
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/{version}"
    return {
        "Source": source,
        "DetailType": "SageMaker Model Package State Change",
        "Detail": json.dumps(
            {
                "ModelPackageGroupName": group,
                "ModelPackageVersion": version,
                "ModelPackageArn": arn,
                "ModelApprovalStatus": status,
                "ModelPackageStatus": "Completed",
            }
        ),
    }


def test_only_approvals_of_this_group_reach_the_target(template):
    rule = template["Resources"]["ApprovalRule"]["Properties"]
    pattern = resolve(rule["EventPattern"], {"ModelPackageGroupName": GROUP})
    (target,) = rule["Targets"]
    with mock_aws():
        events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="deploys")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="approvals", EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(
            Rule="approvals",
            Targets=[{"Id": "deploy", "Arn": queue_arn, "InputTransformer": target["InputTransformer"]}],
        )
        sent = [
            event("Approved", version=3),
            event("Rejected", version=4),
            event("PendingManualApproval", version=5),
            event("Approved", group="other-group", version=6),
            event("Approved", version=7, source="my.app"),
            event("Approved", version=8),
        ]
        answer = events.put_events(Entries=sent)
        assert answer["FailedEntryCount"] == 0
        bodies = []
        for _ in range(5):
            received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            bodies += [m["Body"] for m in received.get("Messages", [])]
    overrides = [json.loads(body) for body in bodies]
    assert sorted(o["environmentVariablesOverride"][0]["value"] for o in overrides) == [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/8",
    ]
    assert overrides[0]["environmentVariablesOverride"][0] | {"value": "-"} == {
        "name": "MODEL_PACKAGE_ARN",
        "type": "PLAINTEXT",
        "value": "-",
    }


def policy_statements(template: dict) -> list[dict]:
    statements = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                statements.append(statement)
    return statements


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


NO_RESOURCE_LEVEL = {"application-autoscaling:DescribeScalableTargets"}  # Service Authorization Reference


def test_iam_is_least_privilege(template):
    statements = policy_statements(template)
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"wildcard action {action} in {statement.get('Sid')}"
        for resource in as_list(statement["Resource"]):
            # only actions without resource-level permissions may have "*"
            unscoped = set(as_list(statement["Action"])) - NO_RESOURCE_LEVEL
            assert resource != "*" or not unscoped, f"unscoped resource for {unscoped} in {statement.get('Sid')}"
    # nothing deleted or listed, except the model-monitor engine's previous job definitions, which CloudFormation
    # deletes (and tags, reading them back) when a repoint replaces them: only those of the monitoring stack
    removing = {
        (s["Sid"], a)
        for s in statements
        for a in as_list(s["Action"])
        if a.startswith("sagemaker:") and a.split(":")[1].startswith(("Delete", "List"))
    }
    assert removing == {
        ("ReplaceTheDataQualityJobDefinition", "sagemaker:DeleteDataQualityJobDefinition"),
        ("ReplaceTheDataQualityJobDefinition", "sagemaker:ListTags"),
        ("ReplaceTheModelQualityJobDefinition", "sagemaker:DeleteModelQualityJobDefinition"),
        ("ReplaceTheModelQualityJobDefinition", "sagemaker:ListTags"),
    }
    for sid, kind in (("ReplaceTheDataQualityJobDefinition", "dq"), ("ReplaceTheModelQualityJobDefinition", "mq")):
        (statement,) = [s for s in statements if s.get("Sid") == sid]
        assert statement["Resource"]["Fn::Sub"].endswith(f"-job-definition/${{MonitoringNamePrefix}}-{kind}-v*")
    (pass_role,) = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    (package,) = [s for s in statements if "sagemaker:DescribeModelPackage" in as_list(s["Action"])]
    assert package["Resource"]["Fn::Sub"].endswith(":model-package/${ModelPackageGroupName}/*")
    key_policy = template["Resources"]["DeployKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert all("*" not in a for s in key_policy for a in as_list(s["Action"]))


def test_encryption_at_rest(template):
    resources = template["Resources"]
    assert resources["DeployKey"]["Properties"]["EnableKeyRotation"] is True
    assert resources["DeployProject"]["Properties"]["EncryptionKey"] == {"Fn::GetAtt": ["DeployKey", "Arn"]}
    assert resources["BuildLogGroup"]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DeployKey", "Arn"]}
    assert resources["DeadLetterQueue"]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DeployKey", "Arn"]}


def test_the_build_runs_a_deploy_command_that_parses(template):
    project = template["Resources"]["DeployProject"]["Properties"]
    buildspec = yaml.safe_load(project["Source"]["BuildSpec"])
    assert all(isinstance(c, str) for phase in buildspec["phases"].values() for c in phase["commands"])
    command = next(c for c in buildspec["phases"]["build"]["commands"] if c.startswith("mlops deploy"))
    environment = {
        "MODEL_PACKAGE_ARN": "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3",
        "ENDPOINT_NAME": "abalone-endpoint",
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sm",
        "ARTIFACT_BUCKET": "bucket",
        "AWS_REGION": "us-east-1",
        "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:abalone-endpoint-monitoring-alerts",
    }
    variables = {v["Name"] for v in project["Environment"]["EnvironmentVariables"]}
    assert set(environment) - {"AWS_REGION"} <= variables  # CodeBuild sets AWS_REGION itself
    words = [re.sub(r"\$(\w+)", lambda m: environment[m.group(1)], w) for w in shlex.split(command)]
    parser = argparse.ArgumentParser()
    deploy_command.add_arguments(parser)
    args = parser.parse_args(words[2:])
    assert args.backend == "sagemaker" and args.model_package_arn == environment["MODEL_PACKAGE_ARN"]
    assert args.alert_topic_arn == environment["ALERT_TOPIC_ARN"]  # a failed repoint alerts the monitoring topic
    assert (args.endpoint, args.role_arn, args.bucket, args.region) == (
        "abalone-endpoint",
        "arn:aws:iam::123456789012:role/sm",
        "bucket",
        "us-east-1",
    )
