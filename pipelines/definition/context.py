"""What every step of the definition shares: the frozen build context, its pipeline parameters and staged code.

Nothing here imports the SageMaker SDK at module level: ``pipelines.definition`` re-exports the constants and
naming helpers below, and importing them must stay cheap and offline. ``build_context`` imports the SDK, and is
only called by ``get_pipeline`` inside ``offline_sdk``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.config import Config
from pipelines.parameters import hyperparameter_parameter_name, parameter_specs
from pipelines.staging import Artifact, code_artifacts, require_bucket

__all__ = ["hyperparameter_parameter_name"]  # re-exported: pipelines.definition's naming helpers

CONTAINER_ROOT = "/opt/ml/processing"
LIB_DIR = f"{CONTAINER_ROOT}/input/lib"
INFERENCE_ENV = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    # the container's answer type for a missing or */* Accept (its own default is application/json); the local
    # endpoint reads the same variable from the registered model
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
}
CONTENT_TYPES = ["text/csv", "application/json"]
PREPROCESS_OUTPUTS = ("train", "validation", "test", "baseline", "transform")
BASELINE_ENTRY = "lib/monitoring/container_entry.py"  # the analyzer, inside the staged lib tarball


def input_data_default(config: Config, data: Artifact | None) -> str:
    """Default of ``InputDataUrl``: the configured s3:// URI, or the staged copy of the local file."""
    if config.data.input.startswith("s3://"):
        return config.data.input
    if data is None:
        raise ValueError(f"data.input {config.data.input!r} is a local file: stage it (pass its Artifact)")
    return data.uri(require_bucket(config.sagemaker.bucket), config.pipeline_name)


@dataclass(frozen=True)
class Parameters:
    """The definition's pipeline parameters (SDK ``Parameter*`` objects) by name, in declaration order, built from
    ``pipelines.parameters.parameter_specs``: the one list ``--param`` is checked against."""

    by_name: dict[str, Any]
    hyperparameters: dict[str, Any]  # hyperparameter key -> its ParameterString

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def declared(self) -> list:
        """The parameters in the order the definition lists them."""
        return list(self.by_name.values())

    @property
    def input_data(self) -> Any:
        return self.by_name["InputDataUrl"]

    @property
    def gate_threshold(self) -> Any:
        return self.by_name["GateThreshold"]

    @property
    def approval_status(self) -> Any:
        return self.by_name["ModelApprovalStatus"]

    @property
    def processing_instance_type(self) -> Any:
        return self.by_name["ProcessingInstanceType"]

    @property
    def processing_instance_count(self) -> Any:
        return self.by_name["ProcessingInstanceCount"]

    @property
    def training_instance_type(self) -> Any:
        return self.by_name["TrainingInstanceType"]

    @property
    def training_instance_count(self) -> Any:
        return self.by_name["TrainingInstanceCount"]


@dataclass(frozen=True)
class StagedCode:
    """Where the staged, content-addressed code lives (see ``pipelines.staging``)."""

    preprocess: str  # the script's s3:// URI
    evaluate: str
    training: str  # the training script's URI; its folder holds sourcedir.tar.gz
    baseline_entry: str  # the analyzer's entry point inside the lib tarball
    lib_prefix: str  # the folder the lib input mounts at LIB_DIR


@dataclass(frozen=True)
class BuildContext:
    """Everything the step functions read: configuration, session, parameters, staged code and shared settings."""

    config: Config
    session: Any
    parameters: Parameters
    code: StagedCode
    image: str  # the XGBoost framework image every job runs
    cache: Any  # CacheConfig
    job_retries: list  # retry policies of job steps (capacity and internal errors, service faults, throttling)
    network: Any  # NetworkConfig

    @property
    def name(self) -> str:
        return self.config.pipeline_name

    @property
    def base(self) -> str:
        """``s3://<bucket>/<pipeline>``: the prefix of every output."""
        return f"s3://{self.config.sagemaker.bucket}/{self.name}"

    @property
    def step_retries(self) -> list:
        """Retry policies of non-job steps (service faults and throttling only)."""
        return [self.job_retries[1]]


def staged_code(config: Config, artifacts: dict[str, Artifact]) -> StagedCode:
    """The staged code's URIs for ``config``'s bucket and pipeline."""
    bucket, name = require_bucket(config.sagemaker.bucket), config.pipeline_name
    return StagedCode(
        preprocess=artifacts["preprocess"].uri(bucket, name),
        evaluate=artifacts["evaluate"].uri(bucket, name),
        training=artifacts["training"].uri(bucket, name),
        baseline_entry=artifacts["lib"].uri(bucket, name, BASELINE_ENTRY),
        lib_prefix=artifacts["lib"].prefix(bucket, name) + "/lib",
    )


def pipeline_parameters(config: Config, data: Artifact | None) -> Parameters:
    """The SDK parameters of ``parameter_specs(config)``, ``InputDataUrl`` defaulting to the input's staged copy."""
    from sagemaker.core.workflow.parameters import (
        ParameterBoolean,
        ParameterFloat,
        ParameterInteger,
        ParameterString,
    )

    kinds = {
        "String": ParameterString,
        "Float": ParameterFloat,
        "Integer": ParameterInteger,
        "Boolean": ParameterBoolean,
    }
    by_name = {
        spec.name: kinds[spec.kind](spec.name, default_value=spec.default)
        for spec in parameter_specs(config, input_data_default(config, data))
    }
    hyperparameters = {key: by_name[hyperparameter_parameter_name(key)] for key in config.training.hyperparameters}
    return Parameters(by_name, hyperparameters)


def build_context(
    config: Config, session, artifacts: dict[str, Artifact] | None = None, data: Artifact | None = None
) -> BuildContext:
    """The context of one build (the SDK must be importable offline: call inside ``offline_sdk``)."""
    from sagemaker.core import image_uris
    from sagemaker.core.network import NetworkConfig
    from sagemaker.mlops.workflow.steps import CacheConfig

    sm = config.sagemaker
    return BuildContext(
        config=config,
        session=session,
        parameters=pipeline_parameters(config, data),
        code=staged_code(config, artifacts or code_artifacts()),
        image=image_uris.retrieve("xgboost", config.project.region, sm.framework_version),
        cache=CacheConfig(enable_caching=True, expire_after=sm.cache_expire_after),
        job_retries=_job_retries(sm.retry_attempts),
        network=NetworkConfig(
            enable_network_isolation=sm.enable_network_isolation,
            security_group_ids=list(sm.security_group_ids) or None,
            subnets=list(sm.subnets) or None,
            encrypt_inter_container_traffic=sm.enable_inter_container_encryption,
        ),
    )


def _job_retries(retry_attempts: int) -> list:
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )

    return [
        SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
            ],
            max_attempts=retry_attempts + 1,
            backoff_rate=2.0,
            interval_seconds=30,
        ),
        StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.SERVICE_FAULT, StepExceptionTypeEnum.THROTTLING],
            max_attempts=retry_attempts + 1,
            backoff_rate=2.0,
            interval_seconds=10,
        ),
    ]


def column_list(names: Sequence[str]) -> str:
    """Column names as Preprocess's ``--numeric`` / ``--categorical`` read them: comma-separated, or a JSON list
    when a name holds a comma or the first starts with ``[`` (so usual names keep the definition as it was)."""
    if any("," in name for name in names) or (names and names[0].lstrip().startswith("[")):
        return json.dumps(list(names))
    return ",".join(names)
