"""Deploying a model package to a SageMaker real-time endpoint (boto3), with data capture.

Model from the model package -> EndpointConfig (one variant, the configured name, DataCaptureConfig with the KMS
key) -> CreateEndpoint, or UpdateEndpoint keeping the variant name, blue/green with automatic rollback on alarms
-> wait with progress -> a smoke test that invokes the endpoint with a row built from the baseline statistics.

Same rules as locally (``pipelines.deploy.local``): newest Approved version unless one is given, idempotent, never an
older version over a newer one without ``force``. Model and endpoint-config names are derived from what they
contain, so a repeated deploy (EventBridge may deliver an approval twice) reuses them instead of failing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence

from botocore.exceptions import ClientError

from pipelines.config import Config
from pipelines.deploy.local import DeployError, DeployResult, check_direction, choose_version
from pipelines.deploy.sagemaker_requests import Clients, WaitPolicy, data_capture_config
from pipelines.deploy.sagemaker_requests import call as _call
from pipelines.deploy.sagemaker_requests import not_found as _not_found
from pipelines.deploy.sagemaker_requests import package_version as _package_version
from pipelines.deploy.sagemaker_requests import resource_name as _name
from pipelines.deploy.smoke import row_from_statistics
from pipelines.objectstore import split_s3_uri
from pipelines.registry.model import APPROVED, ModelVersion
from pipelines.registry.sagemaker import SageMakerRegistry

__all__ = ["Clients", "SageMakerDeployer", "WaitPolicy", "data_capture_config", "default_rollback_alarms"]

logger = logging.getLogger(__name__)

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")
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
        self.registry = SageMakerRegistry(clients.sagemaker, clients.s3, config.sagemaker.bucket or "-", "")
        self.chosen: ModelVersion | None = None  # the version the last deploy() chose (what a repoint points at)

    # -- what is live -------------------------------------------------------------------------------
    def describe_endpoint(self) -> dict | None:
        try:
            return self.c.sagemaker.describe_endpoint(EndpointName=self.endpoint)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise DeployError(f"DescribeEndpoint {self.endpoint} failed: {exc}") from exc

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

    # -- resources ----------------------------------------------------------------------------------
    def ensure_model(self, chosen: ModelVersion) -> str:
        sm = self.config.sagemaker
        if not sm.role_arn:
            raise DeployError("A SageMaker deploy needs sagemaker.role_arn (or --role-arn): the model's execution role")
        request: dict = {
            "PrimaryContainer": {"ModelPackageName": chosen.arn},
            "ExecutionRoleArn": sm.role_arn,
            "EnableNetworkIsolation": sm.enable_network_isolation,
        }
        if sm.subnets:
            request["VpcConfig"] = {"Subnets": list(sm.subnets), "SecurityGroupIds": list(sm.security_group_ids)}
        name = _name(self.endpoint, chosen.version, request)
        if not self._exists(self.c.sagemaker.describe_model, ModelName=name):
            _call(
                f"CreateModel {name}", self.c.sagemaker.create_model, ModelName=name, **request, Tags=self._tags(chosen)
            )
            self.progress(f"Created model {name} from {chosen.arn}")
        return name

    def ensure_endpoint_config(self, chosen: ModelVersion, model_name: str) -> str:
        s = self.config.serving
        request: dict = {
            "ProductionVariants": [
                {
                    "VariantName": s.variant_name,
                    "ModelName": model_name,
                    "InstanceType": s.instance_type,
                    "InitialInstanceCount": s.instance_count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "DataCaptureConfig": data_capture_config(self.config),
        }
        if self.config.sagemaker.kms_key_id:
            request["KmsKeyId"] = self.config.sagemaker.kms_key_id
        name = _name(self.endpoint, chosen.version, request)
        if not self._exists(self.c.sagemaker.describe_endpoint_config, EndpointConfigName=name):
            _call(
                f"CreateEndpointConfig {name}",
                self.c.sagemaker.create_endpoint_config,
                EndpointConfigName=name,
                **request,
                Tags=self._tags(chosen),
            )
            capture = request["DataCaptureConfig"]
            self.progress(
                f"Created endpoint config {name}: variant {s.variant_name}, {s.instance_count} x {s.instance_type}, "
                f"capture {'on' if capture['EnableCapture'] else 'off'} ({capture['InitialSamplingPercentage']}% to "
                f"{capture['DestinationS3Uri']})"
            )
        return name

    def _exists(self, describe, **kwargs) -> bool:
        try:
            describe(**kwargs)
            return True
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise DeployError(f"{describe.__name__} {kwargs} failed: {exc}") from exc

    def _tags(self, chosen: ModelVersion) -> list[dict]:
        return [
            {"Key": "mlops:model-package-arn", "Value": chosen.arn},
            {"Key": "mlops:endpoint", "Value": self.endpoint},
        ]

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

    # -- waiting and the smoke test -----------------------------------------------------------------
    def wait_until_settled(self, what: str) -> dict:
        """Poll DescribeEndpoint until it is no longer busy; progress on every poll."""
        started = time.monotonic()
        last = None
        while True:
            described = self.describe_endpoint()
            if described is None:
                raise DeployError(f"Endpoint {self.endpoint} disappeared while {what}")
            status = described["EndpointStatus"]
            elapsed = time.monotonic() - started
            if status != last or status in BUSY:
                self.progress(f"Endpoint {self.endpoint}: {status} ({elapsed:.0f} s)")
                last = status
            if status not in BUSY:
                return described
            if elapsed > self.wait.timeout_seconds:
                raise DeployError(
                    f"Endpoint {self.endpoint} still {status} after {elapsed:.0f} s while {what}; "
                    "check it in the SageMaker console"
                )
            self.wait.sleep(self.wait.poll_seconds)

    def smoke_test(self, chosen: ModelVersion) -> str:
        """Invoke the endpoint with one baseline row; returns the prediction text; DeployError if it fails."""
        uri = chosen.drift_baselines.get("statistics") or chosen.metrics.get("model_data_statistics")
        if not uri:
            raise DeployError(f"{chosen.reference} has no baseline statistics to build a smoke-test row from")
        bucket, key = split_s3_uri(uri)
        body = _call(f"GetObject {uri}", self.c.s3.get_object, Bucket=bucket, Key=key)["Body"].read()
        row = row_from_statistics(json.loads(body), uri)
        response = _call(
            f"InvokeEndpoint {self.endpoint} (smoke test with {row!r})",
            self.c.runtime.invoke_endpoint,
            EndpointName=self.endpoint,
            ContentType="text/csv",
            Accept="text/csv",
            Body=row.encode(),
        )
        answer = response["Body"].read().decode("utf-8", "replace").strip()
        try:
            float(answer.splitlines()[0])
        except (ValueError, IndexError):
            raise DeployError(
                f"Smoke test of {self.endpoint}: {row!r} answered {answer[:200]!r}, expected one prediction"
            ) from None
        self.progress(f"Smoke test: {row} -> {answer}")
        return answer

    # -- the deploy ----------------------------------------------------------------------------------
    def deploy(
        self, group: str | None = None, version: int | None = None, arn: str | None = None, force: bool = False
    ) -> DeployResult:
        chosen = self.chosen = self.choose(group, version, arn, force)
        described = self.describe_endpoint()
        if described is not None and described["EndpointStatus"] in BUSY:
            described = self.wait_until_settled("waiting for an earlier change to finish")
        if described is not None and described["EndpointStatus"] == "Failed":
            raise DeployError(
                f"Endpoint {self.endpoint} is Failed ({described.get('FailureReason', 'no reason given')}): "
                "delete it (aws sagemaker delete-endpoint) and deploy again"
            )
        live_arn, live_config = self.live(described) if described is not None else (None, {})
        live = self._live_version(live_arn)
        previous = f"{live[0]}/{live[1]}" if live else None
        if live_arn == chosen.arn and live_config.get("DataCaptureConfig") == data_capture_config(self.config):
            return DeployResult(
                "unchanged",
                self.endpoint,
                chosen.reference,
                previous,
                f"{chosen.reference} is already live on SageMaker endpoint {self.endpoint}: nothing to do",
            )
        check_direction(live, chosen, self.endpoint, force)
        model_name = self.ensure_model(chosen)
        config_name = self.ensure_endpoint_config(chosen, model_name)
        if described is None:
            _call(
                f"CreateEndpoint {self.endpoint}",
                self.c.sagemaker.create_endpoint,
                EndpointName=self.endpoint,
                EndpointConfigName=config_name,
                Tags=self._tags(chosen),
            )
            self.progress(f"Creating endpoint {self.endpoint} with {config_name}")
        else:
            _call(
                f"UpdateEndpoint {self.endpoint}",
                self.c.sagemaker.update_endpoint,
                EndpointName=self.endpoint,
                EndpointConfigName=config_name,
                RetainAllVariantProperties=False,
                DeploymentConfig=self.deployment_config(),
            )
            self.progress(
                f"Updating endpoint {self.endpoint} to {config_name} (blue/green, rollback on {', '.join(self.alarms)})"
            )
        final = self.wait_until_settled(f"deploying {chosen.reference}")
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
        prediction = self.smoke_test(chosen)
        was = f" (was {previous})" if previous else ""
        return DeployResult(
            "deployed",
            self.endpoint,
            chosen.reference,
            previous,
            f"Deployed {chosen.reference} to SageMaker endpoint {self.endpoint}{was}; smoke test answered {prediction}",
        )
