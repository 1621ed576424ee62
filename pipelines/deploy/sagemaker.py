"""Deploying a model package to a SageMaker real-time endpoint (boto3), with data capture.

Model from the model package -> EndpointConfig (one variant, the configured name, DataCaptureConfig with the KMS
key) -> CreateEndpoint, or UpdateEndpoint keeping the variant name, blue/green with automatic rollback on alarms
-> wait with progress -> a smoke test that invokes the endpoint with a row built from the baseline statistics.

Same rules as locally (``pipelines.deploy.local``): newest Approved version unless one is given, idempotent, never an
older version over a newer one without ``force``. Model and endpoint-config names are derived from what they
contain, so a repeated deploy (EventBridge may deliver an approval twice) reuses them instead of failing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pipelines.config import Config
from pipelines.deploy.sagemaker_endpoint import BUSY, Endpoint
from pipelines.deploy.sagemaker_requests import Clients, WaitPolicy, data_capture_config
from pipelines.deploy.sagemaker_requests import call as _call
from pipelines.deploy.sagemaker_requests import package_version as _package_version
from pipelines.deploy.sagemaker_scaling import DEREGISTERED, KEPT, Scaling
from pipelines.deploy.versions import DeployError, DeployResult, check_direction, choose_version
from pipelines.registry.model import APPROVED, ModelVersion
from pipelines.registry.sagemaker import SageMakerRegistry

__all__ = ["Clients", "SageMakerDeployer", "WaitPolicy", "data_capture_config", "default_rollback_alarms"]

logger = logging.getLogger(__name__)

BAKE_SECONDS = 300  # blue/green: how long the new fleet takes traffic while the alarms are watched


def default_rollback_alarms(endpoint: str) -> list[str]:
    """The rollback alarms infrastructure/deploy-on-approval.yaml creates for the endpoint, in the order of its
    RollbackAlarms output (the 5xx and 4xx rates and the p99 latency of the variant; a test holds the two equal)."""
    return [f"{endpoint}-invocation-5xx-rate", f"{endpoint}-invocation-4xx-rate", f"{endpoint}-model-latency-p99"]


class SageMakerDeployer:
    """One deploy to one endpoint."""

    def __init__(
        self,
        config: Config,
        clients: Clients,
        endpoint: str | None = None,
        rollback_alarms: Sequence[str] | None = None,
        wait: WaitPolicy | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.c = clients
        self.endpoint = endpoint or config.endpoint_name
        self.alarms = list(rollback_alarms) if rollback_alarms is not None else default_rollback_alarms(self.endpoint)
        self.wait = wait or WaitPolicy()
        self.progress = progress or (lambda message: logger.info("%s", message))
        self.target = Endpoint(self.endpoint, config, clients, self.wait, self.progress)
        self.scaling = Scaling(self.endpoint, config, clients.autoscaling, self.progress)
        self.registry = SageMakerRegistry(clients.sagemaker, clients.s3, config.sagemaker.bucket or "-", "")
        self.chosen: ModelVersion | None = None  # the version the last deploy() chose (what a repoint points at)

    # -- what is live -------------------------------------------------------------------------------
    def describe_endpoint(self) -> dict | None:
        """DescribeEndpoint's answer, or None when the endpoint does not exist."""
        return self.target.describe()

    def live(self, described: dict) -> tuple[str | None, dict]:
        """(model package ARN served by the configured variant, its endpoint config) of a described endpoint."""
        name = described["EndpointConfigName"]
        endpoint_config = _call(
            f"DescribeEndpointConfig {name}", self.c.sagemaker.describe_endpoint_config, EndpointConfigName=name
        )
        variant = self.config.serving.variant_name
        model_name = next(
            (v["ModelName"] for v in endpoint_config.get("ProductionVariants", []) if v["VariantName"] == variant), None
        )
        if model_name is None:
            return None, endpoint_config
        model = _call(f"DescribeModel {model_name}", self.c.sagemaker.describe_model, ModelName=model_name)
        containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
        arn = next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)
        return arn, endpoint_config

    def live_version(self) -> ModelVersion | None:
        """The model version the endpoint's configured variant serves (None: no endpoint, or not from a package)."""
        described = self.describe_endpoint()
        if described is None:
            return None
        arn, _ = self.live(described)
        if arn is None:
            return None
        return _package_version(
            _call(f"DescribeModelPackage {arn}", self.c.sagemaker.describe_model_package, ModelPackageName=arn)
        )

    def _live_version(self, arn: str | None) -> tuple[str, int] | None:
        if arn is None:
            return None
        described = _call("DescribeModelPackage", self.c.sagemaker.describe_model_package, ModelPackageName=arn)
        if "ModelPackageVersion" not in described:
            return None
        return described["ModelPackageGroupName"], int(described["ModelPackageVersion"])

    # -- the version --------------------------------------------------------------------------------
    def choose(self, group: str | None, version: int | None, arn: str | None, force: bool) -> ModelVersion:
        """By ARN (the approval event's path) only DescribeModelPackage is called, so the deploy role needs no
        ListModelPackages (an action without resource-level permissions); otherwise through the registry."""
        if arn is None:
            return choose_version(self.registry, group or self.config.model_package_group, version, None, force)
        described = _call("DescribeModelPackage", self.c.sagemaker.describe_model_package, ModelPackageName=arn)
        chosen = _package_version(described)
        if chosen.status != APPROVED and not force:
            raise DeployError(
                f"{chosen.reference} is {chosen.status}, not Approved: approve it first "
                f"(mlops models approve {chosen.reference} --backend sagemaker --note '...') or pass --force"
            )
        return chosen

    def deployment_config(self) -> dict:
        """Blue/green, all traffic at once after the new fleet is healthy, rolled back if an alarm fires."""
        if not self.alarms:
            raise DeployError("UpdateEndpoint needs at least one rollback alarm (--rollback-alarm NAME)")
        found = _call("DescribeAlarms", self.c.cloudwatch.describe_alarms, AlarmNames=self.alarms)
        known = {a["AlarmName"] for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])}
        missing = [a for a in self.alarms if a not in known]
        if missing:
            raise DeployError(
                f"Rollback alarm(s) {', '.join(missing)} not found in CloudWatch: create them with "
                f"infrastructure/deploy-on-approval.yaml (EndpointName={self.endpoint}) or pass --rollback-alarm NAME"
            )
        return {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": BAKE_SECONDS},
                "TerminationWaitInSeconds": BAKE_SECONDS,
                "MaximumExecutionTimeoutInSeconds": int(min(max(self.wait.timeout_seconds, 600), 14400)),
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in self.alarms]},
        }

    # -- the deploy ----------------------------------------------------------------------------------
    def deploy(
        self, group: str | None = None, version: int | None = None, arn: str | None = None, force: bool = False
    ) -> DeployResult:
        """Deploy the chosen version (see the module docstring): unchanged, or created / updated, settled, checked
        and smoke-tested; DeployError saying what to do when it cannot."""
        chosen = self.chosen = self.choose(group, version, arn, force)
        described = self._settled_before()
        live_arn, live_config = self.live(described) if described is not None else (None, {})
        live = self._live_version(live_arn)
        previous = f"{live[0]}/{live[1]}" if live else None
        if live_arn == chosen.arn and live_config.get("DataCaptureConfig") == data_capture_config(self.config):
            message = f"{chosen.reference} is already live on SageMaker endpoint {self.endpoint}: nothing to do"
            self.scaling.apply()  # a changed serving.autoscaling applies without a new version
            return DeployResult("unchanged", self.endpoint, chosen.reference, previous, message)
        check_direction(live, chosen, self.endpoint, force)
        count = self.scaling.instance_count(described)
        config_name = self.target.ensure_endpoint_config(chosen, self.target.ensure_model(chosen), count)
        self._roll_out(chosen, config_name, live_config if described is not None else None)
        self._check_settled(chosen, config_name)
        prediction = self.target.smoke_test(chosen)
        was = f" (was {previous})" if previous else ""
        return DeployResult(
            "deployed",
            self.endpoint,
            chosen.reference,
            previous,
            f"Deployed {chosen.reference} to SageMaker endpoint {self.endpoint}{was}; smoke test answered {prediction}",
        )

    def _settled_before(self) -> dict | None:
        """The endpoint as described once an earlier change has finished (None: no endpoint); refuses a Failed one."""
        described = self.describe_endpoint()
        if described is not None and described["EndpointStatus"] in BUSY:
            described = self.target.wait_until_settled("waiting for an earlier change to finish")
        if described is not None and described["EndpointStatus"] == "Failed":
            raise DeployError(
                f"Endpoint {self.endpoint} is Failed ({described.get('FailureReason', 'no reason given')}): "
                "delete it (aws sagemaker delete-endpoint) and deploy again"
            )
        return described

    def _roll_out(self, chosen: ModelVersion, config_name: str, live_config: dict | None) -> None:
        """CreateEndpoint (no ``live_config``: no endpoint yet), or UpdateEndpoint blue/green with rollback on the
        alarms, the autoscaling registration kept (the update retains the variant's desired count) or, when the
        instance type changes, deregistered first and registered again if the update is refused."""
        if live_config is None:
            _call(
                f"CreateEndpoint {self.endpoint}",
                self.c.sagemaker.create_endpoint,
                EndpointName=self.endpoint,
                EndpointConfigName=config_name,
                Tags=self.target.tags(chosen),
            )
            self.progress(f"Creating endpoint {self.endpoint} with {config_name}")
            return
        deployment = self.deployment_config()  # the alarms are checked before the registration is touched
        registration = self.scaling.before_update(_instance_type(live_config, self.config))
        try:
            _call(
                f"UpdateEndpoint {self.endpoint}",
                self.c.sagemaker.update_endpoint,
                EndpointName=self.endpoint,
                EndpointConfigName=config_name,
                DeploymentConfig=deployment,
                **_retained(registration == KEPT),
            )
        except DeployError:
            if registration == DEREGISTERED:
                self.scaling.apply()  # the old fleet keeps serving: autoscale it again
            raise
        self.progress(
            f"Updating endpoint {self.endpoint} to {config_name} (blue/green, rollback on {', '.join(self.alarms)})"
        )

    def _check_settled(self, chosen: ModelVersion, config_name: str) -> None:
        """Wait for the endpoint; DeployError unless it is InService on ``config_name`` (not rolled back)."""
        final = self.target.wait_until_settled(f"deploying {chosen.reference}")
        if final["EndpointStatus"] == "InService":
            self.scaling.apply()  # also after a rollback: the variant that serves is scaled
        if final["EndpointStatus"] != "InService":
            raise DeployError(
                f"Endpoint {self.endpoint} is {final['EndpointStatus']} after deploying {chosen.reference}: "
                f"{final.get('FailureReason', 'no reason given')}"
            )
        if final["EndpointConfigName"] != config_name:
            raise DeployError(
                f"Endpoint {self.endpoint} rolled back to {final['EndpointConfigName']}: an alarm fired while "
                f"{chosen.reference} took traffic ({final.get('FailureReason', 'see the endpoint events')})"
            )


def _instance_type(endpoint_config: dict, config: Config) -> str | None:
    """The instance type of the configured variant in a described endpoint config."""
    variants = endpoint_config.get("ProductionVariants") or []
    return next((v.get("InstanceType") for v in variants if v["VariantName"] == config.serving.variant_name), None)


def _retained(retain: bool) -> dict:
    """UpdateEndpoint's variant-property arguments: AWS's documented way of keeping an autoscaled variant's desired
    count across an update, with the data capture of the new endpoint config applied."""
    if not retain:
        return {"RetainAllVariantProperties": False}
    return {
        "RetainAllVariantProperties": True,
        "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DataCaptureConfig"}],
    }
