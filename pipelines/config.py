"""The project's configuration: one YAML file at the repo root, validated once into typed objects.

Every error says where, what was expected and what was found ("data.split: must be three fractions
summing to 1, got [0.5, 0.5]"). Nothing below the entry points reads the environment or the file again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path("mlops.yaml")
PROBLEM_TYPES = ("regression", "binary")
LOWER_IS_BETTER = ("mse", "rmse", "mae")
HIGHER_IS_BETTER = ("auc", "accuracy", "precision", "recall", "f1", "r2")
REGRESSION_METRICS = ("mse", "rmse", "mae", "r2")
BINARY_METRICS = ("auc", "accuracy", "precision", "recall", "f1")
ENGINES = ("processing", "model-monitor")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class ConfigError(ValueError):
    """A configuration value is missing or not what was expected."""


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
class CaptureConfig:
    """DataCaptureConfig of the endpoint."""

    enabled: bool = True
    sampling_percentage: int = 100
    capture_input: bool = True
    capture_output: bool = True
    csv_content_types: tuple[str, ...] = ("text/csv",)
    json_content_types: tuple[str, ...] = ("application/json",)
    destination: str | None = None  # default s3://<bucket>/<pipeline>/datacapture


@dataclass(frozen=True)
class ServingConfig:
    endpoint_name: str | None = None  # default <project.name>-endpoint
    variant_name: str = "AllTraffic"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_mib: float = 6.0
    deploy_on_approval: bool = True
    capture: CaptureConfig = field(default_factory=CaptureConfig)


@dataclass(frozen=True)
class AlarmConfig:
    """Per-feature drift alarms (metric feature_baseline_drift_<f>) under one composite drift alarm."""

    threshold: float = 0.1
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    period_seconds: int = 3600
    treat_missing_data: str = "ignore"  # an hour without traffic keeps the drift state: one event, one alert


@dataclass(frozen=True)
class AlertConfig:
    log: bool = True
    jsonl: str | None = None  # local path of a JSON-lines alert file (relative: under the state directory)
    webhook_url: str | None = None
    webhook_timeout_seconds: float = 5.0
    webhook_retries: int = 3
    sns_emails: tuple[str, ...] = ()  # AWS: SNS subscriptions
    sns_https: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetrainConfig:
    enabled: bool = True
    data_uri: str | None = None  # default s3://<bucket>/<pipeline>/retraining/
    cooldown_hours: float = 24.0


@dataclass(frozen=True)
class MonitoringConfig:
    engine: str = "processing"
    schedule: str = "0 * * * *"  # cron: hourly, over the last complete hour
    reports_destination: str | None = None  # default s3://<bucket>/<pipeline>/monitoring
    alarm: AlarmConfig = field(default_factory=AlarmConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)


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
        for section, values in sections.items():
            values = {k: v for k, v in values.items() if v is not None}
            if values:
                updated = replace(updated, **{section: replace(getattr(updated, section), **values)})
        validate(updated)
        return updated


# -- parsing ---------------------------------------------------------------------------------------
def _expect(condition: bool, where: str, expected: str, got: Any) -> None:
    if not condition:
        raise ConfigError(f"{where}: must be {expected}, got {got!r}")


def _string(value: Any, where: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    _expect(isinstance(value, str) and value != "", where, "a non-empty string", value)
    return value


def _int(value: Any, where: str, minimum: int = 0) -> int:
    _expect(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        where,
        f"an integer >= {minimum}",
        value,
    )
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    _expect(isinstance(value, list) and all(isinstance(v, str) and v for v in value), where, "a list of strings", value)
    return tuple(value)


def _section(raw: dict, name: str, kind: type, where: str) -> Any:
    block = raw.get(name) or {}
    _expect(isinstance(block, dict), f"{where}{name}", "a mapping", block)
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ConfigError(
            f"{where}{name}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(known))}"
        )
    return block


def parse_config(raw: dict, source: str = "config") -> Config:
    """Typed, validated configuration from the YAML document's mapping."""
    where = f"{source}: "
    _expect(isinstance(raw, dict), source, "a YAML mapping", type(raw).__name__)
    known = {"project", "data", "training", "gate", "sagemaker", "monitoring", "serving"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(unknown)}; sections are {', '.join(sorted(known))}")

    p = _section(raw, "project", ProjectConfig, where)
    project = ProjectConfig(
        name=_string(p.get("name", "abalone"), f"{where}project.name"),
        region=_string(p.get("region", "us-east-1"), f"{where}project.region"),
        state_dir=_string(p.get("state_dir", ".mlops"), f"{where}project.state_dir"),
    )
    d = _section(raw, "data", DataConfig, where)
    split = d.get("split", [0.7, 0.15, 0.15])
    _expect(
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
        input=_string(d.get("input", "data/abalone.csv"), f"{where}data.input"),
        target=_string(d.get("target"), f"{where}data.target"),
        problem_type=d.get("problem_type", "regression"),
        positive_class=None if positive is None else str(positive),
        numeric=_strings(d.get("numeric", []), f"{where}data.numeric"),
        categorical=_strings(d.get("categorical", []), f"{where}data.categorical"),
        split=tuple(float(x) for x in split),
        seed=_int(d.get("seed", 42), f"{where}data.seed"),
    )
    t = _section(raw, "training", TrainingConfig, where)
    hps = t.get("hyperparameters") or {}
    _expect(isinstance(hps, dict), f"{where}training.hyperparameters", "a mapping of name to value", hps)
    training = TrainingConfig(
        objective=_string(t.get("objective", "reg:squarederror"), f"{where}training.objective"),
        eval_metric=_string(t.get("eval_metric", "rmse"), f"{where}training.eval_metric"),
        hyperparameters={str(k): str(v) for k, v in hps.items()},
    )
    g = _section(raw, "gate", GateConfig, where)
    threshold = g.get("threshold", 2.6)
    _expect(
        isinstance(threshold, (int, float)) and not isinstance(threshold, bool),
        f"{where}gate.threshold",
        "a number",
        threshold,
    )
    gate = GateConfig(metric=g.get("metric", "rmse"), threshold=float(threshold))
    s = _section(raw, "sagemaker", SageMakerConfig, where)
    defaults = SageMakerConfig()
    sagemaker = SageMakerConfig(
        pipeline_name=_string(s.get("pipeline_name"), f"{where}sagemaker.pipeline_name", optional=True),
        model_package_group=_string(s.get("model_package_group"), f"{where}sagemaker.model_package_group", True),
        role_arn=_string(s.get("role_arn"), f"{where}sagemaker.role_arn", optional=True),
        bucket=_string(s.get("bucket"), f"{where}sagemaker.bucket", optional=True),
        framework_version=_string(
            str(s.get("framework_version", defaults.framework_version)), f"{where}sagemaker.framework_version"
        ),
        processing_instance_type=_string(
            s.get("processing_instance_type", defaults.processing_instance_type),
            f"{where}sagemaker.processing_instance_type",
        ),
        processing_instance_count=_int(
            s.get("processing_instance_count", 1), f"{where}sagemaker.processing_instance_count", 1
        ),
        training_instance_type=_string(
            s.get("training_instance_type", defaults.training_instance_type), f"{where}sagemaker.training_instance_type"
        ),
        training_instance_count=_int(
            s.get("training_instance_count", 1), f"{where}sagemaker.training_instance_count", 1
        ),
        inference_instance_types=_strings(
            s.get("inference_instance_types", ["ml.m5.large"]), f"{where}sagemaker.inference_instance_types"
        ),
        volume_size_gb=_int(s.get("volume_size_gb", 30), f"{where}sagemaker.volume_size_gb", 1),
        max_runtime_seconds=_int(s.get("max_runtime_seconds", 3600), f"{where}sagemaker.max_runtime_seconds", 1),
        kms_key_id=_string(s.get("kms_key_id"), f"{where}sagemaker.kms_key_id", optional=True),
        subnets=_strings(s.get("subnets", []), f"{where}sagemaker.subnets"),
        security_group_ids=_strings(s.get("security_group_ids", []), f"{where}sagemaker.security_group_ids"),
        enable_network_isolation=bool(s.get("enable_network_isolation", False)),
        enable_inter_container_encryption=bool(s.get("enable_inter_container_encryption", False)),
        cache_expire_after=_string(s.get("cache_expire_after", "P30D"), f"{where}sagemaker.cache_expire_after"),
        retry_attempts=_int(s.get("retry_attempts", 2), f"{where}sagemaker.retry_attempts"),
    )
    monitoring = _monitoring(raw, where)
    config = Config(project, data, training, gate, sagemaker, monitoring, _serving(raw, where), source)
    validate(config)
    return config


