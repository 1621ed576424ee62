"""The model-monitor engine's schedules as stack resources: `mlops monitor deploy` puts the deployed version's job
definitions in the stack (moto's CloudFormation, which accepts and ignores the SageMaker resource types), hands over
the schedule an earlier release created through the API (Stubber for SageMaker), and the repoint after a model deploy
is a parameters-only change set (its requests checked with Stubber: moto cannot update a stack through
UsePreviousTemplate whose conditions leave a GetAtt target out)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import boto3
import pytest
from botocore.stub import ANY, Stubber

from pipelines.monitoring_stack.deploy import MonitoringClients
from pipelines.monitoring_stack.repoint import RepointClients, RepointError, repoint
from pipelines.monitoring_stack.template import threshold_parameter
from pipelines.registry.model import ModelVersion
from tests.conftest import ROOT
from tests.monitoring.cloud.conftest import BUCKET
from tests.pipelines.monitoring_stack.test_deploy import (
    FAST,
    NOW,
    STACK,
    deploy,
    moto_previous_values,
    parameters,
    pointer,
    version,
)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

REFERENCE_CONSTRAINTS = (
    ROOT / "tests/fixtures/model-monitor/model-quality/regression-baseline/good_cases_constraints.json"
)
RMSE = threshold_parameter("rmse")


def legacy_schedule_config(endpoint: str) -> dict:
    """A data-quality schedule as earlier releases created it through the API: its job definition inline."""
    definition = {
        "MonitoringInputs": [{"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}}],
        "MonitoringOutputConfig": {
            "MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://b/r", "LocalPath": "/opt/ml/processing/output"}}]
        },
        "MonitoringResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
        },
        "MonitoringAppSpecification": {"ImageUri": "model-monitor-image"},
        "RoleArn": "arn:aws:iam::123456789012:role/sagemaker-execution",
    }
    return {"MonitoringJobDefinition": definition, "MonitoringType": "DataQuality"}


def _model_monitor(aws, cloud_config):
    config = replace(cloud_config, monitoring=replace(cloud_config.monitoring, engine="model-monitor"))
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    stub = Stubber(sagemaker)
    clients = MonitoringClients(aws.client("cloudformation"), aws.client("s3"), sagemaker, aws.client("sts"))
    moto_previous_values(clients.cloudformation)
    return config, clients, stub


def quality_version(aws, n: int, rmse: float) -> ModelVersion:
    """Version ``n`` with a model-quality baseline whose rmse threshold is ``rmse`` (its constraints in moto's S3)."""
    constraints = json.loads(REFERENCE_CONSTRAINTS.read_text())
    constraints["regression_constraints"]["rmse"]["threshold"] = rmse
    key = f"abalone-pipeline/executions/exec-{n}/model-quality/constraints.json"
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(constraints).encode())
    plain = version(n)
    return replace(plain, drift_baselines={**plain.drift_baselines, "model_constraints": f"s3://{BUCKET}/{key}"})


def _described(name: str, config: dict) -> dict:
    return {
        "MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{name}",
        "MonitoringScheduleName": name,
        "MonitoringScheduleStatus": "Scheduled",
        "CreationTime": "2025-01-01T00:00:00Z",
        "LastModifiedTime": "2025-01-01T00:00:00Z",
        "MonitoringScheduleConfig": config,
    }


def test_the_model_monitor_engine_defines_its_schedules_in_the_stack(aws, cloud_config):
    config, clients, stub = _model_monitor(aws, cloud_config)
    first = quality_version(aws, 1, 2.5)
    stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "not found")
    with stub:  # no schedule from an earlier release to remove; nothing else through the SageMaker API
        result = deploy(config, clients, model_version=first)
    stub.assert_no_pending_responses()
    deployed = parameters(aws)
    assert deployed["Engine"] == "model-monitor" and deployed["ModelMonitorImageUri"] == "model-monitor-image"
    assert re.fullmatch(r"abalone-endpoint-dq-v1-[0-9a-f]{8}", deployed["DataQualityJobDefinitionName"])
    assert re.fullmatch(r"abalone-endpoint-mq-v1-[0-9a-f]{8}", deployed["ModelQualityJobDefinitionName"])
    assert deployed["ModelQualityBaselineConstraintsUri"] == first.drift_baselines["model_constraints"]
    assert deployed["BaselineStatisticsUri"] == first.drift_baselines["statistics"]
    assert deployed[RMSE] == "2.5" and deployed["ModelMonitorScheduleExpression"] == "cron(0 * ? * * *)"
    assert result.schedule == (
        f"in the stack (job definitions {deployed['DataQualityJobDefinitionName']}, "
        f"{deployed['ModelQualityJobDefinitionName']})"
    )
    assert not any("not deployed yet" in w for w in result.warnings)


