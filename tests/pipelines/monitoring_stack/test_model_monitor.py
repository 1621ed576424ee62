"""The model-monitor engine's schedule (botocore Stubber: moto has no monitoring schedules)."""

from __future__ import annotations

import re
from dataclasses import replace

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.cloud import CloudError
from pipelines.config import ConfigError
from pipelines.monitoring_stack.model_monitor import schedule_config, upsert_schedule
from pipelines.monitoring_stack.parameters import Baselines

IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
BASELINES = Baselines(
    "s3://b/abalone-pipeline/executions/e7/baseline/statistics.json",
    "s3://b/abalone-pipeline/executions/e7/baseline/constraints.json",
    "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/7",
)
NAME = "abalone-endpoint-data-quality"


@pytest.fixture
def sagemaker():
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _missing(stub: Stubber) -> None:
    stub.add_client_error(
        "describe_monitoring_schedule", "ResourceNotFound", f"Monitoring schedule {NAME} not found", 400
    )


def test_the_schedule_checks_the_endpoint_hourly_against_the_deployed_baselines(cloud_config):
    config = schedule_config(cloud_config, BASELINES, IMAGE)
    job = config["MonitoringJobDefinition"]
    assert config["ScheduleConfig"] == {"ScheduleExpression": "cron(0 * ? * * *)"}  # Model Monitor's own form
    assert config["MonitoringType"] == "DataQuality"
    assert job["BaselineConfig"] == {
        "StatisticsResource": {"S3Uri": BASELINES.statistics},
        "ConstraintsResource": {"S3Uri": BASELINES.constraints},
    }
    assert job["MonitoringInputs"][0]["EndpointInput"]["EndpointName"] == "abalone-endpoint"
    assert job["Environment"] == {"publish_cloudwatch_metrics": "Enabled"}
    assert job["MonitoringAppSpecification"] == {"ImageUri": IMAGE}
    assert (
        job["MonitoringOutputConfig"]["MonitoringOutputs"][0]["S3Output"]["S3Uri"] == cloud_config.reports_destination
    )
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] <= 3600


def test_kms_vpc_and_isolation_reach_the_job_definition(cloud_config):
    sm = replace(
        cloud_config.sagemaker,
        kms_key_id="arn:aws:kms:us-east-1:123456789012:key/k",
        subnets=("subnet-1",),
        security_group_ids=("sg-1",),
        enable_network_isolation=True,
    )
    job = schedule_config(replace(cloud_config, sagemaker=sm), BASELINES, IMAGE)["MonitoringJobDefinition"]
    assert job["MonitoringResources"]["ClusterConfig"]["VolumeKmsKeyId"] == sm.kms_key_id
    assert job["MonitoringOutputConfig"]["KmsKeyId"] == sm.kms_key_id
    assert job["NetworkConfig"]["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True


def test_without_baselines_there_is_no_schedule(cloud_config):
    with pytest.raises(ConfigError, match="needs the deployed version's DriftCheckBaselines"):
        schedule_config(cloud_config, Baselines(), IMAGE)


def test_a_missing_schedule_is_created(cloud_config, sagemaker):
    client, stub = sagemaker
    _missing(stub)
    stub.add_response(
        "create_monitoring_schedule",
        {"MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{NAME}"},
        {
            "MonitoringScheduleName": NAME,
            "MonitoringScheduleConfig": schedule_config(cloud_config, BASELINES, IMAGE),
            "Tags": [{"Key": "mlops:endpoint", "Value": "abalone-endpoint"}],
        },
    )
    assert upsert_schedule(client, cloud_config, BASELINES, IMAGE, {"mlops:endpoint": "abalone-endpoint"}) == "created"


def _existing(stub: Stubber, config: dict) -> None:
    stub.add_response(
        "describe_monitoring_schedule",
        {
            "MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{NAME}",
            "MonitoringScheduleName": NAME,
            "MonitoringScheduleStatus": "Scheduled",
            "CreationTime": "2025-01-01T00:00:00Z",
            "LastModifiedTime": "2025-01-01T00:00:00Z",
            "MonitoringScheduleConfig": config,
        },
        {"MonitoringScheduleName": NAME},
    )


def test_an_existing_schedule_is_repointed_in_place(cloud_config, sagemaker):
    client, stub = sagemaker
    _existing(stub, schedule_config(cloud_config, replace(BASELINES, statistics="s3://b/old/statistics.json"), IMAGE))
    stub.add_response(
        "update_monitoring_schedule",
        {"MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{NAME}"},
        {"MonitoringScheduleName": NAME, "MonitoringScheduleConfig": schedule_config(cloud_config, BASELINES, IMAGE)},
    )
    assert upsert_schedule(client, cloud_config, BASELINES, IMAGE, {}) == "updated"


def test_an_identical_schedule_is_left_alone_and_a_dry_run_changes_nothing(cloud_config, sagemaker):
    client, stub = sagemaker
    _existing(stub, schedule_config(cloud_config, BASELINES, IMAGE))
    assert upsert_schedule(client, cloud_config, BASELINES, IMAGE, {}) == "unchanged"
    _missing(stub)
    assert upsert_schedule(client, cloud_config, BASELINES, IMAGE, {}, dry_run=True) == "would create"


def test_service_errors_name_the_call_and_schedule(cloud_config, sagemaker):
    client, stub = sagemaker
    _missing(stub)
    stub.add_client_error("create_monitoring_schedule", "ResourceLimitExceeded", "too many schedules")
    with pytest.raises(CloudError, match=re.escape(f"CreateMonitoringSchedule {NAME} failed")):
        upsert_schedule(client, cloud_config, BASELINES, IMAGE, {})
