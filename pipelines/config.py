"""The project's configuration: one YAML file at the repo root, validated once into typed objects.

The sections are frozen dataclasses whose fields declare type, bounds and enumerations; pydantic validates the
file into them (pipelines/config_values.py tells its findings), and cross-field rules are validators of the
section that holds both fields. Every error says where, what was expected and what was found ("mlops.yaml:
data.split: must be three positive fractions summing to 1, got [0.5, 0.5]"), all of them at once. Nothing below
the entry points reads the environment or the file again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BeforeValidator, Field, with_config

from pipelines.config_rules import (
    BUCKET_EXPECTED,
    LOWER_IS_BETTER,
    MAX_RETRY_ATTEMPTS,
    MAX_RUNTIME_SECONDS,
    MAX_SEED,
    InstanceType,
    Metric,
    Name,
    config_rules,
    data_input,
    data_rules,
    is_bucket_name,
    sagemaker_rules,
    training_rules,
)
from pipelines.config_sections import (
    AlarmConfig,
    AlertConfig,
    CaptureConfig,
    Monitoring,
    MonitoringConfig,
    RetrainConfig,
    Serving,
    ServingConfig,
)
from pipelines.config_values import FORBID, ConfigError, Expect, Flag, OrEmpty, Text, Texts, expect_value, validated
from processing.shards import MAX_INSTANCE_COUNT

__all__ = [
    "AlarmConfig",
    "AlertConfig",
    "CaptureConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "GateConfig",
    "MonitoringConfig",
    "ProjectConfig",
    "RetrainConfig",
    "SageMakerConfig",
    "ServingConfig",
    "TrainingConfig",
    "load_config",
    "parse_config",
    "validate",
]

DEFAULT_CONFIG = Path("mlops.yaml")
Count = Annotated[int, Field(strict=True, ge=1)]
# Preprocess writes the sharded data as SHARD_FILES (= 2x) objects: at most MAX_INSTANCE_COUNT hosts share them
InstanceCount = Annotated[int, Field(strict=True, ge=1, le=MAX_INSTANCE_COUNT)]


def _fractions(value: Any) -> Any:
    fractions = isinstance(value, (list, tuple)) and len(value) == 3
    fractions = fractions and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in value)
    expect_value(fractions and abs(sum(value) - 1) < 1e-9, "three positive fractions summing to 1")
    return tuple(float(x) for x in value)


def _label(value: Any) -> Any:
    """A class label may be written as a number in YAML (1); the data's values are compared as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _role_arn(value: str) -> str:
    expect_value(
        value.startswith("arn:aws") and ":role/" in value, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    )
    return value


def _bucket(value: str) -> str:
    expect_value(is_bucket_name(value), BUCKET_EXPECTED)
    return value