def test_the_schedule_an_earlier_release_created_through_the_api_is_handed_to_the_stack(aws, cloud_config):
    config, clients, stub = _model_monitor(aws, cloud_config)
    name = "abalone-endpoint-data-quality"
    inline = legacy_schedule_config("abalone-endpoint")
    stub.add_response("describe_monitoring_schedule", _described(name, inline), {"MonitoringScheduleName": name})
    stub.add_response("delete_monitoring_schedule", {}, {"MonitoringScheduleName": name})
    stub.add_response("describe_monitoring_schedule", _described(name, inline))  # still deleting
    stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "not found")
    with stub:
        deploy(config, clients, model_version=quality_version(aws, 1, 2.5))
    stub.assert_no_pending_responses()
    # the stack's own schedule names its job definition: a redeploy leaves it alone
    own = {"MonitoringJobDefinitionName": "abalone-endpoint-dq-v1-00000000", "MonitoringType": "DataQuality"}
    stub.add_response("describe_monitoring_schedule", _described(name, own))
    with stub:
        deploy(config, clients)
    stub.assert_no_pending_responses()


def _update(stub: Stubber, previous: dict[str, str], sent: object, changes: bool = True) -> None:
    """The change set of a parameters-only update, up to its execution (or its deletion when nothing changes)."""
    for _ in range(2):  # the repoint reads the parameters, then the change set its status
        stub.add_response("describe_stacks", {"Stacks": [_stack(previous)]}, {"StackName": STACK})
    request = {
        "StackName": STACK,
        "ChangeSetName": ANY,
        "ChangeSetType": "UPDATE",
        "Parameters": sent,
        "Capabilities": ["CAPABILITY_IAM"],
        "Tags": [{"Key": "mlops:endpoint", "Value": "abalone-endpoint"}, {"Key": "mlops:project", "Value": "abalone"}],
        "Description": "mlops monitor deploy",
        "UsePreviousTemplate": True,
    }
    stub.add_response("create_change_set", {"Id": "arn:change-set"}, request)
    status = "CREATE_COMPLETE" if changes else "FAILED"
    reason = "" if changes else "The submitted information didn't contain changes."
    described = {"Status": status, "StatusReason": reason, "Changes": []}
    stub.add_response("describe_change_set", described)  # the waiter
    if not changes:
        stub.add_response("describe_change_set", described)  # why it failed
    stub.add_response("describe_change_set", described)  # the change list
    if not changes:
        stub.add_response("delete_change_set", {})
        return
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", {"Stacks": [_stack(previous, "UPDATE_COMPLETE")]})  # the waiter
    stub.add_response("describe_stacks", {"Stacks": [_stack(previous, "UPDATE_COMPLETE")]})


