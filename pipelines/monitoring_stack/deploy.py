"""``mlops monitor deploy --backend sagemaker`` and the repoint after a model deploy.

Deploy: stage the functions' zip and the analyzer's code (content-addressed), render the template for the
configured features and alert addresses, deploy it through a change set with parameters from the configuration
(for the ``model-monitor`` engine the Model Monitor job definitions and schedules are resources of that stack:
``pipelines.monitoring_stack.model_monitor``). What the monitoring checks
against is the deployed model version's DriftCheckBaselines: the version given (then the live pointer is rewritten
to it), else the live pointer's (what the last deploy wrote), else the one the stack already monitors, else the
newest Approved version of the group, else none yet (the checks find no baselines and start no job).

Repointing after a model deploy: see ``pipelines.monitoring_stack.repoint`` (processing engine: the live pointer
only; model-monitor engine: the live pointer and a parameters-only stack update).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from monitoring.cloud.check_settings import read_pointer
from pipelines.cloud import CloudError
from pipelines.config import Config, ConfigError
from pipelines.monitoring_stack import changeset, model_monitor
from pipelines.monitoring_stack.names import (
    model_quality_metrics,
    monitored_features,
    schedule_name,
    stack_name,
    stack_tags,
)
from pipelines.monitoring_stack.package import lambda_artifact
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, kms_key_arn, stack_parameters
from pipelines.monitoring_stack.repoint import live_pointer_uri, pointer_for, write_pointer
from pipelines.monitoring_stack.template import MAX_BODY, render_template, template_body
from pipelines.registry.model import APPROVED, ModelVersion, RegistryError
from pipelines.staging import Artifact, code_artifacts, require_bucket, stage_to_s3, staged_objects

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitoringClients:
    """The boto3 clients the deploy uses (injected so tests use moto or botocore's Stubber)."""

    # boto3 clients are untyped (no stubs pinned): Any, so their calls are not checked
    cloudformation: Any
    s3: Any
    sagemaker: Any
    sts: Any

    @classmethod
    def from_session(cls, session) -> MonitoringClients:
        return cls(*(session.client(name) for name in ("cloudformation", "s3", "sagemaker", "sts")))


@dataclass(frozen=True)
class Images:
    processing: str  # the SageMaker XGBoost framework image of the check jobs
    model_monitor: str  # Model Monitor's analyzer


@dataclass(frozen=True)
class MonitoringDeployment:
    """What ``deploy_monitoring`` did."""

    stack: changeset.StackDeployment
    engine: str
    baselines: Baselines
    baselines_source: str
    schedule: str  # processing: ENABLED ...; model-monitor: the job definitions in the stack, or skipped
    warnings: tuple[str, ...] = ()


def resolve_images(config: Config) -> Images:
    """The images of both engines, from the SDK's offline image table."""
    from pipelines.sdk import prepare_environment

    prepare_environment(config.project.region)
    from sagemaker.core import image_uris

    try:
        return Images(
            image_uris.retrieve("xgboost", config.project.region, config.sagemaker.framework_version),
            image_uris.retrieve("model-monitor", config.project.region),
        )
    except ValueError as exc:
        raise ConfigError(f"No SageMaker image for region {config.project.region}: {exc}") from exc


def baselines_of(version: ModelVersion) -> Baselines:
    """The version's DriftCheckBaselines; ConfigError naming the version when it has none."""
    statistics, constraints = version.drift_baselines.get("statistics"), version.drift_baselines.get("constraints")
    if not (statistics and constraints):
        raise ConfigError(
            f"Model version {version.reference} has no DriftCheckBaselines (statistics and constraints): monitoring "
            f"needs a version registered with drift-check baselines, got {version.drift_baselines}"
        )
    return Baselines(statistics, constraints, version.arn, version.drift_baselines.get("model_constraints", ""))


def _resolve_baselines(config: Config, clients: MonitoringClients, stack, version) -> tuple[Baselines, str]:
    if version is not None:
        return baselines_of(version), f"model version {version.reference}"
    uri = live_pointer_uri(config)
    try:
        pointer = read_pointer(clients.s3, uri)
    except (RuntimeError, ValueError) as exc:
        raise CloudError(f"Reading the live pointer failed: {exc}") from exc
    if pointer is not None:
        live = Baselines(
            pointer.baseline_statistics_uri,
            pointer.baseline_constraints_uri,
            pointer.model_package_arn,
            pointer.model_quality_constraints_uri,
        )
        return live, f"model version {pointer.reference} (live pointer {uri})"
    previous = changeset.stack_parameters(stack)
    if previous.get("ServingModelPackageArn"):
        kept = Baselines(
            previous.get("BaselineStatisticsUri", ""),
            previous.get("BaselineConstraintsUri", ""),
            previous["ServingModelPackageArn"],
            previous.get("ModelQualityBaselineConstraintsUri", ""),
        )
        return kept, f"{kept.model_package_arn} (as the stack already monitors)"
    from pipelines.registry.sagemaker import SageMakerRegistry

    registry = SageMakerRegistry(
        clients.sagemaker, clients.s3, require_bucket(config.sagemaker.bucket), config.pipeline_name
    )
    try:
        approved = registry.list_versions(config.model_package_group, APPROVED)
    except RegistryError as exc:
        log.info("no approved versions: %s", exc)
        approved = []
    if approved:
        return baselines_of(approved[0]), f"model version {approved[0].reference} (newest Approved)"
    return Baselines(), "none: no Approved model version yet"


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _warnings(config: Config, baselines: Baselines) -> list[str]:
    sm, found = config.sagemaker, []
    if config.monitoring.engine == "processing" and sm.enable_network_isolation:
        found.append(
            "sagemaker.enable_network_isolation: the check jobs publish their metrics with PutMetricData, which "
            "network isolation blocks; the drift alarms will see no data"
        )
    if config.monitoring.engine == "processing" and sm.subnets:
        found.append(
            "sagemaker.subnets: VPC-only check jobs need S3 and CloudWatch (monitoring) VPC endpoints or a NAT "
            "to read capture files and publish metrics"
        )
    labels = config.ground_truth_destination
    if config.monitoring.model_quality.enabled and not labels.startswith(f"s3://{sm.bucket}/"):
        found.append(
            f"the model-quality check jobs read the ground truth at {labels}: sagemaker.role_arn needs s3:GetObject "
            "there (and kms:Decrypt for its key)"
        )
    quality, engine = config.monitoring.model_quality, config.monitoring.engine
    if quality.enabled and engine == "model-monitor" and baselines.model_package_arn:
        found += (
            []
            if baselines.model_quality_constraints
            else [
                "the deployed model version has no model-quality baseline (DriftCheckBaselines.ModelQuality): the "
                "model-monitor engine's model-quality schedule starts with the first version that has one"
            ]
        )
    if not baselines.model_package_arn:
        found.append(
            "no deployed model version: nothing is checked until one is deployed (the deploy writes the live pointer)"
        )
    if config.monitoring.alerts.sns_emails:
        found.append("SNS sends a confirmation email to each new address in monitoring.alerts.sns_emails")
    return found


def _template(config: Config, s3) -> tuple[str | None, str | None]:
    """(template body, None), or (None, its S3 URL) when it is too large to send inline: then it is staged like the
    code, under its content hash."""
    alerts = config.monitoring.alerts
    rendered = render_template(
        monitored_features(config),
        alerts.sns_emails,
        alerts.sns_https,
        model_quality_metrics=model_quality_metrics(config),
        engine=config.monitoring.engine,
    )
    body = template_body(rendered)
    if len(body.encode()) <= MAX_BODY:
        return body, None
    bucket, pipeline, region = require_bucket(config.sagemaker.bucket), config.pipeline_name, config.project.region
    template = Artifact("monitoring-template", (("monitoring.template.json", body.encode()),))
    stage_to_s3(staged_objects({"template": template}, bucket, pipeline), s3, config.sagemaker.kms_key_id)
    suffix = ".cn" if region.startswith("cn-") else ""
    return None, f"https://{bucket}.s3.{region}.amazonaws.com{suffix}/{template.uri(bucket, pipeline).split('/', 3)[3]}"


def _parameters(config: Config, clients: MonitoringClients, code: dict, images: Images, baselines: Baselines) -> dict:
    """The stack's parameters: the configuration's, where the code is staged, and the KMS key's ARN."""
    sm, region = config.sagemaker, config.project.region
    bucket, pipeline = sm.bucket or "", config.pipeline_name
    account = None
    if sm.kms_key_id and not sm.kms_key_id.startswith("arn:"):
        account = changeset.cloud_call("GetCallerIdentity", clients.sts.get_caller_identity)["Account"]
    artifacts = Artifacts(
        lambda_code_key=code["lambdas"].uri(bucket, pipeline).split("/", 3)[3],
        lib_uri=f"{code['lib'].prefix(bucket, pipeline)}/lib",
        processing_image_uri=images.processing,
    )
    parameters = stack_parameters(
        config, artifacts, baselines, kms_key_arn(sm.kms_key_id, _partition(region), region, account)
    )
    if config.monitoring.engine != "model-monitor":
        return parameters
    parameters |= model_monitor.engine_parameters(config, images.model_monitor)
    parameters["ModelQualityBaselineConstraintsUri"] = baselines.model_quality_constraints
    if not baselines.model_package_arn:
        return parameters | {"DataQualityJobDefinitionName": "", "ModelQualityJobDefinitionName": ""}
    version = model_monitor.version_of(baselines.model_package_arn)
    return parameters | model_monitor.version_parameters(config, clients.s3, version, parameters)


def _schedule(config: Config, parameters: dict[str, str]) -> str:
    """What the schedules are: the processing engine's state, or the model-monitor engine's job definitions."""
    if config.monitoring.engine != "model-monitor":
        return "ENABLED" if parameters.get("BaselineStatisticsUri") else "ENABLED (no baselines yet)"
    names = [parameters.get(n) for n in ("DataQualityJobDefinitionName", "ModelQualityJobDefinitionName")]
    if not any(names):
        return "skipped (no deployed model version)"
    return f"in the stack (job definitions {', '.join(n for n in names if n)})"


def deploy_monitoring(
    config: Config,
    *,
    clients: MonitoringClients | None = None,
    model_version: ModelVersion | None = None,
    dry_run: bool = False,
    images: Images | None = None,
    wait: changeset.WaitPolicy = changeset.DEFAULT_WAIT,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> MonitoringDeployment:
    """Deploy (or with ``dry_run`` only describe) the monitoring of ``config``'s endpoint.

    A dry run creates the change set, reports it and deletes it; it stages no code (a template too large to send
    inline is still staged, content-addressed, since the change set needs it).
    """
    sm = config.sagemaker
    if not sm.bucket or not sm.role_arn:
        raise ConfigError("monitor deploy needs sagemaker.bucket and sagemaker.role_arn (--bucket, --role-arn)")
    if clients is None:
        import boto3

        clients = MonitoringClients.from_session(boto3.Session(region_name=config.project.region))
    images = images or resolve_images(config)
    name = stack_name(config)
    stack = changeset.describe_stack(clients.cloudformation, name)
    baselines, source = _resolve_baselines(config, clients, stack, model_version)
    code = {"lambdas": lambda_artifact(), "lib": code_artifacts()["lib"]}
    parameters = _parameters(config, clients, code, images, baselines)
    body, template_url = _template(config, clients.s3)
    if config.monitoring.engine == "model-monitor":  # earlier releases created it through the API
        removed = model_monitor.remove_api_schedule(clients.sagemaker, schedule_name(config), dry_run=dry_run)
        log.info("API-created data-quality schedule: %s", removed)
    if not dry_run:
        uploaded = stage_to_s3(staged_objects(code, sm.bucket, config.pipeline_name), clients.s3, sm.kms_key_id)
        log.info("staged %d new code objects", uploaded)
    deployment = changeset.deploy_stack(
        clients.cloudformation,
        name,
        parameters,
        template_body=body,
        template_url=template_url,
        tags=stack_tags(config),
        dry_run=dry_run,
        wait=wait,
        now=now,
    )
    schedule = _schedule(config, parameters)
    if model_version is not None and not dry_run:
        write_pointer(
            clients.s3, live_pointer_uri(config), pointer_for(model_version, config.endpoint_name, now()), sm.kms_key_id
        )
    return MonitoringDeployment(
        deployment, config.monitoring.engine, baselines, source, schedule, tuple(_warnings(config, baselines))
    )
