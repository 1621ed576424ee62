"""The model-monitor engine's stack parameters (job definition names per version, image, schedule, thresholds) and
the hand-over of an API-created schedule (moto for S3, botocore's Stubber for SageMaker)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.cloud import CloudError
from pipelines.config import ConfigError
from pipelines.monitoring_stack.changeset import WaitPolicy
from pipelines.monitoring_stack.model_monitor import (
    MAX_NAME,
    definition_names,
    engine_parameters,
    read_thresholds,
    remove_api_schedule,
    version_of,
    version_parameters,
)
from pipelines.monitoring_stack.template import INFRASTRUCTURE, TEMPLATE, load_yaml, threshold_parameter
from tests.conftest import ROOT
from tests.monitoring.cloud.conftest import BUCKET
from tests.pipelines.monitoring_stack.test_model_monitor_stack import legacy_schedule_config

IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
CONSTRAINTS = ROOT / "tests/fixtures/model-monitor/model-quality/regression-baseline/good_cases_constraints.json"
PARAMETERS = {
    "ModelMonitorImageUri": IMAGE,
    "EndpointName": "abalone-endpoint",
    "SageMakerRoleArn": "arn:aws:iam::123456789012:role/sagemaker-execution",
    "BaselineStatisticsUri": "s3://b/p/executions/e7/baseline/statistics.json",
    "BaselineConstraintsUri": "s3://b/p/executions/e7/baseline/constraints.json",
    "ModelQualityBaselineConstraintsUri": "s3://b/p/executions/e7/model-quality/constraints.json",
    "ProblemType": "Regression",
    "ProcessingInstanceType": "ml.m5.xlarge",
}
NAMES = ("DataQualityJobDefinitionName", "ModelQualityJobDefinitionName")


def test_each_version_gets_its_own_job_definition_names():
    names = definition_names("abalone-endpoint", "7", PARAMETERS)
    assert re.fullmatch(r"abalone-endpoint-dq-v7-[0-9a-f]{8}", names["DataQualityJobDefinitionName"])
    assert re.fullmatch(r"abalone-endpoint-mq-v7-[0-9a-f]{8}", names["ModelQualityJobDefinitionName"])
    assert definition_names("abalone-endpoint", "7", dict(PARAMETERS)) == names  # a pure function of its inputs
    assert set(definition_names("abalone-endpoint", "8", PARAMETERS).values()).isdisjoint(names.values())


@pytest.mark.parametrize(
    ("parameter", "changes"),
    [
        ("ProcessingInstanceType", NAMES),  # read by both definitions: a replacement needs a new name
        ("BaselineStatisticsUri", NAMES[:1]),
        ("ProblemType", NAMES[1:]),
        ("AlarmPeriodSeconds", ()),  # read by neither: both definitions stay
    ],
)
def test_a_setting_renames_exactly_the_definitions_that_read_it(parameter, changes):
    before = definition_names("abalone-endpoint", "7", PARAMETERS)
    after = definition_names("abalone-endpoint", "7", {**PARAMETERS, parameter: "changed"})
    assert {n for n in NAMES if before[n] != after[n]} == set(changes)


def test_a_change_to_a_definition_in_the_template_renames_it():
    template = load_yaml(INFRASTRUCTURE / TEMPLATE)
    before = definition_names("abalone-endpoint", "7", PARAMETERS, template)
    template["Resources"]["ModelQualityJobDefinition"]["Properties"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 60}
    after = definition_names("abalone-endpoint", "7", PARAMETERS, template)
    assert before[NAMES[0]] == after[NAMES[0]] and before[NAMES[1]] != after[NAMES[1]]


def test_a_version_without_a_baseline_gets_no_definition_of_that_kind():
    names = definition_names("abalone-endpoint", "7", {**PARAMETERS, "ModelQualityBaselineConstraintsUri": ""})
    assert names["ModelQualityJobDefinitionName"] == "" and names["DataQualityJobDefinitionName"]
    assert set(definition_names("e", "7", {**PARAMETERS, "BaselineStatisticsUri": ""}).values()) != {""}


def test_long_endpoint_names_are_shortened_to_what_sagemaker_accepts():
    prefix = "a" + "-b" * 19  # 39 characters, as names.name_prefix allows 40
    for name in definition_names(prefix, "123456", PARAMETERS).values():
        assert len(name) <= MAX_NAME and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name


def test_the_version_comes_from_the_model_package_arn():
    assert version_of("arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/12") == "12"
    with pytest.raises(ConfigError, match=r"ending in /<version>.*model-package/abalone'"):
        version_of("arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone")


def test_engine_parameters_use_model_monitors_schedule_and_its_hour_limit(cloud_config):
    sm = replace(cloud_config.sagemaker, max_runtime_seconds=7200)
    found = engine_parameters(replace(cloud_config, sagemaker=sm), IMAGE)
    assert found == {
        "ModelMonitorImageUri": IMAGE,
        "ModelMonitorScheduleExpression": "cron(0 * ? * * *)",
        "ModelMonitorMaxRuntimeSeconds": "3600",
    }


def _constraints(aws, document: dict) -> str:
    aws.client("s3").put_object(Bucket=BUCKET, Key="mq/constraints.json", Body=json.dumps(document).encode())
    return f"s3://{BUCKET}/mq/constraints.json"


def test_the_alarms_thresholds_are_the_versions_constraints(aws, cloud_config):
    config = cloud_config.with_overrides(monitoring={"model_quality": {"alarmed_metrics": ["rmse", "r2"]}})
    uri = _constraints(aws, json.loads(CONSTRAINTS.read_text()))
    assert read_thresholds(aws.client("s3"), config, uri) == {
        threshold_parameter("rmse"): "0.5776238707827177",
        threshold_parameter("r2"): "-3.208758170289026",
    }
    assert read_thresholds(aws.client("s3"), config, "") == {}  # no model-quality baseline: no alarm to set
    off = config.with_overrides(monitoring={"model_quality": {"enabled": False}})
    assert read_thresholds(aws.client("s3"), off, uri) == {}


def test_constraints_without_an_alarmed_metric_are_a_config_error_naming_the_file(aws, cloud_config):
    config = cloud_config.with_overrides(monitoring={"model_quality": {"alarmed_metrics": ["mae"]}})
    uri = _constraints(aws, {"regression_constraints": {"rmse": {"threshold": 1.0}}})
    with pytest.raises(ConfigError, match=rf"{uri}: regression_constraints.mae is missing"):
        read_thresholds(aws.client("s3"), config, uri)
    with pytest.raises(CloudError, match=r"GetObject s3://.*/missing\.json failed"):
        read_thresholds(aws.client("s3"), config, f"s3://{BUCKET}/missing.json")


def test_version_parameters_read_thresholds_only_with_a_model_quality_definition(aws, cloud_config):
    uri = _constraints(aws, json.loads(CONSTRAINTS.read_text()))
    found = version_parameters(
        cloud_config, aws.client("s3"), "7", {**PARAMETERS, "ModelQualityBaselineConstraintsUri": uri}
    )
    assert found[threshold_parameter("rmse")] == "0.5776238707827177" and all(found[n] for n in NAMES)
    without = version_parameters(cloud_config, None, "7", {**PARAMETERS, "ModelQualityBaselineConstraintsUri": ""})
    assert without["ModelQualityJobDefinitionName"] == "" and threshold_parameter("rmse") not in without


@pytest.fixture
def sagemaker():
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_a_schedule_that_is_not_deleted_in_time_is_an_error(sagemaker):
    client, stub = sagemaker
    inline = legacy_schedule_config("abalone-endpoint")
    described = {
        "MonitoringScheduleArn": "arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/s",
        "MonitoringScheduleName": "s",
        "MonitoringScheduleStatus": "Scheduled",
        "CreationTime": "2025-01-01T00:00:00Z",
        "LastModifiedTime": "2025-01-01T00:00:00Z",
        "MonitoringScheduleConfig": inline,
    }
    stub.add_response("describe_monitoring_schedule", described)
    assert remove_api_schedule(client, "s", dry_run=True) == "would delete"
    stub.add_response("describe_monitoring_schedule", described)
    stub.add_response("delete_monitoring_schedule", {})
    stub.add_response("describe_monitoring_schedule", described)
    stub.add_response("describe_monitoring_schedule", described)
    with pytest.raises(CloudError, match="s was still being deleted after 2 checks"):
        remove_api_schedule(client, "s", wait=WaitPolicy(delay=0, max_attempts=2), sleep=lambda _: None)
    stub.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "Monitoring schedule s not found")
    assert remove_api_schedule(client, "s") == "none"
