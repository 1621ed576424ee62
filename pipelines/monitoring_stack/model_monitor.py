"""The ``model-monitor`` engine: Model Monitor's schedules as resources of the monitoring stack.

``infrastructure/monitoring.yaml`` defines a DataQualityJobDefinition and a ModelQualityJobDefinition with their
MonitoringSchedules (same names as the processing engine's schedules, so the metrics' MonitoringSchedule dimension
and the alarms stay). A job definition cannot be updated, only replaced, and CloudFormation cannot replace a named
resource under the same name, so each is named ``<prefix>-dq|mq-v<model version>-<hash>``, the hash over everything
that goes into it (its template definition and the parameter values it reads): a new version or a changed setting
is a new name, and the stack creates the new definition, points the schedule at it and deletes the old one.

This module computes those parameters (names, image, schedule, the live version's model-quality thresholds for the
alarms) and removes the schedule that earlier releases created through the API (an inline job definition), which
the stack then re-creates under the same name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from monitoring.cloud.model_quality_settings import alarm_thresholds
from monitoring.cloud.s3util import split_s3_uri
from pipelines.cloud import CloudError
from pipelines.config import Config, ConfigError
from pipelines.cron import aws_cron
from pipelines.monitoring_stack.changeset import DEFAULT_WAIT, WaitPolicy, cloud_call
from pipelines.monitoring_stack.names import model_quality_metrics, name_prefix, problem_type
from pipelines.monitoring_stack.template import INFRASTRUCTURE, TEMPLATE, load_yaml, threshold_parameter

log = logging.getLogger(__name__)
HOUR = 3600  # Model Monitor stops an hourly analysis after at most an hour
MAX_NAME = 63
COMMON_INPUTS = (
    "ModelMonitorImageUri",
    "EndpointName",
    "ReportsS3Uri",
    "KmsKeyArn",
    "ProcessingInstanceCount",
    "ProcessingInstanceType",
    "ProcessingVolumeSizeGb",
    "EnableNetworkIsolation",
    "EnableInterContainerEncryption",
    "SubnetIds",
    "SecurityGroupIds",
    "SageMakerRoleArn",
    "ModelMonitorMaxRuntimeSeconds",
)
DATA_QUALITY_INPUTS = ("BaselineStatisticsUri", "BaselineConstraintsUri")
# (kind, logical id of its job definition, its name parameter, the other parameters it reads)
DEFINITIONS = (
    ("dq", "DataQualityJobDefinition", "DataQualityJobDefinitionName", DATA_QUALITY_INPUTS),
    (
        "mq",
        "ModelQualityJobDefinition",
        "ModelQualityJobDefinitionName",
        (
            "ModelQualityBaselineConstraintsUri",
            "ProblemType",
            "InferenceAttribute",
            "ProbabilityAttribute",
            "ProbabilityThreshold",
            "ModelQualityStartTimeOffset",
            "ModelQualityEndTimeOffset",
            "GroundTruthBucket",
            "GroundTruthKeyPrefix",
        ),
    ),
)


def version_of(model_package_arn: str) -> str:
    """The version number at the end of a model package ARN (``.../group/7`` -> ``7``); ConfigError otherwise."""
    version = model_package_arn.rsplit("/", 1)[-1]
    if not version.isdigit():
        raise ConfigError(f"expected a model package version ARN ending in /<version>, got {model_package_arn!r}")
    return version


def definition_name(prefix: str, kind: str, version: str, inputs: object) -> str:
    """``<prefix>-<kind>-v<version>-<8 hex of the inputs' hash>``, the prefix shortened to fit 63 characters."""
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:8]
    suffix = f"-{kind}-v{version}-{digest}"
    return f"{prefix[: MAX_NAME - len(suffix)].rstrip('-')}{suffix}"


def definition_names(
    prefix: str, version: str, parameters: Mapping[str, str | None], template: Mapping | None = None
) -> dict[str, str]:
    """Both job definitions' name parameters for ``version`` and these parameter values (empty: that definition's
    baseline is missing, so the stack has no such definition and no schedule)."""
    resources = (template or load_yaml(INFRASTRUCTURE / TEMPLATE))["Resources"]
    names = {}
    for kind, logical, name_parameter, own in DEFINITIONS:
        keys = (*COMMON_INPUTS, *own)
        values = {key: parameters.get(key) or "" for key in keys}
        baselines = [values[key] for key in own if key.endswith("Uri")]
        if not all(baselines):
            names[name_parameter] = ""
            continue
        names[name_parameter] = definition_name(prefix, kind, version, [resources[logical], values])
    return names


def engine_parameters(config: Config, image_uri: str) -> dict[str, str]:
    """The model-monitor engine's settings: the analyzer image, the schedule as Model Monitor accepts it, the
    analysis time limit."""
    return {
        "ModelMonitorImageUri": image_uri,
        "ModelMonitorScheduleExpression": aws_cron(config.monitoring.schedule, "model-monitor"),
        "ModelMonitorMaxRuntimeSeconds": str(min(config.sagemaker.max_runtime_seconds, HOUR)),
    }


def read_thresholds(s3, config: Config, constraints_uri: str) -> dict[str, str]:
    """The threshold parameter of every alarmed model-quality metric, from the version's constraints.json (none when
    model quality has no alarms or the version no model-quality baseline); ConfigError naming the file and metric."""
    metrics: Sequence[str] = model_quality_metrics(config)
    if not metrics or not constraints_uri:
        return {}
    bucket, key = split_s3_uri(constraints_uri, "model-quality constraints")
    response = cloud_call(f"GetObject {constraints_uri}", s3.get_object, Bucket=bucket, Key=key)
    try:
        found = alarm_thresholds(response["Body"].read(), constraints_uri, problem_type(config), tuple(metrics))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return {threshold_parameter(t.metric): repr(t.threshold) for t in found}


def version_parameters(
    config: Config, s3, version: str, parameters: Mapping[str, str | None], template: Mapping | None = None
) -> dict[str, str]:
    """The job definitions' names and the thresholds for ``version`` given the stack's other parameters."""
    names = definition_names(name_prefix(config), version, parameters, template)
    constraints = parameters.get("ModelQualityBaselineConstraintsUri") or ""
    return {**names, **read_thresholds(s3, config, constraints if names["ModelQualityJobDefinitionName"] else "")}


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


def remove_api_schedule(
    sagemaker,
    name: str,
    *,
    dry_run: bool = False,
    wait: WaitPolicy = DEFAULT_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Delete the schedule ``name`` when an earlier release created it through the API (an inline
    MonitoringJobDefinition; the stack's own schedule names its job definition), and wait until it is gone, so the
    stack can create its own under that name. Returns what it did: "none", "kept (the stack's)", "would delete",
    "deleted"."""
    existing = current_schedule(sagemaker, name)
    if existing is None:
        return "none"
    if "MonitoringJobDefinition" not in (existing.get("MonitoringScheduleConfig") or {}):
        return "kept (the stack's)"
    if dry_run:
        return "would delete"
    cloud_call(f"DeleteMonitoringSchedule {name}", sagemaker.delete_monitoring_schedule, MonitoringScheduleName=name)
    for _ in range(wait.max_attempts):
        if current_schedule(sagemaker, name) is None:
            log.info("deleted the API-created monitoring schedule %s; the stack re-creates it", name)
            return "deleted"
        sleep(wait.delay)
    raise CloudError(f"Monitoring schedule {name} was still being deleted after {wait.max_attempts} checks")
