"""The monitoring stack's parameters, from the configuration (one value per template parameter, all strings)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.config import Config, ConfigError
from pipelines.cron import aws_cron
from pipelines.monitoring_stack.names import (
    job_name_prefix,
    model_quality_job_name_prefix,
    model_quality_metrics,
    model_quality_schedule_name,
    name_prefix,
    problem_type,
    schedule_name,
)
from pipelines.objectstore import split_s3_uri

KEY_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|^mrk-[0-9a-f]{32}$")
BASELINE_PARAMETERS = ("BaselineStatisticsUri", "BaselineConstraintsUri", "ServingModelPackageArn")


@dataclass(frozen=True)
class Baselines:
    """What the monitoring checks against: the deployed version's drift-check baselines (empty: none yet)."""

    statistics: str = ""
    constraints: str = ""
    model_package_arn: str = ""
    model_quality_constraints: str = ""  # the model-monitor engine's ModelQualityJobDefinition reads it

    def as_parameters(self) -> dict[str, str]:
        return dict(zip(BASELINE_PARAMETERS, (self.statistics, self.constraints, self.model_package_arn), strict=True))


@dataclass(frozen=True)
class Artifacts:
    """Where the deploy staged code, and the images it resolved."""

    lambda_code_key: str  # key of the functions' zip in sagemaker.bucket
    lib_uri: str  # the staged lib/ prefix
    processing_image_uri: str


def kms_key_arn(key_id: str | None, partition: str, region: str, account: str | None) -> str:
    """The ARN of ``sagemaker.kms_key_id`` for IAM policies (which cannot name a key by alias)."""
    if not key_id:
        return ""
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    if KEY_ID.match(key_id):
        if not account:
            raise ConfigError(f"sagemaker.kms_key_id {key_id!r} is a key id: the account id is needed for its ARN")
        return f"arn:{partition}:kms:{region}:{account}:key/{key_id}"
    raise ConfigError(
        f"sagemaker.kms_key_id must be a KMS key ARN or key id for the monitoring stack (IAM policies cannot name "
        f"an alias), got {key_id!r}"
    )


def _bucket_key(uri: str, what: str) -> tuple[str, str]:
    try:
        return split_s3_uri(uri)
    except ValueError as exc:
        raise ConfigError(f"{what}: must be an s3://bucket/prefix URI, got {uri!r}") from exc


def stack_parameters(config: Config, artifacts: Artifacts, baselines: Baselines, key_arn: str = "") -> dict[str, str]:
    """Every parameter of the rendered monitoring template, from the configuration."""
    sm, monitoring = config.sagemaker, config.monitoring
    if not sm.role_arn:
        raise ConfigError("sagemaker.role_arn is not set: pass --role-arn or set it in the configuration")
    if not sm.bucket:
        raise ConfigError("sagemaker.bucket is not set: pass --bucket or set it in the configuration")
    capture_bucket, capture_key = _bucket_key(config.capture_destination, "serving.capture.destination")
    capture_key = "/".join(p for p in (capture_key.strip("/"), config.endpoint_name, config.serving.variant_name) if p)
    retrain_bucket, retrain_key = _bucket_key(config.retrain_data_uri, "monitoring.retrain.data_uri")
    reports = config.reports_destination.rstrip("/")
    decisions_bucket, decisions_key = _bucket_key(f"{reports}/retrain-decisions/{config.endpoint_name}", "reports")
    _bucket_key(reports, "monitoring.reports_destination")
    alarm = monitoring.alarm
    return {
        "Engine": monitoring.engine,
        "NamePrefix": name_prefix(config),
        "EndpointName": config.endpoint_name,
        "MonitoringScheduleName": schedule_name(config),
        "ScheduleExpression": aws_cron(monitoring.schedule),
        "JobNamePrefix": job_name_prefix(config),
        "CaptureBucket": capture_bucket,
        "CaptureKeyPrefix": capture_key,
        "ReportsS3Uri": reports,
        "ArtifactsBucket": sm.bucket,
        "LambdaCodeKey": artifacts.lambda_code_key,
        "LibS3Uri": artifacts.lib_uri,
        "ProcessingImageUri": artifacts.processing_image_uri,
        "ProcessingInstanceType": sm.processing_instance_type,
        "ProcessingInstanceCount": str(sm.processing_instance_count),
        "ProcessingVolumeSizeGb": str(sm.volume_size_gb),
        "MaxRuntimeSeconds": str(sm.max_runtime_seconds),
        "SageMakerRoleArn": sm.role_arn,
        "KmsKeyId": sm.kms_key_id or "",
        "KmsKeyArn": key_arn,
        "SubnetIds": ",".join(sm.subnets),
        "SecurityGroupIds": ",".join(sm.security_group_ids),
        "EnableNetworkIsolation": str(sm.enable_network_isolation).lower(),
        "EnableInterContainerEncryption": str(sm.enable_inter_container_encryption).lower(),
        **baselines.as_parameters(),
        "PipelineName": config.pipeline_name,
        "PipelineArnName": config.pipeline_name.lower(),
        "ModelPackageGroupArnName": config.model_package_group.lower(),
        "RetrainEnabled": str(monitoring.retrain.enabled).lower(),
        "RetrainDataBucket": retrain_bucket,
        "RetrainDataKey": retrain_key,
        "CooldownHours": f"{monitoring.retrain.cooldown_hours:g}",
        "DecisionsBucket": decisions_bucket,
        "DecisionsKeyPrefix": decisions_key,
        "DriftThreshold": f"{alarm.threshold:g}",
        "AlarmPeriodSeconds": str(alarm.period_seconds),
        "AlarmEvaluationPeriods": str(alarm.evaluation_periods),
        "AlarmDatapointsToAlarm": str(alarm.datapoints_to_alarm),
        "TreatMissingData": alarm.treat_missing_data,
        **model_quality_parameters(config),
    }


def model_quality_parameters(config: Config) -> dict[str, str]:
    """The model-quality check's parameters (monitoring.model_quality), passed whether it is enabled or not."""
    quality = config.monitoring.model_quality
    bucket, key = _bucket_key(config.ground_truth_destination, "monitoring.model_quality.ground_truth_destination")
    found = {
        "ModelQualityEnabled": str(quality.enabled).lower(),
        "ModelQualityScheduleName": model_quality_schedule_name(config),
        "ModelQualityJobNamePrefix": model_quality_job_name_prefix(config),
        "GroundTruthBucket": bucket,
        "GroundTruthKeyPrefix": key.strip("/"),
        "ProblemType": problem_type(config),
        "InferenceAttribute": quality.inference_attribute or "",
        "ProbabilityAttribute": quality.probability_attribute or "",
        "ProbabilityThreshold": repr(quality.probability_threshold),
        "ModelQualityStartTimeOffset": quality.start_time_offset,
        "ModelQualityEndTimeOffset": quality.end_time_offset,
        "ModelQualityMinPairs": str(quality.min_pairs),
    }
    if model_quality_metrics(config):  # the alarms' parameters exist only where the alarms are rendered
        found["ModelQualityEvaluationPeriods"] = str(quality.evaluation_periods)
        found["ModelQualityDatapointsToAlarm"] = str(quality.datapoints_to_alarm)
    return found
