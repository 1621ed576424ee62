"""The requests and answers of a SageMaker deploy: the clients, names derived from content, DataCaptureConfig, a
DescribeModelPackage answer as a registry version, and AWS calls whose errors say which call failed."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.config import Config
from pipelines.deploy.local import DeployError, capture_settings
from pipelines.registry.model import PENDING, ModelVersion, version_from_request


@dataclass(frozen=True)
class Clients:
    """The boto3 clients a deploy uses (injected so tests can use moto or botocore's Stubber)."""

    # boto3 clients are untyped (no stubs pinned): Any, so their calls are not checked
    sagemaker: Any
    runtime: Any
    s3: Any
    cloudwatch: Any
    sns: Any = None  # the alert of a failed repoint
    cloudformation: Any = None  # the repoint's stack update (model-monitor engine)
    autoscaling: Any = None  # application-autoscaling: serving.autoscaling

    @classmethod
    def from_session(cls, session) -> Clients:
        return cls(
            session.client("sagemaker"),
            session.client("sagemaker-runtime"),
            session.client("s3"),
            session.client("cloudwatch"),
            session.client("sns"),
            session.client("cloudformation"),
            session.client("application-autoscaling"),
        )


@dataclass(frozen=True)
class WaitPolicy:
    poll_seconds: float = 30.0
    timeout_seconds: float = 3600.0
    sleep: Callable[[float], None] = time.sleep


def call(what: str, func, **kwargs):
    try:
        return func(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"{what} failed: {exc}") from exc


def not_found(exc: ClientError) -> bool:
    message = exc.response.get("Error", {}).get("Message", "")
    return exc.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound") and (
        "Could not find" in message or "does not exist" in message
    )


def resource_name(prefix: str, version: int, content: object) -> str:
    """``<prefix>-v<version>-<hash of content>``: at most 63 characters, as SageMaker names allow."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
    suffix = f"-v{version}-{digest}"
    return prefix[: 63 - len(suffix)].rstrip("-") + suffix


def data_capture_config(config: Config) -> dict:
    """DataCaptureConfig of the endpoint config, from ``serving.capture`` and ``sagemaker.kms_key_id``."""
    s = capture_settings(config)
    options = ([{"CaptureMode": "Input"}] if s.capture_input else []) + (
        [{"CaptureMode": "Output"}] if s.capture_output else []
    )
    block = {
        "EnableCapture": bool(s.enabled and options),
        "InitialSamplingPercentage": s.sampling_percentage,
        "DestinationS3Uri": s.destination,
        "CaptureOptions": options or [{"CaptureMode": "Input"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": list(s.csv_content_types),
            "JsonContentTypes": list(s.json_content_types),
        },
    }
    if config.sagemaker.kms_key_id:
        block["KmsKeyId"] = config.sagemaker.kms_key_id
    return block


def package_version(described: dict) -> ModelVersion:
    """A DescribeModelPackage answer as a registry version."""
    fields = version_from_request(
        {
            "ModelPackageGroupName": described.get("ModelPackageGroupName"),
            "ModelApprovalStatus": described.get("ModelApprovalStatus", PENDING),
            "InferenceSpecification": described.get("InferenceSpecification") or {},
            "ModelMetrics": described.get("ModelMetrics") or {},
            "DriftCheckBaselines": described.get("DriftCheckBaselines") or {},
        }
    )
    return ModelVersion(
        group=fields.pop("group"),
        version=int(described["ModelPackageVersion"]),
        status=fields.pop("status"),
        created=str(described.get("CreationTime", "")),
        arn=described["ModelPackageArn"],
        **fields,
    )
