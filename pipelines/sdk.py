"""The SageMaker SDK's edge: its environment quirks and an offline PipelineSession.

Quirks of SDK 3.27.0 handled here (see DESIGN.md): ``import sagemaker.mlops`` needs a region;
ModelTrainer calls IAM unless ``SAGEMAKER_VALIDATE_ROLE=false``; telemetry is opted out in memory (a
``SAGEMAKER_USER_CONFIG_OVERRIDE`` file would be re-validated on every lookup); and the session is given
its bucket so that nothing asks S3 whether it exists.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def prepare_environment(region: str) -> None:
    """Set what the SDK reads at import and build time, before importing it."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    quiet_sdk_logging()


def quiet_sdk_logging() -> None:
    """The SDK logs at INFO/DEBUG on its own loggers (config lookups, expected 'Popping out ...' notes about
    job names): keep only its errors unless the user asked for debug output."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    for name in ("sagemaker", "sagemaker.config"):
        logging.getLogger(name).setLevel(logging.ERROR)


OFFLINE_CREDENTIALS = {
    "aws_access_key_id": "offline-definition-build",
    "aws_secret_access_key": "offline-definition-build",
}


@contextmanager
def offline_sdk(region: str) -> Iterator[None]:
    """Run SDK code that builds, but never calls, AWS clients, without touching the network.

    Importing ``sagemaker.mlops`` creates a SageMaker client at import time (``AIRHub``), and ProcessingStep
    instantiates a local-mode session with a fresh ``boto3.Session()``. Creating a client resolves credentials,
    and with nothing configured the chain ends at the instance metadata endpoint (a network call). Inside this
    block that last provider is switched off; the variable is restored afterwards.
    """
    prepare_environment(region)
    previous = os.environ.get("AWS_EC2_METADATA_DISABLED")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        import sagemaker.mlops.workflow.pipeline
        import sagemaker.serve.model_builder  # noqa: F401

        quiet_sdk_logging()
        yield
    finally:
        if previous is None:
            os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
        else:
            os.environ["AWS_EC2_METADATA_DISABLED"] = previous


def pipeline_session(region: str, bucket: str, boto_session=None):
    """A PipelineSession that builds definitions without any network call."""
    prepare_environment(region)
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    quiet_sdk_logging()  # again: importing the SDK resets its loggers' levels
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("sagemaker"):
            logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.ERROR))
    # Static placeholder credentials: building a definition calls nothing, and a session without them would walk
    # the credential chain (ending at the instance metadata endpoint) just to create its clients.
    boto_session = boto_session or boto3.Session(region_name=region, **OFFLINE_CREDENTIALS)
    session = PipelineSession(boto_session=boto_session, default_bucket=bucket, sagemaker_config=SDK_CONFIG)
    session._default_bucket = bucket  # known bucket: default_bucket() must not call S3 to create it
    return session
