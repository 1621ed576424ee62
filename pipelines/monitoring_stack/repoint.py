"""Repointing monitoring at the model version live on an endpoint.

The deploy (and ``mlops monitor repoint``, its retry) writes the live pointer, one S3 object with the version and its
drift-check baselines (``check_settings.LivePointer``: data quality, and model quality when the version has one), which
the processing engine's check functions (data quality and model quality) read at every check: no stack update, the
permission is PutObject on one key. With the ``model-monitor`` engine the version lives in the monitoring stack (its
job definitions' baselines and names, the model-quality alarms' thresholds), so the repoint also updates that stack's
parameters through a change set on its current template (``model_monitor.version_parameters``; every other
parameter keeps its value).

A repoint that fails raises ``RepointError``; the caller reports the endpoint's state first, then the failure, and
publishes an alert (``publish_alert``) so that someone retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from monitoring.cloud.check_settings import LivePointer, pointer_uri
from monitoring.cloud.s3util import encryption_args, split_s3_uri
from pipelines.cloud import CloudError
from pipelines.config import Config, ConfigError
from pipelines.monitoring_stack import changeset, model_monitor
from pipelines.monitoring_stack.changeset import DEFAULT_WAIT, WaitPolicy
from pipelines.monitoring_stack.names import stack_name, stack_tags
from pipelines.registry.model import ModelVersion

log = logging.getLogger(__name__)
REPOINT_FAILED = 3  # exit code of a deploy whose endpoint changed but whose monitoring was not repointed


class RepointError(CloudError):
    """Monitoring could not be pointed at the live version; the message says which call failed and why."""


def failure(operation: str, target: str, exc: Exception) -> str:
    """``<operation> <target> failed (<error code>): <message>`` for a botocore error."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{operation} {target} failed ({error.get('Code', 'unknown')}): {error.get('Message', exc)}"
    return f"{operation} {target} failed ({type(exc).__name__}): {exc}"


@dataclass(frozen=True)
class RepointClients:
    """The clients a repoint uses (s3 for the pointer and the model-quality constraints; cloudformation for the
    model-monitor engine's stack, made for the configured region when not given)."""

    s3: Any
    sagemaker: Any
    cloudformation: Any = None


@dataclass(frozen=True)
class Repointed:
    """What a repoint did."""

    pointer_uri: str
    pointer: LivePointer
    schedule: str  # processing: "reads the pointer"; model-monitor: what the stack update did

    def describe(self) -> str:
        return (
            f"Monitoring of {self.pointer.endpoint_name} now checks against {self.pointer.reference}'s baselines "
            f"(live pointer {self.pointer_uri}; schedule: {self.schedule})"
        )


def live_pointer_uri(config: Config, endpoint: str | None = None) -> str:
    """The live pointer of ``endpoint`` (default ``serving.endpoint_name``) under ``sagemaker.bucket``."""
    if not config.sagemaker.bucket:
        raise RepointError("the live pointer needs sagemaker.bucket (or --bucket)")
    return pointer_uri(config.sagemaker.bucket, config.pipeline_name, endpoint or config.endpoint_name)


def pointer_for(version: ModelVersion, endpoint: str, now: datetime) -> LivePointer:
    """The pointer of ``version`` live on ``endpoint``; RepointError when it has no drift-check baselines."""
    statistics, constraints = version.drift_baselines.get("statistics"), version.drift_baselines.get("constraints")
    if not (statistics and constraints):
        raise RepointError(
            f"Model version {version.reference} has no DriftCheckBaselines (statistics and constraints), got "
            f"{version.drift_baselines}: monitoring needs a version registered with drift-check baselines"
        )
    return LivePointer(
        endpoint_name=endpoint,
        model_package_group=version.group,
        model_package_version=version.version,
        model_package_arn=version.arn,
        baseline_statistics_uri=statistics,
        baseline_constraints_uri=constraints,
        updated_at=now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # the model-quality check's constraints (registered as DriftCheckBaselines.ModelQuality); none: that check
        # finds no baseline and starts no job
        model_quality_statistics_uri=version.drift_baselines.get("model_statistics", ""),
        model_quality_constraints_uri=version.drift_baselines.get("model_constraints", ""),
    )