def _bool(value: Any, where: str) -> bool:
    _expect(isinstance(value, bool), where, "true or false", value)
    return value


def _subsection(block: dict, name: str, kind: type, where: str) -> dict:
    sub = block.get(name) or {}
    _expect(isinstance(sub, dict), f"{where}{name}", "a mapping", sub)
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(sub) - known)
    if unknown:
        raise ConfigError(f"{where}{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return sub


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    _expect(
        isinstance(value, (int, float)) and not isinstance(value, bool) and value >= minimum,
        where,
        f"a number >= {minimum:g}",
        value,
    )
    return float(value)


def _monitoring(raw: dict, where: str) -> MonitoringConfig:
    m = _section(raw, "monitoring", MonitoringConfig, where)
    mw = f"{where}monitoring."
    a = _subsection(m, "alarm", AlarmConfig, mw)
    treat = a.get("treat_missing_data", "ignore")
    _expect(
        treat in ("missing", "notBreaching", "breaching", "ignore"),
        f"{mw}alarm.treat_missing_data",
        "missing, notBreaching, breaching or ignore",
        treat,
    )
    alarm = AlarmConfig(
        threshold=_number(a.get("threshold", 0.1), f"{mw}alarm.threshold"),
        evaluation_periods=_int(a.get("evaluation_periods", 1), f"{mw}alarm.evaluation_periods", 1),
        datapoints_to_alarm=_int(a.get("datapoints_to_alarm", 1), f"{mw}alarm.datapoints_to_alarm", 1),
        period_seconds=_int(a.get("period_seconds", 3600), f"{mw}alarm.period_seconds", 60),
        treat_missing_data=treat,
    )
    _expect(
        alarm.datapoints_to_alarm <= alarm.evaluation_periods,
        f"{mw}alarm.datapoints_to_alarm",
        f"at most evaluation_periods ({alarm.evaluation_periods})",
        alarm.datapoints_to_alarm,
    )
    al = _subsection(m, "alerts", AlertConfig, mw)
    webhook = _string(al.get("webhook_url"), f"{mw}alerts.webhook_url", optional=True)
    if webhook is not None:
        _expect(webhook.startswith(("http://", "https://")), f"{mw}alerts.webhook_url", "an http(s):// URL", webhook)
    alerts = AlertConfig(
        log=_bool(al.get("log", True), f"{mw}alerts.log"),
        jsonl=_string(al.get("jsonl"), f"{mw}alerts.jsonl", optional=True),
        webhook_url=webhook,
        webhook_timeout_seconds=_number(al.get("webhook_timeout_seconds", 5.0), f"{mw}alerts.webhook_timeout_seconds"),
        webhook_retries=_int(al.get("webhook_retries", 3), f"{mw}alerts.webhook_retries"),
        sns_emails=_strings(al.get("sns_emails", []), f"{mw}alerts.sns_emails"),
        sns_https=_strings(al.get("sns_https", []), f"{mw}alerts.sns_https"),
    )
    r = _subsection(m, "retrain", RetrainConfig, mw)
    retrain = RetrainConfig(
        enabled=_bool(r.get("enabled", True), f"{mw}retrain.enabled"),
        data_uri=_string(r.get("data_uri"), f"{mw}retrain.data_uri", optional=True),
        cooldown_hours=_number(r.get("cooldown_hours", 24.0), f"{mw}retrain.cooldown_hours"),
    )
    schedule = _string(m.get("schedule", "0 * * * *"), f"{mw}schedule")
    _expect(len(schedule.split()) == 5, f"{mw}schedule", "a 5-field cron expression such as '0 * * * *'", schedule)
    return MonitoringConfig(
        engine=m.get("engine", "processing"),
        schedule=schedule,
        reports_destination=_string(m.get("reports_destination"), f"{mw}reports_destination", optional=True),
        alarm=alarm,
        alerts=alerts,
        retrain=retrain,
    )


def _serving(raw: dict, where: str) -> ServingConfig:
    v = _section(raw, "serving", ServingConfig, where)
    d = ServingConfig()
    c = v.get("capture") or {}
    _expect(isinstance(c, dict), f"{where}serving.capture", "a mapping", c)
    known = {f.name for f in fields(CaptureConfig)}
    unknown = sorted(set(c) - known)
    if unknown:
        raise ConfigError(
            f"{where}serving.capture: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    cw = f"{where}serving.capture."
    sampling = c.get("sampling_percentage", 100)
    _expect(
        isinstance(sampling, int) and not isinstance(sampling, bool) and 0 <= sampling <= 100,
        f"{cw}sampling_percentage",
        "an integer from 0 to 100",
        sampling,
    )
    capture = CaptureConfig(
        enabled=_bool(c.get("enabled", True), f"{cw}enabled"),
        sampling_percentage=sampling,
        capture_input=_bool(c.get("capture_input", True), f"{cw}capture_input"),
        capture_output=_bool(c.get("capture_output", True), f"{cw}capture_output"),
        csv_content_types=_strings(c.get("csv_content_types", ["text/csv"]), f"{cw}csv_content_types"),
        json_content_types=_strings(c.get("json_content_types", ["application/json"]), f"{cw}json_content_types"),
        destination=_string(c.get("destination"), f"{cw}destination", optional=True),
    )
    if capture.destination is not None:
        _expect(capture.destination.startswith("s3://"), f"{cw}destination", "an s3:// URI", capture.destination)
    port = v.get("port", d.port)
    _expect(
        isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535,
        f"{where}serving.port",
        "a port number from 0 to 65535",
        port,
    )
    body = v.get("max_body_mib", d.max_body_mib)
    _expect(
        isinstance(body, (int, float)) and not isinstance(body, bool) and body > 0,
        f"{where}serving.max_body_mib",
        "a positive number of MiB",
        body,
    )
    return ServingConfig(
        endpoint_name=_string(v.get("endpoint_name"), f"{where}serving.endpoint_name", optional=True),
        variant_name=_string(v.get("variant_name", d.variant_name), f"{where}serving.variant_name"),
        instance_type=_string(v.get("instance_type", d.instance_type), f"{where}serving.instance_type"),
        instance_count=_int(v.get("instance_count", 1), f"{where}serving.instance_count", 1),
        host=_string(v.get("host", d.host), f"{where}serving.host"),
        port=port,
        max_body_mib=float(body),
        deploy_on_approval=_bool(v.get("deploy_on_approval", True), f"{where}serving.deploy_on_approval"),
        capture=capture,
    )


def validate(config: Config) -> None:
    """Cross-field rules: problem type vs metric and objective, names AWS accepts, VPC completeness."""
    where = f"{config.source}: "
    d, g = config.data, config.gate
    _expect(d.problem_type in PROBLEM_TYPES, f"{where}data.problem_type", " or ".join(PROBLEM_TYPES), d.problem_type)
    metrics = REGRESSION_METRICS if d.problem_type == "regression" else BINARY_METRICS
    _expect(g.metric in metrics, f"{where}gate.metric", f"one of {', '.join(metrics)} for {d.problem_type}", g.metric)
    if d.problem_type == "binary":
        _expect(d.positive_class is not None, f"{where}data.positive_class", "set for binary classification", None)
        _expect(
            config.training.objective.startswith("binary:"),
            f"{where}training.objective",
            "a binary objective (binary:logistic) for binary classification",
            config.training.objective,
        )
    else:
        _expect(
            config.training.objective.startswith("reg:"),
            f"{where}training.objective",
            "a regression objective (reg:squarederror) for regression",
            config.training.objective,
        )
    _expect(bool(d.numeric or d.categorical), f"{where}data.numeric/categorical", "at least one feature", [])
    overlap = set(d.numeric) & set(d.categorical) | {d.target} & (set(d.numeric) | set(d.categorical))
    _expect(not overlap, f"{where}data", "features listed once and not including the target", sorted(overlap))
    for label, name in (
        ("project.name", config.project.name),
        ("pipeline name", config.pipeline_name),
        ("model package group", config.model_package_group),
    ):
        _expect(bool(_NAME.match(name)), f"{where}{label}", "1-63 letters, digits or hyphens", name)
    s = config.sagemaker
    _expect(
        bool(s.subnets) == bool(s.security_group_ids),
        f"{where}sagemaker.subnets/security_group_ids",
        "both set or both empty",
        {"subnets": list(s.subnets), "security_group_ids": list(s.security_group_ids)},
    )
    if s.role_arn is not None:
        _expect(
            s.role_arn.startswith("arn:aws") and ":role/" in s.role_arn,
            f"{where}sagemaker.role_arn",
            "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            s.role_arn,
        )
    _expect(
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
