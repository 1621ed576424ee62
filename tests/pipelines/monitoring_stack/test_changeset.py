"""Deploying through change sets: create, update, no change, dry run (moto), and the refusals (Stubber)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from pipelines.cloud import CloudError
from pipelines.monitoring_stack.changeset import WaitPolicy, deploy_stack, describe_stack, stack_parameters

FAST = WaitPolicy(delay=1, max_attempts=3)
TEMPLATE = json.dumps(
    {
        "Parameters": {"Name": {"Type": "String"}, "Retention": {"Type": "String", "Default": "345600"}},
        "Resources": {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": {"Ref": "Name"}, "MessageRetentionPeriod": {"Ref": "Retention"}},
            },
        },
    }
)


def clock(second: int = 0):
    return lambda: datetime(2025, 3, 4, 13, 0, second, tzinfo=timezone.utc)


@pytest.fixture
def cfn(aws):
    return aws.client("cloudformation")


def test_a_new_stack_is_created_through_a_create_change_set(cfn):
    result = deploy_stack(cfn, "mon", {"Name": "q1"}, template_body=TEMPLATE, wait=FAST, now=clock())
    assert (result.change_set_type, result.status, result.stack_status) == ("CREATE", "executed", "CREATE_COMPLETE")
    assert [(c.action, c.logical_id, c.resource_type) for c in result.changes] == [("Add", "Queue", "AWS::SQS::Queue")]
    assert stack_parameters(describe_stack(cfn, "mon"))["Name"] == "q1"


def test_an_update_shows_the_changed_parameters_and_resources(cfn):
    deploy_stack(cfn, "mon", {"Name": "q1"}, template_body=TEMPLATE, wait=FAST, now=clock())
    result = deploy_stack(
        cfn, "mon", {"Name": "q1", "Retention": "60"}, template_body=TEMPLATE, wait=FAST, now=clock(1)
    )
    assert (result.change_set_type, result.status) == ("UPDATE", "executed")
    assert result.parameter_changes == {"Retention": ("345600", "60")}
    assert stack_parameters(describe_stack(cfn, "mon"))["Retention"] == "60"


def test_an_update_without_changes_executes_nothing_and_leaves_no_change_set(cfn):
    deploy_stack(cfn, "mon", {"Name": "q1"}, template_body=TEMPLATE, wait=FAST, now=clock())
    result = deploy_stack(cfn, "mon", {"Name": "q1"}, template_body=TEMPLATE, wait=FAST, now=clock(1))
    assert (result.status, result.changes, result.parameter_changes) == ("no-changes", (), {})
    with pytest.raises(ClientError):  # deleted (moto answers ValidationError, AWS ChangeSetNotFound)
        cfn.describe_change_set(StackName="mon", ChangeSetName="mlops-20250304-130001")


def test_a_dry_run_of_a_new_stack_leaves_nothing_behind(cfn):
    result = deploy_stack(cfn, "mon", {"Name": "q1"}, template_body=TEMPLATE, dry_run=True, wait=FAST, now=clock())
    assert (result.status, result.change_set_type) == ("dry-run", "CREATE")
    assert [c.logical_id for c in result.changes] == ["Queue"]
    assert describe_stack(cfn, "mon") is None


def test_a_dry_run_of_an_update_changes_nothing(cfn):
    deploy_stack(cfn, "mon", {"Name": "q1"}, template_body=TEMPLATE, wait=FAST, now=clock())
    result = deploy_stack(cfn, "mon", {"Name": "q2"}, template_body=TEMPLATE, dry_run=True, wait=FAST, now=clock(1))
    assert result.status == "dry-run" and result.parameter_changes == {"Name": ("q1", "q2")}
    assert stack_parameters(describe_stack(cfn, "mon"))["Name"] == "q1"
    with pytest.raises(ClientError):  # deleted (moto answers ValidationError, AWS ChangeSetNotFound)
        cfn.describe_change_set(StackName="mon", ChangeSetName="mlops-20250304-130001")


def test_none_keeps_a_parameters_value_and_the_template_can_be_kept(cfn):
    deploy_stack(cfn, "mon", {"Name": "q1", "Retention": "120"}, template_body=TEMPLATE, wait=FAST, now=clock())
    result = deploy_stack(
        cfn, "mon", {"Name": None, "Retention": "60"}, use_previous_template=True, wait=FAST, now=clock(1)
    )
    assert result.parameter_changes == {"Retention": ("120", "60")}
    assert stack_parameters(describe_stack(cfn, "mon")) == {"Name": "q1", "Retention": "60"}


def test_parameters_only_updates_need_a_deployed_stack(cfn):
    with pytest.raises(CloudError, match="Stack mon is not deployed"):
        deploy_stack(cfn, "mon", {"Name": None}, use_previous_template=True, wait=FAST, now=clock())


def _stubbed(status: str | None):
    client = boto3.client("cloudformation", region_name="us-east-1")
    stub = Stubber(client)
    if status is None:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id mon does not exist")
    else:
        stack = {"StackName": "mon", "CreationTime": datetime(2025, 1, 1, tzinfo=timezone.utc), "StackStatus": status}
        stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "mon"})
    return client, stub


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("ROLLBACK_COMPLETE", "Stack mon is ROLLBACK_COMPLETE: it cannot be updated.*delete-stack --stack-name mon"),
        ("UPDATE_IN_PROGRESS", "Stack mon is UPDATE_IN_PROGRESS: wait until it finishes"),
    ],
)
def test_stacks_that_cannot_take_a_change_set_are_refused_with_what_to_do(status, message):
    client, stub = _stubbed(status)
    with stub, pytest.raises(CloudError, match=message):
        deploy_stack(client, "mon", {"Name": "q"}, template_body=TEMPLATE, wait=FAST, now=clock())


def test_a_failed_change_set_reports_cloudformations_reason():
    client, stub = _stubbed(None)
    stub.add_response("create_change_set", {"Id": "cs-1", "StackId": "stack-1"})
    failed = {
        "Status": "FAILED",
        "StatusReason": "Template error: instance of Fn::GetAtt references undefined resource",
    }
    stub.add_response("describe_change_set", failed, {"StackName": "mon", "ChangeSetName": "mlops-20250304-130000"})
    stub.add_response("describe_change_set", failed, {"StackName": "mon", "ChangeSetName": "mlops-20250304-130000"})
    with stub, pytest.raises(CloudError, match="Change set mlops-20250304-130000 of mon failed: Template error"):
        deploy_stack(client, "mon", {"Name": "q"}, template_body=TEMPLATE, wait=FAST, now=clock())
