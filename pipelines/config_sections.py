"""The serving and monitoring sections of the configuration: the endpoint and its data capture, and the
monitoring loop's schedule, drift alarm, alert sinks and retraining."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, with_config

from pipelines.config_rules import S3_URI_EXPECTED, InstanceType, Name, is_s3_uri
from pipelines.config_values import FORBID, Expect, Flag, OrEmpty, Problem, Text, Texts, check, expect_value, validated
from pipelines.cron import CronError, validate_cron

__all__ = [
    "AlarmConfig",
    "AlertConfig",
    "AutoscalingConfig",
    "CaptureConfig",
    "ModelQualityConfig",
    "Monitoring",
    "MonitoringConfig",
    "RetrainConfig",
    "Serving",
    "ServingConfig",
    "parse_monitoring",
    "parse_serving",
]

Seconds = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False), Expect("a positive number of seconds")]


# CloudWatch PutMetricAlarm: a period of 10, 20, 30 (high-resolution metrics only: ours are standard) or a multiple
# of 60 seconds; Period x EvaluationPeriods at most 604,800 seconds (7 days), and at most 86,400 (1 day) when the
# period is shorter than an hour (docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html)
ALARM_WINDOW_SECONDS = 604_800
SHORT_PERIOD_WINDOW_SECONDS = 86_400
# an SNS email subscription's endpoint: one address (local part, @, a dotted domain)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _s3_uri(value: str) -> str:
    expect_value(is_s3_uri(value), S3_URI_EXPECTED)
    return value


def _http_url(value: str) -> str:
    expect_value(value.startswith(("http://", "https://")), "an http(s):// URL")
    return value


def _https_url(value: str) -> str:
    expect_value(value.startswith("https://") and len(value) > len("https://"), "an https:// URL")
    return value


def _email(value: str) -> str:
    expect_value(bool(_EMAIL.match(value)), "an email address such as ops@example.com")
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
class AutoscalingConfig:
    """Target tracking of the endpoint variant on SageMakerVariantInvocationsPerInstance (SageMaker deploy)."""

    enabled: Flag = False
    min_instances: Annotated[int, Field(strict=True, ge=1)] | None = None  # default serving.instance_count
    max_instances: Annotated[int, Field(strict=True, ge=1)] | None = None  # required when enabled
    target_invocations_per_instance: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] = 70.0
    scale_in_cooldown_seconds: Annotated[int, Field(strict=True, ge=0)] = 300
    scale_out_cooldown_seconds: Annotated[int, Field(strict=True, ge=0)] = 60


@with_config(FORBID)
@dataclass(frozen=True)
class ServingConfig:
    endpoint_name: Name | None = None  # default <project.name>-endpoint
    variant_name: Text = "AllTraffic"
    instance_type: InstanceType = "ml.m5.large"
    instance_count: Annotated[int, Field(strict=True, ge=1)] = 1
    host: Text = "127.0.0.1"
    port: Annotated[int, Field(strict=True, ge=0, le=65535), Expect("a port number from 0 to 65535")] = 8080
    max_body_mib: Annotated[
        float, Field(strict=True, gt=0, allow_inf_nan=False), Expect("a positive number of MiB")
    ] = 6.0
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
    autoscaling: Annotated[AutoscalingConfig, OrEmpty] = field(default_factory=AutoscalingConfig)

    @property
    def min_instances(self) -> int:
        """The autoscaling floor: ``autoscaling.min_instances``, or ``instance_count`` when unset."""
        return self.autoscaling.min_instances or self.instance_count


def _serving_rules(serving: ServingConfig) -> ServingConfig:
    scaling, floor = serving.autoscaling, serving.min_instances
    if scaling.enabled and scaling.max_instances is None:
        check([Problem("autoscaling.max_instances", "a number of instances when autoscaling.enabled is true", None)])
    if scaling.max_instances is not None and floor > scaling.max_instances:
        source = "autoscaling.min_instances" if scaling.min_instances is not None else "serving.instance_count"
        check(
            [
                Problem(
                    "autoscaling.max_instances",
                    f"at least min_instances ({floor}, from {source})",
                    scaling.max_instances,
                )
            ]
        )
    return serving


@with_config(FORBID)
@dataclass(frozen=True)
class AlarmConfig:
    """Per-feature drift alarms (metric feature_baseline_drift_<f>) under one composite drift alarm."""

    threshold: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 0.1
    evaluation_periods: Annotated[int, Field(strict=True, ge=1)] = 1
    datapoints_to_alarm: Annotated[int, Field(strict=True, ge=1)] = 1
    # the monitoring template's AlarmPeriodSeconds AllowedValues (infrastructure/monitoring-fragments.yaml): a period
    # the stack would refuse is refused here, before anything is deployed
    period_seconds: Literal[60, 300, 900, 3600, 21600, 86400] = 3600
    # an hour without traffic keeps the drift state: one event, one alert
    treat_missing_data: Literal["missing", "notBreaching", "breaching", "ignore"] = "ignore"


def window_problems(period_seconds: int, evaluation_periods: int, path: str) -> list[Problem]:
    """CloudWatch's limit on an alarm's evaluation window: ``evaluation_periods`` periods of ``period_seconds``."""
    window = SHORT_PERIOD_WINDOW_SECONDS if period_seconds < 3600 else ALARM_WINDOW_SECONDS
    if period_seconds * evaluation_periods <= window:
        return []
    expected = (
        f"at most {window // period_seconds} (CloudWatch evaluates an alarm over at most {window} seconds "
        f"with a period of {period_seconds} seconds, monitoring.alarm.period_seconds)"
    )
    return [Problem(path, expected, evaluation_periods)]


def _alarm_rules(alarm: AlarmConfig) -> AlarmConfig:
    problems = window_problems(alarm.period_seconds, alarm.evaluation_periods, "evaluation_periods")
    if alarm.datapoints_to_alarm > alarm.evaluation_periods:
        expected = f"at most evaluation_periods ({alarm.evaluation_periods})"
        problems.append(Problem("datapoints_to_alarm", expected, alarm.datapoints_to_alarm))
    check(problems)
    return alarm


@with_config(FORBID)
@dataclass(frozen=True)
class AlertConfig:
    log: Flag = True
    jsonl: Text | None = None  # local path of a JSON-lines alert file (relative: under the state directory)
    webhook_url: Annotated[Text, AfterValidator(_http_url)] | None = None
    webhook_timeout_seconds: Seconds = 5.0
    webhook_retries: Annotated[int, Field(strict=True, ge=0)] = 3
    sns_emails: tuple[Annotated[Text, AfterValidator(_email)], ...] = ()  # AWS: SNS subscriptions
    sns_https: tuple[Annotated[Text, AfterValidator(_https_url)], ...] = ()


@with_config(FORBID)
@dataclass(frozen=True)
class RetrainConfig:
    enabled: Flag = True
    data_uri: Annotated[Text, AfterValidator(_s3_uri)] | None = None  # default s3://<bucket>/<pipeline>/retraining/
    cooldown_hours: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 24.0


# Model Monitor's offsets: a negative ISO 8601 duration in days, hours or minutes (-P1D, -PT1H, -P1DT12H, -PT30M)
Offset = Annotated[
    str,
    Field(strict=True, pattern=r"^-P(?:\d+D(?:T(?:\d+H)?(?:\d+M)?)?|T(?:\d+H)?(?:\d+M)?)$"),
    Expect("a negative ISO 8601 duration such as -P1D or -PT1H"),
]
Fraction = Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False), Expect("a number between 0 and 1")]


@with_config(FORBID)
@dataclass(frozen=True)
class ModelQualityConfig:
    """Model-quality monitoring: captured predictions joined with ground truth by inference id (else event id), and
    checked against the deployed version's model-quality baseline (Model Monitor's metrics and constraints)."""

    enabled: Flag = True
    ground_truth_destination: Annotated[Text, AfterValidator(_s3_uri)] | None = None  # default <bucket>/<pipeline>/
    # where the prediction is in a capture record's output: None reads the project's own outputs (one value a CSV
    # line, or the "predictions" list of its JSON); a name reads that key of each JSON record or that CSV column index
    inference_attribute: Text | None = None
    probability_attribute: Text | None = None  # binary: where the probability is (None: the prediction itself)
    probability_threshold: Fraction = 0.5  # binary: a probability at or above it predicts the positive class
    # a check at time T covers capture with inferenceTime in [T + start, T + end] and labels ingested in [T + start, T]
    start_time_offset: Offset = "-P1D"
    end_time_offset: Offset = "-PT1H"
    min_pairs: Annotated[int, Field(strict=True, ge=1)] = 50  # fewer matched pairs: NoData, no metric published
    # suggested thresholds: the baseline value worsened by this fraction of it (errors up, scores down)
    constraint_margin: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 0.1
    alarmed_metrics: Texts = ()  # default: the gate metric (rmse for the bundled regression, auc for binary)
    evaluation_periods: Annotated[int, Field(strict=True, ge=1)] = 1
    datapoints_to_alarm: Annotated[int, Field(strict=True, ge=1)] = 1


def _model_quality_rules(model_quality: ModelQualityConfig) -> ModelQualityConfig:
    problems = []
    if model_quality.datapoints_to_alarm > model_quality.evaluation_periods:
        expected = f"at most evaluation_periods ({model_quality.evaluation_periods})"
        problems.append(Problem("datapoints_to_alarm", expected, model_quality.datapoints_to_alarm))
    if _offset_minutes(model_quality.end_time_offset) <= _offset_minutes(model_quality.start_time_offset):
        expected = f"after start_time_offset ({model_quality.start_time_offset})"
        problems.append(Problem("end_time_offset", expected, model_quality.end_time_offset))
    check(problems)
    return model_quality


def _offset_minutes(offset: str) -> int:
    """Minutes of a validated offset such as -P1DT2H (negative)."""
    days, _, clock = offset[2:].partition("T")
    minutes = int(days[:-1] or 0) * 1440 if days else 0
    hours, _, rest = clock.partition("H") if "H" in clock else ("0", "", clock)
    minutes += int(hours or 0) * 60 + int(rest.rstrip("M") or 0)
    return -minutes


@with_config(FORBID)
@dataclass(frozen=True)
class MonitoringConfig:
    engine: Literal["processing", "model-monitor"] = "processing"
    schedule: Text = "0 * * * *"  # cron: hourly, over the last complete hour
    # default s3://<bucket>/<pipeline>/monitoring
    reports_destination: Annotated[Text, AfterValidator(_s3_uri)] | None = None
    alarm: Annotated[AlarmConfig, OrEmpty, AfterValidator(_alarm_rules)] = field(default_factory=AlarmConfig)
    alerts: Annotated[AlertConfig, OrEmpty] = field(default_factory=AlertConfig)
    retrain: Annotated[RetrainConfig, OrEmpty] = field(default_factory=RetrainConfig)
    model_quality: Annotated[ModelQualityConfig, OrEmpty, AfterValidator(_model_quality_rules)] = field(
        default_factory=ModelQualityConfig
    )


def schedule_problems(schedule: str, engine: str) -> list[Problem]:
    """The schedule must be a cron expression the local loop and the chosen engine's AWS schedule can run."""
    try:
        validate_cron(schedule, engine)
    except CronError as exc:
        return [Problem("schedule", "a cron expression the engine can run", schedule, message=str(exc))]
    return []


def _monitoring_rules(monitoring: MonitoringConfig) -> MonitoringConfig:
    """A schedule the engine can run; the model-quality alarms' window within CloudWatch's limit (they share the
    drift alarms' period)."""
    period, periods = monitoring.alarm.period_seconds, monitoring.model_quality.evaluation_periods
    check(
        [
            *schedule_problems(monitoring.schedule, monitoring.engine),
            *window_problems(period, periods, "model_quality.evaluation_periods"),
        ]
    )
    return monitoring


Monitoring = Annotated[MonitoringConfig, OrEmpty, AfterValidator(_monitoring_rules)]
Serving = Annotated[ServingConfig, OrEmpty, AfterValidator(_serving_rules)]


def parse_monitoring(raw: dict[str, Any], where: str) -> MonitoringConfig:
    """The ``monitoring`` section of a YAML document; ``where`` prefixes error messages ("mlops.yaml: ")."""
    return validated(Monitoring, raw.get("monitoring"), where, ("monitoring",))


def parse_serving(raw: dict[str, Any], where: str) -> ServingConfig:
    """The ``serving`` section of a YAML document; ``where`` prefixes error messages ("mlops.yaml: ")."""
    return validated(Serving, raw.get("serving"), where, ("serving",))
