"""The project's configuration: one YAML file at the repo root, validated once into typed objects.

Every error says where, what was expected and what was found ("data.split: must be three fractions
summing to 1, got [0.5, 0.5]"). Nothing below the entry points reads the environment or the file again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pipelines.config_sections import (
    AlarmConfig,
    AlertConfig,
    CaptureConfig,
    MonitoringConfig,
    RetrainConfig,
    ServingConfig,
    parse_monitoring,
    parse_serving,
)
from pipelines.config_values import ConfigError, expect, integer, section, string, strings

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
PROBLEM_TYPES = ("regression", "binary")
LOWER_IS_BETTER = ("mse", "rmse", "mae")
HIGHER_IS_BETTER = ("auc", "accuracy", "precision", "recall", "f1", "r2")
REGRESSION_METRICS = ("mse", "rmse", "mae", "r2")
BINARY_METRICS = ("auc", "accuracy", "precision", "recall", "f1")
ENGINES = ("processing", "model-monitor")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class ProjectConfig:
    name: str = "abalone"
    region: str = "us-east-1"
    state_dir: str = ".mlops"


@dataclass(frozen=True)
class DataConfig:
    input: str = "data/abalone.csv"
    target: str = "rings"
    problem_type: str = "regression"
    positive_class: str | None = None
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 42


@dataclass(frozen=True)
class TrainingConfig:
    objective: str = "reg:squarederror"
    eval_metric: str = "rmse"
    hyperparameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GateConfig:
    metric: str = "rmse"
    threshold: float = 2.6

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER


@dataclass(frozen=True)
class SageMakerConfig:
    pipeline_name: str | None = None
    model_package_group: str | None = None
    role_arn: str | None = None
    bucket: str | None = None
    framework_version: str = "3.0-5"
    processing_instance_type: str = "ml.m5.xlarge"
    processing_instance_count: int = 1
    training_instance_type: str = "ml.m5.xlarge"
    training_instance_count: int = 1
    inference_instance_types: tuple[str, ...] = ("ml.m5.large",)
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600
    kms_key_id: str | None = None
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    enable_network_isolation: bool = False
    enable_inter_container_encryption: bool = False
    cache_expire_after: str = "P30D"
    retry_attempts: int = 2


@dataclass(frozen=True)
class Config:
    project: ProjectConfig = field(default_factory=ProjectConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    sagemaker: SageMakerConfig = field(default_factory=SageMakerConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    source: str = "defaults"

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
    def pipeline_name(self) -> str:
        return self.sagemaker.pipeline_name or f"{self.project.name}-pipeline"

    @property
    def model_package_group(self) -> str:
        return self.sagemaker.model_package_group or self.project.name

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A copy with some fields replaced (None values are ignored), validated again."""
        updated = self
        for name, values in sections.items():
            values = {k: v for k, v in values.items() if v is not None}
            if values:
                updated = replace(updated, **{name: replace(getattr(updated, name), **values)})
        validate(updated)
        return updated


