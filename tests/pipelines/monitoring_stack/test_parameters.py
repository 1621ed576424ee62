"""The stack's parameters from the configuration, and the KMS key ARN the IAM policies need."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from pipelines.config import ConfigError
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, kms_key_arn, stack_parameters
from tests.monitoring.cloud.conftest import BUCKET, ROLE

ARTIFACTS = Artifacts("abalone-pipeline/code/abc/monitoring-lambdas.zip", f"s3://{BUCKET}/p/code/def/lib", "image")
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"


def test_values_come_from_the_configuration(cloud_config):
    parameters = stack_parameters(cloud_config, ARTIFACTS, Baselines("s3://b/s.json", "s3://b/c.json", "arn:p/1"))
    assert parameters["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert parameters["CaptureBucket"] == BUCKET
    assert parameters["CaptureKeyPrefix"] == "abalone-pipeline/datacapture/abalone-endpoint/AllTraffic"
    assert parameters["ReportsS3Uri"] == f"s3://{BUCKET}/abalone-pipeline/monitoring"
    assert (parameters["RetrainDataBucket"], parameters["RetrainDataKey"]) == (BUCKET, "abalone-pipeline/retraining/")
    assert parameters["DecisionsKeyPrefix"] == "abalone-pipeline/monitoring/retrain-decisions/abalone-endpoint"
    assert parameters["SageMakerRoleArn"] == ROLE and parameters["Engine"] == "processing"
    assert parameters["BaselineStatisticsUri"] == "s3://b/s.json" and parameters["ServingModelPackageArn"] == "arn:p/1"
    alarm, retrain = cloud_config.monitoring.alarm, cloud_config.monitoring.retrain
    assert parameters["DriftThreshold"] == f"{alarm.threshold:g}"
    assert parameters["TreatMissingData"] == alarm.treat_missing_data
    assert parameters["AlarmEvaluationPeriods"] == str(alarm.evaluation_periods)
    assert parameters["CooldownHours"] == f"{retrain.cooldown_hours:g}"
    assert parameters["SubnetIds"] == "" and parameters["EnableNetworkIsolation"] == "false"
    assert all(isinstance(v, str) for v in parameters.values())


def test_names_in_arns_are_lower_case(cloud_config):
    config = replace(cloud_config, sagemaker=replace(cloud_config.sagemaker, pipeline_name="Abalone-Pipeline"))
    parameters = stack_parameters(config, ARTIFACTS, Baselines())
    assert (parameters["PipelineName"], parameters["PipelineArnName"]) == ("Abalone-Pipeline", "abalone-pipeline")


def test_role_and_bucket_are_required(cloud_config):
    with pytest.raises(ConfigError, match=re.escape("sagemaker.role_arn is not set")):
        stack_parameters(
            replace(cloud_config, sagemaker=replace(cloud_config.sagemaker, role_arn=None)), ARTIFACTS, Baselines()
        )
    with pytest.raises(ConfigError, match=re.escape("sagemaker.bucket is not set")):
        stack_parameters(
            replace(cloud_config, sagemaker=replace(cloud_config.sagemaker, bucket=None)), ARTIFACTS, Baselines()
        )


def test_a_relative_capture_destination_is_refused_by_name(cloud_config):
    serving = replace(cloud_config.serving, capture=replace(cloud_config.serving.capture, destination="capture/"))
    with pytest.raises(ConfigError, match=re.escape("serving.capture.destination: must be an s3://bucket/prefix URI")):
        stack_parameters(replace(cloud_config, serving=serving), ARTIFACTS, Baselines())


def test_kms_key_arn():
    arn = f"arn:aws:kms:us-east-1:123456789012:key/{KEY}"
    assert kms_key_arn(None, "aws", "us-east-1", None) == ""
    assert kms_key_arn(arn, "aws", "us-east-1", None) == arn
    assert kms_key_arn(KEY, "aws", "us-east-1", "123456789012") == arn
    with pytest.raises(ConfigError, match="IAM policies cannot name an alias"):
        kms_key_arn("alias/project", "aws", "us-east-1", "123456789012")
    with pytest.raises(ConfigError, match="the account id is needed"):
        kms_key_arn(KEY, "aws", "us-east-1", None)
