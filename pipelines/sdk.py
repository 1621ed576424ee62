"""The SageMaker SDK's edge: its environment quirks and an offline PipelineSession.

Quirks of SDK 3.27.0 handled here (see DESIGN.md): ``import sagemaker.mlops`` needs a region;
ModelTrainer calls IAM unless ``SAGEMAKER_VALIDATE_ROLE=false``; telemetry is opted out in memory (a
``SAGEMAKER_USER_CONFIG_OVERRIDE`` file would be re-validated on every lookup); and the session is given
its bucket so that nothing asks S3 whether it exists.
"""

from __future__ import annotations

import os

SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def prepare_environment(region: str) -> None:
    """Set what the SDK reads at import and build time, before importing it."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"


def sdk_version() -> str:
    from importlib.metadata import version

    return version("sagemaker")


def pipeline_session(region: str, bucket: str, boto_session=None):
    """A PipelineSession that builds definitions without any network call."""
    prepare_environment(region)
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    boto_session = boto_session or boto3.Session(region_name=region)
    session = PipelineSession(boto_session=boto_session, default_bucket=bucket, sagemaker_config=SDK_CONFIG)
    session._default_bucket = bucket  # known bucket: default_bucket() must not call S3 to create it
    return session
