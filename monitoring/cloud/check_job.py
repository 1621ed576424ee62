"""Lambda target of the EventBridge Scheduler schedule: one data-quality check of the last complete hour.

The schedule passes ``{"scheduled_time": "<aws.scheduler.scheduled-time>", "execution_id":
"<aws.scheduler.execution-id>"}``. CreateProcessingJob cannot turn a scheduled time into an hour prefix by itself,
so this function does: the window is the complete hour before the scheduled time, the input is that hour's capture
prefix ``<capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/``, and the job runs the project's analyzer
(``monitoring.container_entry``) with Model Monitor's environment, against the deployed version's drift baselines,
publishing the CloudWatch metrics itself.

Each check first reads the live pointer (``LIVE_POINTER_URI``, written by every SageMaker deploy) and compares with
the baselines it names; without a pointer it falls back to the stack's baseline parameters, and without either it
starts nothing (``NoBaselines``): no model version with drift-check baselines has been deployed yet.

The job name is derived from the execution id, so a duplicate delivery of the same execution names the same job
and SageMaker refuses the second one: that refusal is reported as ``AlreadyStarted``, not as an error. An hour
without capture files starts no job (``NoData``): a processing job over an empty prefix would only fail.

With ``INSTANCE_COUNT`` N > 1 the check has two stages (``monitoring.shard``): this function starts the *profile*
job ``<prefix>-p-<yyyymmddhh>-<8 hex>`` on N instances (capture ShardedByS3Key, ``analysis_stage=profile``, one
``partial_profile-<host>.json`` per host under ``<reports>/<endpoint>/<schedule>/partial-profiles/<profile job>``);
the stack's rule on that job's completion invokes this function again, and ``monitoring.cloud.check_merge`` starts
the one-instance *merge* job ``<prefix>-m-...``, which writes the hour's report and metrics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from monitoring.cloud.check_settings import CheckSettings, live_settings
from monitoring.cloud.s3util import aws_call, list_keys, split_s3_uri

log = logging.getLogger(__name__)

ROOT = "/opt/ml/processing"
LIB_DIR = f"{ROOT}/input/lib"
CAPTURE_DIR = f"{ROOT}/input/endpoint"
STATISTICS_DIR = f"{ROOT}/baseline/statistics"
CONSTRAINTS_DIR = f"{ROOT}/baseline/constraints"
OUTPUT_DIR = f"{ROOT}/resultdata"
PARTIALS_DIR = f"{ROOT}/input/partials"  # monitoring.shard.DEFAULT_PARTIALS: where the merge job reads the partials
PROFILE, MERGE = "p", "m"  # the two stages' marks in the job names: <prefix>-p-... and <prefix>-m-...


@dataclass(frozen=True)
class CheckWindow:
    """The hour a scheduled execution checks: [start, end), end = the scheduled time rounded down to the hour."""

    start: datetime
    end: datetime

    @property
    def hour_path(self) -> str:
        """``yyyy/mm/dd/hh`` of the checked hour, as in the capture files' keys."""
        return self.start.strftime("%Y/%m/%d/%H")


def parse_scheduled_time(text: str) -> datetime:
    """EventBridge Scheduler's ``<aws.scheduler.scheduled-time>`` (``2025-01-31T13:00:00Z``) as an aware UTC time."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"scheduled_time must be an ISO-8601 time such as 2025-01-31T13:00:00Z, got {text!r}")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"scheduled_time must be an ISO-8601 time such as 2025-01-31T13:00:00Z, got {text!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def check_window(scheduled: datetime) -> CheckWindow:
    """The last complete hour before ``scheduled`` (13:00 and 13:20 both check 12:00-13:00)."""
    end = scheduled.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return CheckWindow(end - timedelta(hours=1), end)


def job_name(prefix: str, window: CheckWindow, execution_id: str, stage: str = "") -> str:
    """``<prefix>-<yyyymmddhh of the checked hour>-<8 hex of the execution id>``: one name per execution; with a
    ``stage`` mark (PROFILE, MERGE) ``<prefix>-<stage>-<yyyymmddhh>-<8 hex>``."""
    return hour_job_name(f"{prefix}-{stage}" if stage else prefix, window.start, execution_id)


def hour_job_name(prefix: str, hour: datetime, execution_id: str) -> str:
    """``<prefix>-<yyyymmddhh of hour>-<8 hex of the execution id>``: one name per scheduled execution."""
    if not execution_id:
        raise ValueError("execution_id is empty: the schedule must pass <aws.scheduler.execution-id>")
    digest = hashlib.sha256(execution_id.encode()).hexdigest()[:8]
    return f"{prefix}-{hour:%Y%m%d%H}-{digest}"


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def s3_input(
    name: str, uri: str, local: str, data_type: str = "S3Prefix", distribution: str = "FullyReplicated"
) -> dict:
    """One ProcessingInput: an S3 prefix (or, with ``data_type="ManifestFile"``, a manifest) copied to ``local``,
    whole to every instance (or, with ``distribution="ShardedByS3Key"``, about 1/N of the objects to each)."""
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": data_type,
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
        },
    }


def capture_prefix(settings: CheckSettings, window: CheckWindow) -> str:
    """The checked hour's capture prefix, ``s3://.../<endpoint>/<variant>/yyyy/mm/dd/hh/``."""
    return f"{settings.capture_uri}/{window.hour_path}/"


