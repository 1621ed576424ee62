"""The ``model-monitor`` engine's schedule: what ``DefaultModelMonitor.create_monitoring_schedule`` sets up, as one
CreateMonitoringSchedule / UpdateMonitoringSchedule call with an inline data-quality job definition.

Hourly analysis of the endpoint's captured traffic by Model Monitor's own analyzer image against the deployed
version's DriftCheckBaselines, CloudWatch metrics enabled (``publish_cloudwatch_metrics=Enabled``), reports under
``<reports destination>/<endpoint>/<schedule>/yyyy/mm/dd/hh``, with the configuration's KMS key, VPC and network
isolation. CloudFormation has no resource for a schedule on an endpoint whose baselines change with every model
version, so the CLI owns this one; the alarms, topic and retraining function still come from the stack.
"""

from __future__ import annotations

import json
import logging

from botocore.exceptions import BotoCoreError, ClientError

from monitoring.cloud.check_job import network_config
from pipelines.cloud import CloudError
from pipelines.config import Config, ConfigError
from pipelines.cron import aws_cron
from pipelines.monitoring_stack.names import schedule_name
from pipelines.monitoring_stack.parameters import Baselines

log = logging.getLogger(__name__)
HOUR = 3600  # Model Monitor stops an hourly analysis after at most an hour


def schedule_config(config: Config, baselines: Baselines, image_uri: str) -> dict:
    """``MonitoringScheduleConfig`` of the data-quality schedule."""
    if not (baselines.statistics and baselines.constraints):
        raise ConfigError(
            "the model-monitor schedule needs the deployed version's DriftCheckBaselines (statistics and "
            "constraints): approve and deploy a version registered with them first"
        )
    sm = config.sagemaker
    if not sm.role_arn:
        raise ConfigError("sagemaker.role_arn is not set: pass --role-arn or set it in the configuration")
    cluster = {
        "InstanceCount": sm.processing_instance_count,
        "InstanceType": sm.processing_instance_type,
        "VolumeSizeInGB": sm.volume_size_gb,
    }
    outputs: dict = {
        "MonitoringOutputs": [
            {
                "S3Output": {
                    "S3Uri": config.reports_destination.rstrip("/"),
                    "LocalPath": "/opt/ml/processing/output",
                    "S3UploadMode": "Continuous",
                }
            }
        ]
    }
    if sm.kms_key_id:
        cluster["VolumeKmsKeyId"] = sm.kms_key_id
        outputs["KmsKeyId"] = sm.kms_key_id
    network = network_config(
        sm.enable_network_isolation, sm.enable_inter_container_encryption, sm.subnets, sm.security_group_ids
    )
    return {
        "ScheduleConfig": {"ScheduleExpression": aws_cron(config.monitoring.schedule, "model-monitor")},
        "MonitoringJobDefinition": {
            "BaselineConfig": {
                "StatisticsResource": {"S3Uri": baselines.statistics},
                "ConstraintsResource": {"S3Uri": baselines.constraints},
            },
            "MonitoringInputs": [
                {
                    "EndpointInput": {
                        "EndpointName": config.endpoint_name,
                        "LocalPath": "/opt/ml/processing/input/endpoint",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                }
            ],
            "MonitoringOutputConfig": outputs,
            "MonitoringResources": {"ClusterConfig": cluster},
            "MonitoringAppSpecification": {"ImageUri": image_uri},
            "StoppingCondition": {"MaxRuntimeInSeconds": min(sm.max_runtime_seconds, HOUR)},
            "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            "NetworkConfig": network,
            "RoleArn": sm.role_arn,
        },
        "MonitoringType": "DataQuality",
    }


def current_schedule(sagemaker, name: str) -> dict | None:
    """DescribeMonitoringSchedule, or None when the schedule does not exist."""
    try:
        return sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotFound" or "not found" in error.get("Message", "").lower():
            return None
        raise CloudError(f"DescribeMonitoringSchedule {name} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise CloudError(f"DescribeMonitoringSchedule {name} failed: {exc}") from exc


def upsert_schedule(
    sagemaker, config: Config, baselines: Baselines, image_uri: str, tags: dict[str, str], dry_run: bool = False
) -> str:
    """Create the schedule, or update it in place; returns "created", "updated", "unchanged" or, with
    ``dry_run``, "would create" / "would update"."""
    name = schedule_name(config)
    wanted = schedule_config(config, baselines, image_uri)
    existing = current_schedule(sagemaker, name)
    if existing is not None and existing.get("MonitoringScheduleConfig") == wanted:
        return "unchanged"
    if dry_run:
        return "would create" if existing is None else "would update"
    try:
        if existing is None:
            sagemaker.create_monitoring_schedule(
                MonitoringScheduleName=name,
                MonitoringScheduleConfig=wanted,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )
            log.info("created monitoring schedule %s", name)
            return "created"
        sagemaker.update_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=wanted)
    except (ClientError, BotoCoreError) as exc:
        verb = "CreateMonitoringSchedule" if existing is None else "UpdateMonitoringSchedule"
        raise CloudError(f"{verb} {name} failed: {exc}") from exc
    log.info("updated monitoring schedule %s", name)
    return "updated"


def repoint_schedule(sagemaker, name: str, baselines: Baselines) -> str:
    """Point the existing schedule ``name`` at ``baselines`` and change nothing else (DescribeMonitoringSchedule,
    then UpdateMonitoringSchedule with only BaselineConfig replaced): "updated", "unchanged", or "not deployed" when
    there is no schedule yet (``mlops monitor deploy`` creates it from the live pointer)."""
    existing = current_schedule(sagemaker, name)
    if existing is None:
        return "not deployed"
    wanted = json.loads(json.dumps(existing.get("MonitoringScheduleConfig") or {}, default=str))
    definition = wanted.get("MonitoringJobDefinition")
    if not isinstance(definition, dict):
        raise CloudError(
            f"Monitoring schedule {name} has no inline MonitoringJobDefinition (it was not created by mlops monitor "
            "deploy): repoint it by hand or delete it and run mlops monitor deploy --backend sagemaker"
        )
    baseline = {
        "StatisticsResource": {"S3Uri": baselines.statistics},
        "ConstraintsResource": {"S3Uri": baselines.constraints},
    }
    if definition.get("BaselineConfig") == baseline:
        return "unchanged"
    definition["BaselineConfig"] = baseline
    try:
        sagemaker.update_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=wanted)
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
        raise CloudError(f"UpdateMonitoringSchedule {name} failed ({code}): {exc}") from exc
    log.info("monitoring schedule %s now checks against %s", name, baselines.statistics)
    return "updated"
