"""One SageMaker endpoint as a deploy acts on it: describe it, create its model and endpoint config (named by
their content, so a repeated deploy reuses them), wait for it to settle, and smoke-test it with a baseline row.
``pipelines.deploy.sagemaker`` decides what to deploy and whether; this module does the calls.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.config import Config
from pipelines.deploy.sagemaker_requests import Clients, WaitPolicy, data_capture_config
from pipelines.deploy.sagemaker_requests import call as _call
from pipelines.deploy.sagemaker_requests import not_found as _not_found
from pipelines.deploy.sagemaker_requests import resource_name as _name
from pipelines.deploy.smoke import row_from_statistics
from pipelines.deploy.versions import DeployError
from pipelines.objectstore import split_s3_uri
from pipelines.registry.model import ModelVersion

logger = logging.getLogger(__name__)

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")


@dataclass(frozen=True)
class Endpoint:
    """The endpoint ``name`` reached through ``clients``, configured by ``config``; progress lines go to
    ``progress``."""

    name: str
    config: Config
    clients: Clients
    wait: WaitPolicy
    progress: Callable[[str], None]

    def describe(self) -> dict | None:
        """DescribeEndpoint's answer, or None when the endpoint does not exist."""
        try:
            return self.clients.sagemaker.describe_endpoint(EndpointName=self.name)
        except BotoCoreError as exc:  # no credentials, no endpoint to reach
            raise DeployError(f"DescribeEndpoint {self.name} failed: {exc}") from exc
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise DeployError(f"DescribeEndpoint {self.name} failed: {exc}") from exc

    def ensure_model(self, chosen: ModelVersion) -> str:
        """The SageMaker model serving ``chosen`` (named by its content: reused when it exists)."""
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
        name, created = self._create_once("Model", "model", chosen, request)
        if created:
            self.progress(f"Created model {name} from {chosen.arn}")
        return name

    def ensure_endpoint_config(self, chosen: ModelVersion, model_name: str, count: int | None = None) -> str:
        """The endpoint config: one variant of ``model_name`` on ``count`` instances (default
        ``serving.instance_count``) with data capture (named by its content)."""
        s = self.config.serving
        count = count or s.instance_count
        request: dict = {
            "ProductionVariants": [
                {
                    "VariantName": s.variant_name,
                    "ModelName": model_name,
                    "InstanceType": s.instance_type,
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "DataCaptureConfig": data_capture_config(self.config),
        }
        if self.config.sagemaker.kms_key_id:
            request["KmsKeyId"] = self.config.sagemaker.kms_key_id
        name, created = self._create_once("EndpointConfig", "endpoint_config", chosen, request)
        if created:
            capture = request["DataCaptureConfig"]
            self.progress(
                f"Created endpoint config {name}: variant {s.variant_name}, {count} x {s.instance_type}, "
                f"capture {'on' if capture['EnableCapture'] else 'off'} ({capture['InitialSamplingPercentage']}% to "
                f"{capture['DestinationS3Uri']})"
            )
        return name

    def _create_once(self, kind: str, method: str, chosen: ModelVersion, request: dict) -> tuple[str, bool]:
        """(name, created): the ``kind`` (Model, EndpointConfig; boto3's ``describe_<method>`` and
        ``create_<method>``) named by ``request``'s content, created unless it exists (a repeated deploy reuses it)."""
        name = _name(self.name, chosen.version, request)
        sagemaker, key = self.clients.sagemaker, {f"{kind}Name": name}
        if self._exists(getattr(sagemaker, f"describe_{method}"), **key):
            return name, False
        _call(f"Create{kind} {name}", getattr(sagemaker, f"create_{method}"), **key, **request, Tags=self.tags(chosen))
        return name, True

    def _exists(self, describe, **kwargs) -> bool:
        try:
            describe(**kwargs)
            return True
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise DeployError(f"{describe.__name__} {kwargs} failed: {exc}") from exc

    def tags(self, chosen: ModelVersion) -> list[dict]:
        """The tags of every resource a deploy creates."""
        return [
            {"Key": "mlops:model-package-arn", "Value": chosen.arn},
            {"Key": "mlops:endpoint", "Value": self.name},
        ]

    def wait_until_settled(self, what: str) -> dict:
        """Poll DescribeEndpoint until it is no longer busy; progress on every poll."""
        started = time.monotonic()
        last = None
        while True:
            described = self.describe()
            if described is None:
                raise DeployError(f"Endpoint {self.name} disappeared while {what}")
            status = described["EndpointStatus"]
            elapsed = time.monotonic() - started
            if status != last or status in BUSY:
                self.progress(f"Endpoint {self.name}: {status} ({elapsed:.0f} s)")
                last = status
            if status not in BUSY:
                return described
            if elapsed > self.wait.timeout_seconds:
                raise DeployError(
                    f"Endpoint {self.name} still {status} after {elapsed:.0f} s while {what}; "
                    "check it in the SageMaker console"
                )
            self.wait.sleep(self.wait.poll_seconds)

    def smoke_test(self, chosen: ModelVersion) -> str:
        """Invoke the endpoint with one baseline row; returns the prediction text; DeployError if it fails."""
        uri = chosen.drift_baselines.get("statistics") or chosen.metrics.get("model_data_statistics")
        if not uri:
            raise DeployError(f"{chosen.reference} has no baseline statistics to build a smoke-test row from")
        bucket, key = split_s3_uri(uri)
        body = _call(f"GetObject {uri}", self.clients.s3.get_object, Bucket=bucket, Key=key)["Body"].read()
        row = row_from_statistics(json.loads(body), uri)
        response = _call(
            f"InvokeEndpoint {self.name} (smoke test with {row!r})",
            self.clients.runtime.invoke_endpoint,
            EndpointName=self.name,
            ContentType="text/csv",
            Accept="text/csv",
            Body=row.encode(),
        )
        answer = response["Body"].read().decode("utf-8", "replace").strip()
        try:
            float(answer.splitlines()[0])
        except (ValueError, IndexError):
            raise DeployError(
                f"Smoke test of {self.name}: {row!r} answered {answer[:200]!r}, expected one prediction"
            ) from None
        self.progress(f"Smoke test: {row} -> {answer}")
        return answer