def report_uri(settings: CheckSettings, window: CheckWindow) -> str:
    """Model Monitor's report layout: ``<reports>/<endpoint>/<schedule>/yyyy/mm/dd/hh`` of the scheduled hour."""
    return f"{settings.reports_uri}/{settings.endpoint_name}/{settings.schedule_name}/{window.end:%Y/%m/%d/%H}"


def partials_uri(settings: CheckSettings, profile_job: str) -> str:
    """Where a profile job's hosts write their partial profiles: a prefix of that job alone, outside the hours'
    report folders, so a window's report exists only once its merge job has written it."""
    return f"{settings.reports_uri}/{settings.endpoint_name}/{settings.schedule_name}/partial-profiles/{profile_job}"


def network_config(isolation: bool, encryption: bool, subnets, security_group_ids) -> dict:
    """The NetworkConfig of a processing or monitoring job: isolation, encryption and, when subnets are set, the VPC."""
    network: dict = {"EnableNetworkIsolation": isolation, "EnableInterContainerTrafficEncryption": encryption}
    if subnets:
        network["VpcConfig"] = {"Subnets": list(subnets), "SecurityGroupIds": list(security_group_ids)}
    return network


def check_environment(settings: CheckSettings, window: CheckWindow) -> dict[str, str]:
    """The analyzer's environment of a check of ``window`` (what every stage shares; the stage is added to it)."""
    statistics_file = settings.baseline_statistics_uri.rsplit("/", 1)[-1]
    constraints_file = settings.baseline_constraints_uri.rsplit("/", 1)[-1]
    return {
        "dataset_source": CAPTURE_DIR,
        "dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}),
        "output_path": OUTPUT_DIR,
        "baseline_statistics": f"{STATISTICS_DIR}/{statistics_file}",
        "baseline_constraints": f"{CONSTRAINTS_DIR}/{constraints_file}",
        "start_time": _iso(window.start),
        "end_time": _iso(window.end),
    }


def baseline_inputs(settings: CheckSettings) -> list[dict]:
    """The baseline's statistics and constraints, whole on every instance (FullyReplicated)."""
    return [
        s3_input("baseline_statistics", settings.baseline_statistics_uri, STATISTICS_DIR),
        s3_input("baseline_constraints", settings.baseline_constraints_uri, CONSTRAINTS_DIR),
    ]


def processing_job_request(settings: CheckSettings, window: CheckWindow, execution_id: str) -> dict:
    """The CreateProcessingJob request of one check: with one instance the whole analysis (``analysis_stage`` full,
    the hour's report as output); with N > 1 the profile stage (capture ShardedByS3Key, partial profiles written
    under ``partials_uri``), whose merge job ``monitoring.cloud.check_merge`` starts when it completes."""
    environment = check_environment(settings, window)
    capture = capture_prefix(settings, window)
    if settings.instance_count == 1:
        name = job_name(settings.job_name_prefix, window, execution_id)
        inputs = [s3_input("endpoint", capture, CAPTURE_DIR), *baseline_inputs(settings)]
        return job_request(settings, name, inputs, environment, report_uri(settings, window))
    name = job_name(settings.job_name_prefix, window, execution_id, PROFILE)
    inputs = [
        s3_input("endpoint", capture, CAPTURE_DIR, distribution="ShardedByS3Key"),
        *baseline_inputs(settings),
    ]
    environment["analysis_stage"] = "profile"
    return job_request(settings, name, inputs, environment, partials_uri(settings, name))


