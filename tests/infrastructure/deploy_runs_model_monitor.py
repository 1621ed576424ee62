"""The model-monitor engine's recorded runs for test_deploy_role_iam.py: a blue/green deploy whose repoint (a
parameters-only update of the monitoring stack) fails, and `mlops monitor repoint` retried twice (an executed update,
then one CloudFormation finds nothing to change in). SageMaker and CloudFormation through botocore's Stubber, S3, SNS
and CloudWatch on moto.

What CloudFormation does with the build's credentials when it executes the change set is a need too: each changed
resource's handler permissions as its resource schema declares them (cfn-lint's copy of the CloudFormation registry
schemas), on the resource the parameters name: the new job definitions created and the old ones deleted, the
schedules updated, the model-quality alarms' thresholds set."""

from __future__ import annotations

import json
import os
from unittest import mock

import boto3
import cfnlint
from botocore.stub import ANY, Stubber
from moto import mock_aws

from monitoring.local.alarm_names import alarm_name_part
from pipelines.monitoring_stack import repoint as repoint_module
from pipelines.monitoring_stack.model_monitor import definition_names, engine_parameters
from pipelines.monitoring_stack.names import model_quality_metrics, name_prefix, stack_name
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, stack_parameters
from pipelines.monitoring_stack.template import threshold_parameter
from tests.conftest import ROOT
from tests.infrastructure import deploy_runs as runs
from tests.infrastructure.iam_recorder import ACCOUNT, PARTITION, REGION, Need, Recorder, State, stack_arn
from tests.pipelines.deploy.test_sagemaker import described_package

CONSTRAINTS = ROOT / "tests/fixtures/model-monitor/model-quality/regression-baseline/good_cases_constraints.json"
MQ_KEY = f"{runs.PIPELINE}/executions/v2/model-quality/constraints.json"
# (resource type, ARN kind, name parameter)
DEFINITIONS = (
    ("AWS::SageMaker::DataQualityJobDefinition", "data-quality-job-definition", "DataQualityJobDefinitionName"),
    ("AWS::SageMaker::ModelQualityJobDefinition", "model-quality-job-definition", "ModelQualityJobDefinitionName"),
)


def handler_permissions(resource_type: str, handler: str) -> list[str]:
    """The permissions CloudFormation's handler of ``resource_type`` declares for ``handler`` (create, update ...)."""
    schemas = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
    with open(os.path.join(schemas, "providers", "us-east-1.json"), encoding="utf-8") as index:
        schema_id = json.load(index)[resource_type]
    with open(os.path.join(schemas, "resources", f"{schema_id}.json"), encoding="utf-8") as file:
        return json.load(file)["handlers"][handler]["permissions"]


def _resource_needs(resource_type: str, handler: str, arn: str, role: str, origin: str) -> list[Need]:
    passed = (("iam:PassedToService", "sagemaker.amazonaws.com"),)
    return [
        Need(p, role, passed, origin) if p == "iam:PassRole" else Need(p, arn, (), origin)
        for p in handler_permissions(resource_type, handler)
    ]


def on_behalf(config, previous: dict[str, str], sent: dict[str, str]) -> list[Need]:
    """What CloudFormation needs to carry out a repoint from ``previous`` to ``sent`` parameters."""
    role, needs = previous["SageMakerRoleArn"], []
    sm = f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}"
    schedules = {
        "DataQualityJobDefinitionName": "MonitoringScheduleName",
        "ModelQualityJobDefinitionName": "ModelQualityScheduleName",
    }
    for resource_type, kind, parameter in DEFINITIONS:
        old, new = previous[parameter], sent.get(parameter, previous[parameter])
        if old == new:
            continue
        needs += _resource_needs(resource_type, "create", f"{sm}:{kind}/{new}", role, f"CloudFormation creates {new}")
        needs += _resource_needs(resource_type, "delete", f"{sm}:{kind}/{old}", role, f"CloudFormation deletes {old}")
        schedule = f"{sm}:monitoring-schedule/{previous[schedules[parameter]]}"
        needs += _resource_needs("AWS::SageMaker::MonitoringSchedule", "update", schedule, role, f"{schedule} -> {new}")
    alarms = f"arn:{PARTITION}:cloudwatch:{REGION}:{ACCOUNT}:alarm:{previous['NamePrefix']}-model-quality"
    for metric in model_quality_metrics(config):
        key = threshold_parameter(metric)
        if sent.get(key, previous[key]) != previous[key]:
            alarm = f"{alarms}-{alarm_name_part(metric)}"
            needs += _resource_needs("AWS::CloudWatch::Alarm", "update", alarm, role, f"threshold of {metric}")
    return needs