def test_repoint_updates_only_the_versions_parameters_of_the_stack(aws, cloud_config):
    config, clients, stub = _model_monitor(aws, cloud_config)
    stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "not found")
    with stub:
        deploy(config, clients, model_version=quality_version(aws, 1, 2.5))
    before = parameters(aws)
    second = quality_version(aws, 2, 2.25)
    base = f"s3://{BUCKET}/abalone-pipeline/executions/exec-2"
    changed = {
        "BaselineStatisticsUri": f"{base}/baseline/statistics.json",
        "BaselineConstraintsUri": f"{base}/baseline/constraints.json",
        "ModelQualityBaselineConstraintsUri": f"{base}/model-quality/constraints.json",
        RMSE: "2.25",
    }
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    sent: list[dict] = []

    def record(params, **kwargs):
        sent.extend(params["Parameters"])

    cfn.meta.events.register("provide-client-params.cloudformation.CreateChangeSet", record)
    cfn_stub = Stubber(cfn)
    _update(cfn_stub, before, ANY)
    with cfn_stub:
        result = repoint(config, second, RepointClients(clients.s3, clients.sagemaker, cfn), now=lambda: NOW, wait=FAST)
    cfn_stub.assert_no_pending_responses()
    given = {p["ParameterKey"]: p.get("ParameterValue") for p in sent if not p.get("UsePreviousValue")}
    kept = {p["ParameterKey"] for p in sent if p.get("UsePreviousValue")}
    names = ("DataQualityJobDefinitionName", "ModelQualityJobDefinitionName")
    assert set(given) == {*changed, *names} and kept | set(given) == set(before)
    assert {k: given[k] for k in changed} == changed  # ServingModelPackageArn kept: no function changes
    assert re.fullmatch(r"abalone-endpoint-dq-v2-[0-9a-f]{8}", given["DataQualityJobDefinitionName"])
    assert re.fullmatch(r"abalone-endpoint-mq-v2-[0-9a-f]{8}", given["ModelQualityJobDefinitionName"])
    assert result.schedule == f"stack {STACK} executed; job definitions {given[names[0]]}, {given[names[1]]}"
    assert pointer(aws)["model_package_version"] == 2
    # the same version again: the same names (the hash is of the same inputs), and CloudFormation finds no change
    sent.clear()
    _update(cfn_stub, before | given, ANY, changes=False)
    with cfn_stub:
        again = repoint(config, second, RepointClients(clients.s3, clients.sagemaker, cfn), now=lambda: NOW, wait=FAST)
    assert again.schedule.startswith(f"stack {STACK} no-changes")
    assert {p["ParameterKey"]: p.get("ParameterValue") for p in sent if not p.get("UsePreviousValue")} == given


def test_a_model_monitor_repoint_before_the_stack_exists_only_writes_the_pointer(aws, cloud_config):
    config, clients, _stub = _model_monitor(aws, cloud_config)
    repoint_clients = RepointClients(clients.s3, clients.sagemaker, clients.cloudformation)
    result = repoint(config, version(2), repoint_clients)
    assert result.schedule.startswith("not deployed") and pointer(aws)["model_package_version"] == 2


def test_a_denied_stack_update_names_the_call_and_code_after_writing_the_pointer(aws, cloud_config):
    config, clients, _stub = _model_monitor(aws, cloud_config)
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    stub = Stubber(cfn)
    for _ in range(2):
        stub.add_response("describe_stacks", {"Stacks": [_stack({"Engine": "model-monitor"})]}, {"StackName": STACK})
    stub.add_client_error(
        "create_change_set", "AccessDenied", "not authorized to perform cloudformation:CreateChangeSet"
    )
    message = rf"CreateChangeSet \S+ of {STACK} failed.*AccessDenied.*s3://{BUCKET}/\S+ was written"
    with stub, pytest.raises(RepointError, match=message):
        repoint(config, version(2), RepointClients(clients.s3, clients.sagemaker, cfn))


def test_a_stack_on_the_other_engine_is_not_repointed_through_parameters(aws, cloud_config):
    config, clients, _stub = _model_monitor(aws, cloud_config)
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    stub = Stubber(cfn)
    stub.add_response("describe_stacks", {"Stacks": [_stack({"Engine": "processing"})]}, {"StackName": STACK})
    with stub, pytest.raises(RepointError, match=r"runs the 'processing' engine.*mlops monitor deploy"):
        repoint(config, version(2), RepointClients(clients.s3, clients.sagemaker, cfn))


def _stack(parameters: dict[str, str], status: str = "CREATE_COMPLETE") -> dict:
    return {
        "StackName": STACK,
        "CreationTime": "2025-01-01T00:00:00Z",
        "StackStatus": status,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    }