def job_request(settings: CheckSettings, name: str, inputs: list[dict], environment: dict, output_uri: str) -> dict:
    """A CreateProcessingJob request running the analyzer (``monitoring.container_entry``) on ``inputs`` (the staged
    lib is added) with ``environment`` (the metrics' dimensions, PYTHONPATH and region are added), writing its results
    to ``output_uri``; cluster, KMS key, network and tags from ``settings``."""
    environment = {
        **environment,
        "sagemaker_endpoint_name": settings.endpoint_name,
        "sagemaker_monitoring_schedule_name": settings.schedule_name,
        "publish_cloudwatch_metrics": "Enabled",
        "PYTHONPATH": LIB_DIR,
        "AWS_DEFAULT_REGION": settings.region,
    }
    cluster = {
        "InstanceCount": settings.instance_count,
        "InstanceType": settings.instance_type,
        "VolumeSizeInGB": settings.volume_size_gb,
    }
    result = {
        "OutputName": "result",
        "S3Output": {"S3Uri": output_uri, "LocalPath": OUTPUT_DIR, "S3UploadMode": "EndOfJob"},
    }
    output_config: dict = {"Outputs": [result]}
    if settings.kms_key_id:
        cluster["VolumeKmsKeyId"] = settings.kms_key_id
        output_config["KmsKeyId"] = settings.kms_key_id
    network = network_config(
        settings.network_isolation, settings.inter_container_encryption, settings.subnets, settings.security_group_ids
    )
    tags = {"mlops:endpoint": settings.endpoint_name, "mlops:monitoring-schedule": settings.schedule_name}
    if settings.serving_model_package_arn:
        tags["mlops:model-package"] = settings.serving_model_package_arn
    return {
        "ProcessingJobName": name,
        "ProcessingInputs": [*inputs, s3_input("lib", settings.lib_uri, LIB_DIR)],
        "ProcessingOutputConfig": output_config,
        "ProcessingResources": {"ClusterConfig": cluster},
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "AppSpecification": {
            "ImageUri": settings.image_uri,
            "ContainerEntrypoint": ["python3", "-m", "monitoring.container_entry"],
        },
        "Environment": environment,
        "NetworkConfig": network,
        "RoleArn": settings.role_arn,
        "Tags": [{"Key": k, "Value": v[:256]} for k, v in sorted(tags.items())],
    }


def already_exists(exc) -> bool:
    """Whether a CreateProcessingJob error says the job exists: a duplicate delivery of the same execution."""
    error = exc.response.get("Error", {})
    return error.get("Code") == "ResourceInUse" or (
        error.get("Code") == "ValidationException" and "already exists" in error.get("Message", "")
    )


def start_job(sagemaker, request: Mapping, outcome: dict, duplicate: str) -> dict:
    """CreateProcessingJob ``request``; ``outcome`` with status Started and the job's ARN, or AlreadyStarted when the
    job exists (``duplicate`` says whose second delivery that is, for the log). Other errors raise, naming the job."""
    from botocore.exceptions import ClientError

    name = request["ProcessingJobName"]
    try:
        arn = sagemaker.create_processing_job(**request)["ProcessingJobArn"]
    except ClientError as exc:
        if already_exists(exc):
            log.info("processing job %s already exists: duplicate delivery of %s", name, duplicate)
            return {**outcome, "status": "AlreadyStarted"}
        raise RuntimeError(f"CreateProcessingJob {name} failed: {exc}") from exc
    log.info("started processing job %s", arn)
    return {**outcome, "status": "Started", "job_arn": arn}


def start_check(settings: CheckSettings, event: Mapping, sagemaker, s3) -> dict:
    """Start the check of the hour before ``event["scheduled_time"]``; returns what happened (never raises on a
    duplicate delivery, an hour without traffic or a deployment without baselines yet)."""
    window = check_window(parse_scheduled_time(event.get("scheduled_time", "")))
    execution_id = str(event.get("execution_id") or "")
    settings, source = live_settings(settings, s3)
    outcome = {"window_start": _iso(window.start), "window_end": _iso(window.end)}
    if not source:
        reason = (
            f"no live pointer at {settings.live_pointer_uri or '(LIVE_POINTER_URI not set)'} and no baseline "
            "parameters: deploy a model version with drift-check baselines (mlops deploy --backend sagemaker)"
        )
        log.info("no baselines: %s", reason)
        return {**outcome, "status": "NoBaselines", "reason": reason}
    request = processing_job_request(settings, window, execution_id)
    name = request["ProcessingJobName"]
    stage = request["Environment"].get("analysis_stage", "full")
    outcome = {"job_name": name, "stage": stage, **outcome, "baselines": source}
    bucket, key = split_s3_uri(capture_prefix(settings, window))
    found = aws_call(f"Listing the capture files under s3://{bucket}/{key}", list, list_keys(s3, bucket, key, limit=1))
    if not found:
        log.info("no capture files under s3://%s/%s: no check for %s", bucket, key, window.hour_path)
        return {**outcome, "status": "NoData", "reason": f"no capture files under s3://{bucket}/{key}"}
    log.info("data-quality check %s (stage %s) over %s", name, stage, window.hour_path)
    return start_job(sagemaker, request, outcome, f"execution {execution_id}")


def is_job_state_event(event: Mapping) -> bool:
    """Whether the invocation is a processing job's state change (or its redrive, ``{"profile_job_name": ...}``)
    rather than a scheduled execution."""
    return event.get("detail-type") == "SageMaker Processing Job State Change" or "profile_job_name" in event


def handler(event, context) -> dict:
    """Lambda entry point (``monitoring.cloud.check_job.handler``): a scheduled execution starts a check; a profile
    job's completion (the stack's rule, with several instances) starts its merge job."""
    import boto3

    logging.getLogger().setLevel(logging.INFO)
    settings = CheckSettings.from_env(os.environ)
    if is_job_state_event(event):
        from monitoring.cloud.check_merge import start_merge  # imported here: check_merge builds on this module

        return start_merge(settings, event, boto3.client("sagemaker"))
    return start_check(settings, event, boto3.client("sagemaker"), boto3.client("s3"))
