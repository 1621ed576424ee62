"""The teardown: what it finds and in which order, deleting it all (moto; Model Monitor schedules through Stubber,
which moto lacks), keeping the data, a user's own bucket, and the stop at the first failure naming what is left."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from pipelines.account.destroy import DeleteWait, TeardownError, destroy
from pipelines.account.teardown import TeardownClients, plan, project_names
from pipelines.build import config_from_kwargs
from tests.conftest import ROOT

NOW = DeleteWait(delay=0, max_attempts=3, sleep=lambda seconds: None)
BUCKET = "abalone-artifacts-123456789012"
SCHEDULE = "abalone-endpoint-data-quality"
STACK = json.dumps(
    {
        "Parameters": {"Bucket": {"Type": "String", "Default": ""}},
        "Conditions": {"HasBucket": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Bucket"}, ""]}]}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ArtifactBucketName": {"Condition": "HasBucket", "Value": {"Ref": "Bucket"}}},
    }
)


@pytest.fixture
def config():
    return config_from_kwargs({}, str(ROOT / "mlops.yaml"))


def _deployed(sm, name: str, endpoint: bool = False) -> None:
    """A model and endpoint config named as the deploy names them (and the endpoint)."""
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
    sm.create_model(
        ModelName=name, PrimaryContainer={"Image": image}, ExecutionRoleArn="arn:aws:iam::123456789012:role/r"
    )
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    if endpoint:
        sm.create_endpoint(EndpointName="abalone-endpoint", EndpointConfigName=name)


@pytest.fixture
def account(aws):
    """An account after a smoke run: endpoint, old and live versions, an unrelated model, check schedules, the three
    stacks and a versioned bucket with object versions and a delete marker."""
    sm, s3, cfn = aws.client("sagemaker"), aws.client("s3"), aws.client("cloudformation")
    _deployed(sm, "abalone-endpoint-v1-0a1b2c3d")
    _deployed(sm, "abalone-endpoint-v2-4e5f6a7b", endpoint=True)
    _deployed(sm, "abalone-endpoint-extra-v1-12345678")  # another endpoint's: kept
    scheduler = aws.client("scheduler")
    target = {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "RoleArn": "arn:aws:iam::123456789012:role/s"}
    scheduler.create_schedule(
        Name=SCHEDULE, ScheduleExpression="cron(0 * * * ? *)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target
    )
    for name in ("abalone-endpoint-monitoring", "abalone-endpoint-deploy-on-approval"):
        cfn.create_stack(StackName=name, TemplateBody=STACK)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket=BUCKET, Key="abalone-pipeline/code/x.py", Body=body)
    s3.put_object(Bucket=BUCKET, Key="other/data.csv", Body=b"a")
    s3.delete_object(Bucket=BUCKET, Key="other/data.csv")
    cfn.create_stack(
        StackName="abalone-bootstrap",
        TemplateBody=STACK,
        Parameters=[{"ParameterKey": "Bucket", "ParameterValue": BUCKET}],
    )
    return aws


def _clients(aws, schedules: list[str]):
    """The teardown's clients on moto, with Model Monitor's schedule calls on a stubbed client."""
    monitoring = aws.client("sagemaker")
    stubber = Stubber(monitoring)
    summaries = [
        {
            "MonitoringScheduleName": name,
            "MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{name}",
            "CreationTime": "2026-11-30",
            "LastModifiedTime": "2026-11-30",
            "MonitoringScheduleStatus": "Scheduled",
        }
        for name in schedules
    ]
    stubber.add_response(
        "list_monitoring_schedules", {"MonitoringScheduleSummaries": summaries}, {"EndpointName": "abalone-endpoint"}
    )
    clients = TeardownClients(
        aws.client("sagemaker"), aws.client("scheduler"), aws.client("cloudformation"), aws.client("s3"), monitoring
    )
    return clients, stubber


def _found(resources) -> list[tuple[str, str]]:
    return [(r.kind, r.name) for r in resources]


EVERYTHING = [
    ("monitoring schedule", SCHEDULE),
    ("scheduler schedule", SCHEDULE),
    ("endpoint", "abalone-endpoint"),
    ("endpoint config", "abalone-endpoint-v1-0a1b2c3d"),
    ("endpoint config", "abalone-endpoint-v2-4e5f6a7b"),
    ("model", "abalone-endpoint-v1-0a1b2c3d"),
    ("model", "abalone-endpoint-v2-4e5f6a7b"),
    ("stack", "abalone-endpoint-monitoring"),
    ("stack", "abalone-endpoint-deploy-on-approval"),
    ("bucket objects", BUCKET),
    ("stack", "abalone-bootstrap"),
    ("bucket", BUCKET),  # the stack retains it: emptied, it goes last
]


def test_everything_the_project_created_is_found_in_deletion_order(account, config):
    clients, stubber = _clients(account, [SCHEDULE])
    with stubber:
        found = plan(clients, project_names(config))
    assert _found(found) == EVERYTHING
    assert found[-3].prefix == "" and found[-3].detail == "4 object versions and delete markers"


def test_everything_is_deleted_and_a_second_teardown_finds_nothing(account, config):
    clients, stubber = _clients(account, [SCHEDULE])
    gone = {"Error": {"Code": "ResourceNotFound", "Message": f"Monitoring schedule {SCHEDULE} not found"}}
    stubber.add_response("delete_monitoring_schedule", {}, {"MonitoringScheduleName": SCHEDULE})
    stubber.add_client_error("describe_monitoring_schedule", "ResourceNotFound", gone["Error"]["Message"])
    lines: list[str] = []
    with stubber:
        destroy(clients, plan(clients, project_names(config)), NOW, lines.append)
    assert (
        len(lines) == len(EVERYTHING)
        and lines[-3] == f"Deleted 4 object versions and delete markers from s3://{BUCKET}/"
    )
    again, stubber = _clients(account, [])
    with stubber:
        assert plan(again, project_names(config)) == []
    sm = account.client("sagemaker")
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["abalone-endpoint-extra-v1-12345678"]
    assert BUCKET not in [b["Name"] for b in account.client("s3").list_buckets()["Buckets"]]


def test_keep_data_keeps_the_bucket_and_the_bootstrap_stack(account, config):
    clients, stubber = _clients(account, [])
    with stubber:
        found = plan(clients, project_names(config), keep_data=True)
    assert ("stack", "abalone-bootstrap") not in _found(found)
    assert not {"bucket objects", "bucket"} & {r.kind for r in found}


def test_a_bucket_the_bootstrap_stack_did_not_create_loses_only_the_pipelines_objects(account, config):
    account.client("cloudformation").delete_stack(StackName="abalone-bootstrap")
    own = config.with_overrides(sagemaker={"bucket": BUCKET})
    clients, stubber = _clients(account, [])
    with stubber:
        found = [r for r in plan(clients, project_names(own)) if r.kind.startswith("bucket")]
    assert [r.kind for r in found] == ["bucket objects"]  # not the bucket: it is not the project's own
    assert found[0].prefix == "abalone-pipeline/" and "2 object versions" in found[0].detail
    destroy(clients, found, NOW, lambda line: None)
    left = account.client("s3").list_object_versions(Bucket=BUCKET)
    assert {v["Key"] for v in left["Versions"]} == {"other/data.csv"}


def test_a_failure_stops_and_names_the_resource_and_what_is_left(account, config):
    clients, stubber = _clients(account, [SCHEDULE])
    stubber.add_client_error("delete_monitoring_schedule", "AccessDeniedException", "not authorized")
    with stubber:
        found = plan(clients, project_names(config))
        with pytest.raises(TeardownError) as raised:
            destroy(clients, found, NOW, lambda line: None)
    message = str(raised.value)
    assert message.startswith(f"Could not delete monitoring schedule {SCHEDULE}: DeleteMonitoringSchedule")
    assert "not authorized" in message and "endpoint abalone-endpoint; endpoint config" in message
    assert (
        f"stack abalone-bootstrap; bucket {BUCKET}. Fix the cause and run mlops destroy --backend sagemaker again"
        in message
    )
    assert account.client("sagemaker").describe_endpoint(EndpointName="abalone-endpoint")
