"""The serving and monitoring sections of the configuration: the endpoint and its data capture, and the
monitoring loop's schedule, drift alarm, alert sinks and retraining."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, with_config

from pipelines.config_values import FORBID, Expect, Flag, OrEmpty, Problem, Text, Texts, check, expect_value, validated
from pipelines.cron import CronError, validate_cron

__all__ = [
    "AlarmConfig",
    "AlertConfig",
    "CaptureConfig",
    "Monitoring",
    "MonitoringConfig",
    "RetrainConfig",
    "Serving",
    "ServingConfig",
    "parse_monitoring",
    "parse_serving",
]

Seconds = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False), Expect("a positive number of seconds")]


def _s3_uri(value: str) -> str:
    expect_value(value.startswith("s3://"), "an s3:// URI")
    return value


def _http_url(value: str) -> str:
    expect_value(value.startswith(("http://", "https://")), "an http(s):// URL")
    return value


@with_config(FORBID)
@dataclass(frozen=True)
class CaptureConfig:
    """DataCaptureConfig of the endpoint."""

    enabled: Flag = True
    sampling_percentage: Annotated[int, Field(strict=True, ge=0, le=100)] = 100
    capture_input: Flag = True
    capture_output: Flag = True
    csv_content_types: Texts = ("text/csv",)
    json_content_types: Texts = ("application/json",)
    destination: Annotated[Text, AfterValidator(_s3_uri)] | None = None  # default s3://<bucket>/<pipeline>/datacapture


@with_config(FORBID)
@dataclass(frozen=True)
class ServingConfig:
    endpoint_name: Text | None = None  # default <project.name>-endpoint
    variant_name: Text = "AllTraffic"
    instance_type: Text = "ml.m5.large"
    instance_count: Annotated[int, Field(strict=True, ge=1)] = 1
    host: Text = "127.0.0.1"
    port: Annotated[int, Field(strict=True, ge=0, le=65535), Expect("a port number from 0 to 65535")] = 8080
    max_body_mib: Annotated[float, Field(strict=True, gt=0), Expect("a positive number of MiB")] = 6.0
    deploy_on_approval: Flag = True
    max_model_mib: Annotated[int, Field(strict=True, ge=1)] = 2048  # cap on a model.tar.gz's extracted size (local)
    max_model_files: Annotated[int, Field(strict=True, ge=1)] = 10_000  # cap on its number of members
    allow_non_finite: Flag = False  # model setting (transform.json via training): inf/NaN values answered, not 400
    allow_empty_records: Flag = False  # model setting: records with every feature missing answered, not 400
    capture: Annotated[CaptureConfig, OrEmpty] = field(default_factory=CaptureConfig)
    idle_timeout_seconds: Seconds = 60.0  # local endpoint: between requests, and for a request body to arrive
    header_timeout_seconds: Seconds = 10.0  # local endpoint: for a request head to arrive (408 after)
    # local endpoint: open connections at once (default: below ulimit -n)
    max_connections: Annotated[int, Field(strict=True, ge=1)] | None = None


@with_config(FORBID)
@dataclass(frozen=True)
class AlarmConfig:
    """Per-feature drift alarms (metric feature_baseline_drift_<f>) under one composite drift alarm."""

    threshold: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 0.1
    evaluation_periods: Annotated[int, Field(strict=True, ge=1)] = 1
    datapoints_to_alarm: Annotated[int, Field(strict=True, ge=1)] = 1
    period_seconds: Annotated[int, Field(strict=True, ge=60)] = 3600
    # an hour without traffic keeps the drift state: one event, one alert
    treat_missing_data: Literal["missing", "notBreaching", "breaching", "ignore"] = "ignore"


def _alarm_rules(alarm: AlarmConfig) -> AlarmConfig:
    if alarm.datapoints_to_alarm > alarm.evaluation_periods:
        expected = f"at most evaluation_periods ({alarm.evaluation_periods})"
        check([Problem("datapoints_to_alarm", expected, alarm.datapoints_to_alarm)])
    return alarm


@with_config(FORBID)
@dataclass(frozen=True)
class AlertConfig:
    log: Flag = True
    jsonl: Text | None = None  # local path of a JSON-lines alert file (relative: under the state directory)
    webhook_url: Annotated[Text, AfterValidator(_http_url)] | None = None
    webhook_timeout_seconds: Seconds = 5.0
    webhook_retries: Annotated[int, Field(strict=True, ge=0)] = 3
    sns_emails: Texts = ()  # AWS: SNS subscriptions
    sns_https: Texts = ()


@with_config(FORBID)
@dataclass(frozen=True)
class RetrainConfig:
    enabled: Flag = True
    data_uri: Text | None = None  # default s3://<bucket>/<pipeline>/retraining/
    cooldown_hours: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 24.0


@with_config(FORBID)
@dataclass(frozen=True)
class MonitoringConfig:
    engine: Literal["processing", "model-monitor"] = "processing"
    schedule: Text = "0 * * * *"  # cron: hourly, over the last complete hour
    reports_destination: Text | None = None  # default s3://<bucket>/<pipeline>/monitoring
    alarm: Annotated[AlarmConfig, OrEmpty, AfterValidator(_alarm_rules)] = field(default_factory=AlarmConfig)
    alerts: Annotated[AlertConfig, OrEmpty] = field(default_factory=AlertConfig)
    retrain: Annotated[RetrainConfig, OrEmpty] = field(default_factory=RetrainConfig)


def schedule_problems(schedule: str, engine: str) -> list[Problem]:
    """The schedule must be a cron expression the local loop and the chosen engine's AWS schedule can run."""
    try:
        validate_cron(schedule, engine)
    except CronError as exc:
        return [Problem("schedule", "a cron expression the engine can run", schedule, message=str(exc))]
    return []


def _monitoring_rules(monitoring: MonitoringConfig) -> MonitoringConfig:
    check(schedule_problems(monitoring.schedule, monitoring.engine))
    return monitoring


Monitoring = Annotated[MonitoringConfig, OrEmpty, AfterValidator(_monitoring_rules)]
Serving = Annotated[ServingConfig, OrEmpty]


def parse_monitoring(raw: dict[str, Any], where: str) -> MonitoringConfig:
    """The ``monitoring`` section of a YAML document; ``where`` prefixes error messages ("mlops.yaml: ")."""
    return validated(Monitoring, raw.get("monitoring"), where, ("monitoring",))


def parse_serving(raw: dict[str, Any], where: str) -> ServingConfig:
    """The ``serving`` section of a YAML document; ``where`` prefixes error messages ("mlops.yaml: ")."""
    return validated(Serving, raw.get("serving"), where, ("serving",))