def _text(value: Any) -> Any:
    """A hyperparameter value as CreateTrainingJob takes it: YAML numbers become their text."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


@with_config(FORBID)
@dataclass(frozen=True)
class ProjectConfig:
    name: Name = "abalone"
    region: Annotated[
        str, Field(strict=True, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$"), Expect("an AWS region such as us-east-1")
    ] = "us-east-1"
    state_dir: Text = ".mlops"


@with_config(FORBID)
@dataclass(frozen=True)
class DataConfig:
    input: Annotated[Text, AfterValidator(data_input)] = "data/abalone.csv"
    target: Text = "rings"
    problem_type: Literal["regression", "binary"] = "regression"
    positive_class: Annotated[Text, BeforeValidator(_label)] | None = None
    numeric: Texts = ()
    categorical: Texts = ()
    split: Annotated[
        tuple[float, float, float], BeforeValidator(_fractions), Expect("three positive fractions summing to 1")
    ] = (0.7, 0.15, 0.15)
    seed: Annotated[
        int,
        Field(strict=True, ge=0, le=MAX_SEED),
        Expect("an integer from 0 to 10**64 - 1 (at most 64 digits: Preprocess keys its split hash with its text)"),
    ] = 42


@with_config(FORBID)
@dataclass(frozen=True)
class TrainingConfig:
    objective: Text = "reg:squarederror"
    eval_metric: Text = "rmse"
    # pipeline parameters (strings, as CreateTrainingJob takes them), checked with training/hyperparameters.py
    hyperparameters: Annotated[
        dict[Text, Annotated[Text, BeforeValidator(_text), Expect("a string or a number")]], OrEmpty
    ] = field(default_factory=dict)


@with_config(FORBID)
@dataclass(frozen=True)
class GateConfig:
    metric: Metric = "rmse"
    threshold: Annotated[float, Field(strict=True, allow_inf_nan=False)] = 2.6

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER


@with_config(FORBID)
@dataclass(frozen=True)
class SageMakerConfig:
    pipeline_name: Name | None = None
    model_package_group: Name | None = None
    role_arn: Annotated[Text, AfterValidator(_role_arn)] | None = None
    bucket: Annotated[Text, AfterValidator(_bucket)] | None = None
    framework_version: Text = "3.0-5"
    processing_instance_type: InstanceType = "ml.m5.xlarge"
    processing_instance_count: InstanceCount = 1
    training_instance_type: InstanceType = "ml.m5.xlarge"
    training_instance_count: InstanceCount = 1
    inference_instance_types: tuple[InstanceType, ...] = ("ml.m5.large",)
    volume_size_gb: Count = 30
    # the processing jobs' limit (9 days), below the training job's (28 days): see config_rules.MAX_RUNTIME_SECONDS
    max_runtime_seconds: Annotated[int, Field(strict=True, ge=1, le=MAX_RUNTIME_SECONDS)] = 3600
    kms_key_id: Text | None = None
    subnets: Texts = ()
    security_group_ids: Texts = ()
    enable_network_isolation: Flag = False
    enable_inter_container_encryption: Flag = False
    cache_expire_after: Annotated[
        str,
        Field(strict=True, pattern=r"^P(?:(?:\d+[YMWD])+(?:T(?:\d+[HMS])+)?|T(?:\d+[HMS])+)$"),
        Expect("an ISO 8601 duration such as P30D or PT12H"),
    ] = "P30D"
    # a step makes retry_attempts + 1 attempts; SageMaker Pipelines' RetryPolicy allows at most 20
    retry_attempts: Annotated[int, Field(strict=True, ge=0, le=MAX_RETRY_ATTEMPTS)] = 2


@with_config(FORBID)
@dataclass(frozen=True)
class Config:
    project: Annotated[ProjectConfig, OrEmpty] = field(default_factory=ProjectConfig)
    data: Annotated[DataConfig, OrEmpty, AfterValidator(data_rules)] = field(default_factory=DataConfig)
    training: Annotated[TrainingConfig, OrEmpty, AfterValidator(training_rules)] = field(default_factory=TrainingConfig)
    gate: Annotated[GateConfig, OrEmpty] = field(default_factory=GateConfig)
    sagemaker: Annotated[SageMakerConfig, OrEmpty, AfterValidator(sagemaker_rules)] = field(
        default_factory=SageMakerConfig
    )
    monitoring: Monitoring = field(default_factory=MonitoringConfig)
    serving: Serving = field(default_factory=ServingConfig)
    source: Text = "defaults"  # where it was read: the prefix of error messages

    @property
    def endpoint_name(self) -> str:
        return self.serving.endpoint_name or f"{self.project.name}-endpoint"

    @property
    def reports_destination(self) -> str:
        return self.monitoring.reports_destination or f"s3://{self.sagemaker.bucket}/{self.pipeline_name}/monitoring"

    @property
    def retrain_data_uri(self) -> str:
        return self.monitoring.retrain.data_uri or f"s3://{self.sagemaker.bucket}/{self.pipeline_name}/retraining/"

    @property
    def capture_destination(self) -> str:
        return self.serving.capture.destination or f"s3://{self.sagemaker.bucket}/{self.pipeline_name}/datacapture"

    @property
    def ground_truth_destination(self) -> str:
        default = f"s3://{self.sagemaker.bucket}/{self.pipeline_name}/ground-truth"
        return self.monitoring.model_quality.ground_truth_destination or default

    @property
    def model_quality_alarmed_metrics(self) -> tuple[str, ...]:
        """The model-quality metrics with an alarm: the configured ones, else the gate metric."""
        return self.monitoring.model_quality.alarmed_metrics or (self.gate.metric,)

    @property
    def pipeline_name(self) -> str:
        return self.sagemaker.pipeline_name or f"{self.project.name}-pipeline"

    @property
    def model_package_group(self) -> str:
        return self.sagemaker.model_package_group or self.project.name

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A copy with some fields replaced (None values are ignored), validated like the file."""
        document = dataclasses.asdict(self)
        changed = False
        for name, values in sections.items():
            values = {k: v for k, v in values.items() if v is not None}
            if values:
                document.setdefault(name, {}).update(values)
                changed = True
        if not changed:
            return self
        document.pop("source")
        return parse_config(document, self.source, f"{self.source} with overrides")


Validated = Annotated[Config, AfterValidator(config_rules)]


# -- parsing ---------------------------------------------------------------------------------------
def parse_config(raw: Any, source: str = "config", where: str | None = None) -> Config:
    """Typed, validated configuration from the YAML document's mapping (``where`` names it in errors)."""
    where = where or source
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a YAML mapping of sections, got {type(raw).__name__}")
    # ``source`` is set by the loader: in the file it is an unknown section like any other
    stray = [f"{where}: unknown section(s) source; it is set by the loader, not in the file"] if "source" in raw else []
    try:
        config = validated(Validated, {**raw, "source": source}, f"{where}: ")
    except ConfigError as exc:
        raise ConfigError("\n".join([*stray, str(exc)])) from None
    if stray:
        raise ConfigError(stray[0])
    return config


def validate(config: Config) -> None:
    """Check a configuration built in code (e.g. with ``dataclasses.replace``) like a loaded one."""
    document = dataclasses.asdict(config)
    document.pop("source")
    parse_config(document, config.source)


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the YAML file (default ``mlops.yaml``)."""
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(
            f"Configuration file not found: {path} (looked in {path.resolve().parent}); "
            "run mlops from the project directory or pass --config PATH"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8") from None
    config = parse_config({} if raw is None else raw, str(path))
    data_input = Path(config.data.input)
    if not config.data.input.startswith("s3://") and not data_input.is_absolute():
        # relative paths are relative to the configuration file, wherever the command runs
        resolved = str((path.parent / data_input).resolve())
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, input=resolved))
    return config