# -- parsing ---------------------------------------------------------------------------------------
def parse_config(raw: dict, source: str = "config") -> Config:
    """Typed, validated configuration from the YAML document's mapping."""
    where = f"{source}: "
    expect(isinstance(raw, dict), source, "a YAML mapping", type(raw).__name__)
    known = {"project", "data", "training", "gate", "sagemaker", "monitoring", "serving"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(unknown)}; sections are {', '.join(sorted(known))}")

    p = section(raw, "project", ProjectConfig, where)
    project = ProjectConfig(
        name=string(p.get("name", "abalone"), f"{where}project.name"),
        region=string(p.get("region", "us-east-1"), f"{where}project.region"),
        state_dir=string(p.get("state_dir", ".mlops"), f"{where}project.state_dir"),
    )
    d = section(raw, "data", DataConfig, where)
    split = d.get("split", [0.7, 0.15, 0.15])
    expect(
        isinstance(split, list)
        and len(split) == 3
        and all(isinstance(x, (int, float)) and x > 0 for x in split)
        and abs(sum(split) - 1) < 1e-9,
        f"{where}data.split",
        "three positive fractions summing to 1",
        split,
    )
    positive = d.get("positive_class")
    data = DataConfig(
        input=string(d.get("input", "data/abalone.csv"), f"{where}data.input"),
        target=string(d.get("target"), f"{where}data.target"),
        problem_type=d.get("problem_type", "regression"),
        positive_class=None if positive is None else str(positive),
        numeric=strings(d.get("numeric", []), f"{where}data.numeric"),
        categorical=strings(d.get("categorical", []), f"{where}data.categorical"),
        split=tuple(float(x) for x in split),
        seed=integer(d.get("seed", 42), f"{where}data.seed"),
    )
    t = section(raw, "training", TrainingConfig, where)
    hps = t.get("hyperparameters") or {}
    expect(isinstance(hps, dict), f"{where}training.hyperparameters", "a mapping of name to value", hps)
    training = TrainingConfig(
        objective=string(t.get("objective", "reg:squarederror"), f"{where}training.objective"),
        eval_metric=string(t.get("eval_metric", "rmse"), f"{where}training.eval_metric"),
        hyperparameters={str(k): str(v) for k, v in hps.items()},
    )
    g = section(raw, "gate", GateConfig, where)
    threshold = g.get("threshold", 2.6)
    expect(
        isinstance(threshold, (int, float)) and not isinstance(threshold, bool),
        f"{where}gate.threshold",
        "a number",
        threshold,
    )
    gate = GateConfig(metric=g.get("metric", "rmse"), threshold=float(threshold))
    s = section(raw, "sagemaker", SageMakerConfig, where)
    defaults = SageMakerConfig()
    sagemaker = SageMakerConfig(
        pipeline_name=string(s.get("pipeline_name"), f"{where}sagemaker.pipeline_name", optional=True),
        model_package_group=string(s.get("model_package_group"), f"{where}sagemaker.model_package_group", True),
        role_arn=string(s.get("role_arn"), f"{where}sagemaker.role_arn", optional=True),
        bucket=string(s.get("bucket"), f"{where}sagemaker.bucket", optional=True),
        framework_version=string(
            str(s.get("framework_version", defaults.framework_version)), f"{where}sagemaker.framework_version"
        ),
        processing_instance_type=string(
            s.get("processing_instance_type", defaults.processing_instance_type),
            f"{where}sagemaker.processing_instance_type",
        ),
        processing_instance_count=integer(
            s.get("processing_instance_count", 1), f"{where}sagemaker.processing_instance_count", 1
        ),
        training_instance_type=string(
            s.get("training_instance_type", defaults.training_instance_type), f"{where}sagemaker.training_instance_type"
        ),
        training_instance_count=integer(
            s.get("training_instance_count", 1), f"{where}sagemaker.training_instance_count", 1
        ),
        inference_instance_types=strings(
            s.get("inference_instance_types", ["ml.m5.large"]), f"{where}sagemaker.inference_instance_types"
        ),
        volume_size_gb=integer(s.get("volume_size_gb", 30), f"{where}sagemaker.volume_size_gb", 1),
        max_runtime_seconds=integer(s.get("max_runtime_seconds", 3600), f"{where}sagemaker.max_runtime_seconds", 1),
        kms_key_id=string(s.get("kms_key_id"), f"{where}sagemaker.kms_key_id", optional=True),
        subnets=strings(s.get("subnets", []), f"{where}sagemaker.subnets"),
        security_group_ids=strings(s.get("security_group_ids", []), f"{where}sagemaker.security_group_ids"),
        enable_network_isolation=bool(s.get("enable_network_isolation", False)),
        enable_inter_container_encryption=bool(s.get("enable_inter_container_encryption", False)),
        cache_expire_after=string(s.get("cache_expire_after", "P30D"), f"{where}sagemaker.cache_expire_after"),
        retry_attempts=integer(s.get("retry_attempts", 2), f"{where}sagemaker.retry_attempts"),
    )
    monitoring = parse_monitoring(raw, where)
    config = Config(project, data, training, gate, sagemaker, monitoring, parse_serving(raw, where), source)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Cross-field rules: problem type vs metric and objective, names AWS accepts, VPC completeness."""
    where = f"{config.source}: "
    d, g = config.data, config.gate
    expect(d.problem_type in PROBLEM_TYPES, f"{where}data.problem_type", " or ".join(PROBLEM_TYPES), d.problem_type)
    metrics = REGRESSION_METRICS if d.problem_type == "regression" else BINARY_METRICS
    expect(g.metric in metrics, f"{where}gate.metric", f"one of {', '.join(metrics)} for {d.problem_type}", g.metric)
    if d.problem_type == "binary":
        expect(d.positive_class is not None, f"{where}data.positive_class", "set for binary classification", None)
        expect(
            config.training.objective.startswith("binary:"),
            f"{where}training.objective",
            "a binary objective (binary:logistic) for binary classification",
            config.training.objective,
        )
    else:
        expect(
            config.training.objective.startswith("reg:"),
            f"{where}training.objective",
            "a regression objective (reg:squarederror) for regression",
            config.training.objective,
        )
    expect(bool(d.numeric or d.categorical), f"{where}data.numeric/categorical", "at least one feature", [])
    overlap = set(d.numeric) & set(d.categorical) | {d.target} & (set(d.numeric) | set(d.categorical))
    expect(not overlap, f"{where}data", "features listed once and not including the target", sorted(overlap))
    for label, name in (
        ("project.name", config.project.name),
        ("pipeline name", config.pipeline_name),
        ("model package group", config.model_package_group),
    ):
        expect(bool(_NAME.match(name)), f"{where}{label}", "1-63 letters, digits or hyphens", name)
    s = config.sagemaker
    expect(
        bool(s.subnets) == bool(s.security_group_ids),
        f"{where}sagemaker.subnets/security_group_ids",
        "both set or both empty",
        {"subnets": list(s.subnets), "security_group_ids": list(s.security_group_ids)},
    )
    if s.role_arn is not None:
        expect(
            s.role_arn.startswith("arn:aws") and ":role/" in s.role_arn,
            f"{where}sagemaker.role_arn",
            "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            s.role_arn,
        )
    expect(
        config.monitoring.engine in ENGINES, f"{where}monitoring.engine", " or ".join(ENGINES), config.monitoring.engine
    )


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the YAML file (default ``mlops.yaml``); a missing default file means the defaults."""
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"Configuration file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    config = parse_config(raw, str(path))
    data_input = Path(config.data.input)
    if not config.data.input.startswith("s3://") and not data_input.is_absolute():
        # relative paths are relative to the configuration file, wherever the command runs
        config = replace(config, data=replace(config.data, input=str((path.parent / data_input).resolve())))
    return config