def previous_parameters(config) -> dict[str, str]:
    """The monitoring stack's parameters as `mlops monitor deploy` left them for version 1 (rmse threshold 9.5)."""
    old = f"s3://{runs.BUCKET}/{runs.PIPELINE}/executions/v1"
    baselines = Baselines(f"{old}/statistics.json", f"{old}/constraints.json", runs.ARN1, f"{old}/mq/constraints.json")
    artifacts = Artifacts(f"{runs.PIPELINE}/code/x/monitoring-lambdas.zip", f"s3://{runs.BUCKET}/lib", "xgboost-image")
    found = stack_parameters(config, artifacts, baselines, runs.KMS) | engine_parameters(config, "model-monitor-image")
    found["ModelQualityBaselineConstraintsUri"] = baselines.model_quality_constraints
    found[threshold_parameter("rmse")] = "9.5"
    return found | definition_names(name_prefix(config), "1", found)


def _stack(config, parameters: dict[str, str], status: str) -> dict:
    return {
        "StackName": stack_name(config),
        "StackId": stack_arn(stack_name(config)),
        "CreationTime": "2025-01-01T00:00:00Z",
        "StackStatus": status,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    }


def stub_update(cfn: Stubber, config, previous: dict[str, str], outcome: str) -> None:
    """One repoint's change set: "executed", "failed" (the stack update rolls back) or "no changes"."""
    name = stack_name(config)
    for _ in range(2):
        cfn.add_response(
            "describe_stacks", {"Stacks": [_stack(config, previous, "UPDATE_COMPLETE")]}, {"StackName": name}
        )
    cfn.add_response(
        "create_change_set",
        {"Id": "arn:change-set", "StackId": stack_arn(name)},
        {
            **dict.fromkeys(
                ("StackName", "ChangeSetName", "ChangeSetType", "Parameters", "Capabilities", "Tags", "Description"),
                ANY,
            ),
            "UsePreviousTemplate": True,
        },
    )
    if outcome == "no changes":
        empty = {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."}
        for _ in range(3):  # the waiter, why it failed, the change list
            cfn.add_response("describe_change_set", empty)
        cfn.add_response("delete_change_set", {})
        return
    changes = [
        {"Type": "Resource", "ResourceChange": {"Action": "Modify", "LogicalResourceId": logical, "ResourceType": kind}}
        for logical, kind in (
            ("DataQualityJobDefinition", DEFINITIONS[0][0]),
            ("ModelQualityJobDefinition", DEFINITIONS[1][0]),
        )
    ]
    for _ in range(2):  # the waiter, the change list
        cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": changes})
    cfn.add_response("execute_change_set", {})
    if outcome == "failed":
        cfn.add_response("describe_stacks", {"Stacks": [_stack(config, previous, "UPDATE_ROLLBACK_COMPLETE")]})
        event = {
            "StackId": stack_arn(name),
            "EventId": "e1",
            "StackName": name,
            "LogicalResourceId": "ModelQualityJobDefinition",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "Resource handler returned message: ResourceLimitExceeded",
            "Timestamp": "2025-01-01T00:00:00Z",
        }
        cfn.add_response("describe_stack_events", {"StackEvents": [event]})
        return
    for _ in range(2):  # the waiter, the final description
        cfn.add_response("describe_stacks", {"Stacks": [_stack(config, previous, "UPDATE_COMPLETE")]})


def _version_2(session) -> dict:
    """Version 2 as the registry describes it: data-quality and model-quality drift-check baselines."""
    body = CONSTRAINTS.read_bytes()
    session.client("s3").put_object(
        Bucket=runs.BUCKET, Key=MQ_KEY, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=runs.KMS
    )
    described = described_package(runs.ARN2, 2)
    quality = {"Constraints": {"ContentType": "application/json", "S3Uri": f"s3://{runs.BUCKET}/{MQ_KEY}"}}
    return {**described, "DriftCheckBaselines": {**described["DriftCheckBaselines"], "ModelQuality": quality}}


def _sent(calls) -> dict[str, str]:
    made = [c for c in calls if c.operation == "CreateChangeSet"][-1]
    return {p["ParameterKey"]: p["ParameterValue"] for p in made.params["Parameters"] if not p.get("UsePreviousValue")}


def _model_monitor_run(tmp_path):
    path, config = runs.write_config(tmp_path, "model-monitor", runs.KMS)
    params = runs.parameters("model-monitor", runs.KMS, runs.TOPIC, runs.ALERTS_KEY, config)
    return path, config, params


def model_monitor_update_run(doc, tmp_path) -> runs.Run:
    path, config, params = _model_monitor_run(tmp_path)
    old_config, old_model = f"{runs.ENDPOINT}-v1-0123abcd", f"{runs.ENDPOINT}-v1-89abcdef"
    model_name, config_name = runs.names_of(config)
    previous = previous_parameters(config)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        runs.encrypted_account(session)
        version_2 = _version_2(session)
        sagemaker, runtime = session.client("sagemaker"), session.client("sagemaker-runtime")
        cloudformation = session.client("cloudformation")
        recorder = Recorder()
        clients = runs.recorded_clients(
            session, recorder, sagemaker=sagemaker, runtime=runtime, cloudformation=cloudformation
        )
        sm, rt, cfn = Stubber(sagemaker), Stubber(runtime), Stubber(cloudformation)
        sm.add_response("describe_model_package", version_2, {"ModelPackageName": runs.ARN2})
        runs.stub_blue_green(sm, rt, old_config, old_model, model_name, config_name)
        stub_update(cfn, config, previous, "failed")
        with sm, rt, cfn, mock.patch.object(repoint_module, "cloudformation_client", lambda _: cloudformation):
            words = [*runs.build_command(doc, params, runs.ARN2), "--config", str(path), "--poll-seconds", "0"]
            code, out, err = runs.run_cli(words, clients)
        for stub in (sm, rt, cfn):
            assert not stub._queue, (
                f"stubbed calls not made: {[q['operation_name'] for q in stub._queue]}\n{out}\n{err}"
            )
    state = State(
        topic_keys={runs.TOPIC: runs.ALERTS_KEY},
        on_behalf={stack_name(config): on_behalf(config, previous, _sent(recorder.calls))},
    )
    return runs.Run(
        "model-monitor engine, blue/green update, failed repoint", params, recorder.calls, state, code, out, err
    )


def repoint_retry_run(doc, tmp_path) -> runs.Run:
    path, config, params = _model_monitor_run(tmp_path)
    model_name, config_name = runs.names_of(config)
    previous = previous_parameters(config)
    words = ["monitor", "repoint", "--backend", "sagemaker", "--endpoint", runs.ENDPOINT, "--bucket", runs.BUCKET]
    words += ["--region", REGION, "--config", str(path)]
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        runs.encrypted_account(session)
        version_2 = _version_2(session)
        sagemaker, cloudformation = session.client("sagemaker"), session.client("cloudformation")
        recorder = Recorder()
        clients = runs.recorded_clients(session, recorder, sagemaker=sagemaker, cloudformation=cloudformation)
        sm, cfn = Stubber(sagemaker), Stubber(cloudformation)
        results, state = [], State()
        for outcome in ("executed", "no changes"):
            sm.add_response("describe_endpoint", runs.endpoint(config_name), {"EndpointName": runs.ENDPOINT})
            runs.live(sm, config_name, model_name, runs.ARN2, version_2)
            stub_update(cfn, config, previous, outcome)
            with sm, cfn, mock.patch.object(repoint_module, "cloudformation_client", lambda _: cloudformation):
                results.append(runs.run_cli(words, clients))
            for stub in (sm, cfn):
                assert not stub._queue, f"not made: {[q['operation_name'] for q in stub._queue]}\n{results[-1]}"
            if outcome == "executed":
                sent = _sent(recorder.calls)
                state.on_behalf[stack_name(config)] = on_behalf(config, previous, sent)
                previous = previous | sent
    code = max(r[0] for r in results)
    return runs.Run(
        "mlops monitor repoint (retried twice)",
        params,
        recorder.calls,
        state,
        code,
        *map("\n".join, zip(*(r[1:] for r in results), strict=True)),
    )