def write_pointer(s3, uri: str, pointer: LivePointer, kms_key_id: str | None) -> None:
    """One PutObject of the whole document (S3 replaces an object atomically: a reader sees the old pointer or the
    new one), SSE-KMS with the project's key when one is configured."""
    bucket, key = split_s3_uri(uri, "live pointer")
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=pointer.to_json(),
            ContentType="application/json",
            **encryption_args(kms_key_id),
        )
    except (ClientError, BotoCoreError) as exc:
        raise RepointError(failure("PutObject", uri, exc)) from exc


def repoint(
    config: Config,
    version: ModelVersion,
    clients: RepointClients,
    endpoint: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    wait: WaitPolicy = DEFAULT_WAIT,
) -> Repointed:
    """Point the monitoring of ``endpoint`` at ``version`` (live on it): the pointer, then (model-monitor engine)
    the schedule's baselines. RepointError says which step failed."""
    if endpoint and endpoint != config.endpoint_name:
        config = config.with_overrides(serving={"endpoint_name": endpoint})
    endpoint = config.endpoint_name
    pointer = pointer_for(version, endpoint, now())
    uri = live_pointer_uri(config, endpoint)
    write_pointer(clients.s3, uri, pointer, config.sagemaker.kms_key_id)
    schedule = "the check function reads the pointer"
    if config.monitoring.engine == "model-monitor":
        try:
            schedule = repoint_stack(config, clients, pointer, wait)
        except (CloudError, ConfigError) as exc:
            raise RepointError(f"{exc} (the live pointer {uri} was written)") from exc
    log.info("monitoring of %s points at %s", endpoint, version.reference)
    return Repointed(uri, pointer, schedule)


def cloudformation_client(config: Config) -> Any:
    """A CloudFormation client for the configured region (for callers that give none)."""
    import boto3

    return boto3.client("cloudformation", region_name=config.project.region)


def repoint_stack(
    config: Config, clients: RepointClients, pointer: LivePointer, wait: WaitPolicy = DEFAULT_WAIT
) -> str:
    """The model-monitor engine's parameters-only stack update to ``pointer``'s version: "not deployed" when there is
    no stack yet (``mlops monitor deploy`` creates it from the live pointer), else what the change set did."""
    cfn = clients.cloudformation or cloudformation_client(config)
    name = stack_name(config)
    stack = changeset.describe_stack(cfn, name)
    if stack is None:
        return "not deployed (mlops monitor deploy creates the stack)"
    previous = changeset.stack_parameters(stack)
    if previous.get("Engine") != "model-monitor":
        raise ConfigError(
            f"Stack {name} runs the {previous.get('Engine')!r} engine, the configuration says model-monitor: "
            "run mlops monitor deploy --backend sagemaker to switch engines"
        )
    baselines = {
        "BaselineStatisticsUri": pointer.baseline_statistics_uri,
        "BaselineConstraintsUri": pointer.baseline_constraints_uri,
        "ModelQualityBaselineConstraintsUri": pointer.model_quality_constraints_uri,
    }
    version = model_monitor.version_parameters(
        config, clients.s3, str(pointer.model_package_version), previous | baselines
    )
    wanted = {k: v for k, v in (baselines | version).items() if k in previous}  # thresholds the stack has alarms for
    parameters: dict[str, str | None] = {key: wanted.get(key) for key in previous}  # None: keep the current value
    deployment = changeset.deploy_stack(
        cfn, name, parameters, tags=stack_tags(config), wait=wait, use_previous_template=True
    )
    names = [n for n in (version["DataQualityJobDefinitionName"], version["ModelQualityJobDefinitionName"]) if n]
    return f"stack {name} {deployment.status}; job definitions {', '.join(names) or 'none'}"


def publish_alert(sns, topic_arn: str, subject: str, message: str) -> str:
    """Publish an alert; returns what happened, as a sentence (an alert that cannot be sent never raises)."""
    try:
        sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)
    except (ClientError, BotoCoreError) as exc:
        return f"the alert could not be sent: {failure('Publish', topic_arn, exc)}"
    return f"alert sent to {topic_arn}"
