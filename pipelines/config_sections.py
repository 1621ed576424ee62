"""The serving and monitoring sections of the configuration: the endpoint and its data capture, and the
monitoring loop's schedule, drift alarm, alert sinks and retraining."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from pipelines.config_values import (
    ConfigError,
    as_bool,
    expect,
    integer,
    number,
    section,
    string,
    strings,
    subsection,
)


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
    max_model_mib: int = 2048  # cap on a model.tar.gz's extracted size (local endpoint)
    max_model_files: int = 10_000  # cap on its number of members
    allow_non_finite: bool = False  # model setting (transform.json via training): inf/NaN values answered, not 400
    allow_empty_records: bool = False  # model setting: records with every feature missing answered, not 400
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    idle_timeout_seconds: float = 60.0  # local endpoint: between requests, and for a request body to arrive
    header_timeout_seconds: float = 10.0  # local endpoint: for a request head to arrive (408 after)
    max_connections: int | None = None  # local endpoint: open connections at once (default: below ulimit -n)


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


def parse_monitoring(raw: dict, where: str) -> MonitoringConfig:
    m = section(raw, "monitoring", MonitoringConfig, where)
    mw = f"{where}monitoring."
    a = subsection(m, "alarm", AlarmConfig, mw)
    treat = a.get("treat_missing_data", "ignore")
    expect(
        treat in ("missing", "notBreaching", "breaching", "ignore"),
        f"{mw}alarm.treat_missing_data",
        "missing, notBreaching, breaching or ignore",
        treat,
    )
    alarm = AlarmConfig(
        threshold=number(a.get("threshold", 0.1), f"{mw}alarm.threshold"),
        evaluation_periods=integer(a.get("evaluation_periods", 1), f"{mw}alarm.evaluation_periods", 1),
        datapoints_to_alarm=integer(a.get("datapoints_to_alarm", 1), f"{mw}alarm.datapoints_to_alarm", 1),
        period_seconds=integer(a.get("period_seconds", 3600), f"{mw}alarm.period_seconds", 60),
        treat_missing_data=treat,
    )
    expect(
        alarm.datapoints_to_alarm <= alarm.evaluation_periods,
        f"{mw}alarm.datapoints_to_alarm",
        f"at most evaluation_periods ({alarm.evaluation_periods})",
        alarm.datapoints_to_alarm,
    )
    al = subsection(m, "alerts", AlertConfig, mw)
    webhook = string(al.get("webhook_url"), f"{mw}alerts.webhook_url", optional=True)
    if webhook is not None:
        expect(webhook.startswith(("http://", "https://")), f"{mw}alerts.webhook_url", "an http(s):// URL", webhook)
    alerts = AlertConfig(
        log=as_bool(al.get("log", True), f"{mw}alerts.log"),
        jsonl=string(al.get("jsonl"), f"{mw}alerts.jsonl", optional=True),
        webhook_url=webhook,
        webhook_timeout_seconds=number(al.get("webhook_timeout_seconds", 5.0), f"{mw}alerts.webhook_timeout_seconds"),
        webhook_retries=integer(al.get("webhook_retries", 3), f"{mw}alerts.webhook_retries"),
        sns_emails=strings(al.get("sns_emails", []), f"{mw}alerts.sns_emails"),
        sns_https=strings(al.get("sns_https", []), f"{mw}alerts.sns_https"),
    )
    r = subsection(m, "retrain", RetrainConfig, mw)
    retrain = RetrainConfig(
        enabled=as_bool(r.get("enabled", True), f"{mw}retrain.enabled"),
        data_uri=string(r.get("data_uri"), f"{mw}retrain.data_uri", optional=True),
        cooldown_hours=number(r.get("cooldown_hours", 24.0), f"{mw}retrain.cooldown_hours"),
    )
    schedule = string(m.get("schedule", "0 * * * *"), f"{mw}schedule")
    expect(len(schedule.split()) == 5, f"{mw}schedule", "a 5-field cron expression such as '0 * * * *'", schedule)
    return MonitoringConfig(
        engine=m.get("engine", "processing"),
        schedule=schedule,
        reports_destination=string(m.get("reports_destination"), f"{mw}reports_destination", optional=True),
        alarm=alarm,
        alerts=alerts,
        retrain=retrain,
    )


def parse_serving(raw: dict, where: str) -> ServingConfig:
    v = section(raw, "serving", ServingConfig, where)
    d = ServingConfig()
    c = v.get("capture") or {}
    expect(isinstance(c, dict), f"{where}serving.capture", "a mapping", c)
    known = {f.name for f in fields(CaptureConfig)}
    unknown = sorted(set(c) - known)
    if unknown:
        raise ConfigError(
            f"{where}serving.capture: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    cw = f"{where}serving.capture."
    sampling = c.get("sampling_percentage", 100)
    expect(
        isinstance(sampling, int) and not isinstance(sampling, bool) and 0 <= sampling <= 100,
        f"{cw}sampling_percentage",
        "an integer from 0 to 100",
        sampling,
    )
    capture = CaptureConfig(
        enabled=as_bool(c.get("enabled", True), f"{cw}enabled"),
        sampling_percentage=sampling,
        capture_input=as_bool(c.get("capture_input", True), f"{cw}capture_input"),
        capture_output=as_bool(c.get("capture_output", True), f"{cw}capture_output"),
        csv_content_types=strings(c.get("csv_content_types", ["text/csv"]), f"{cw}csv_content_types"),
        json_content_types=strings(c.get("json_content_types", ["application/json"]), f"{cw}json_content_types"),
        destination=string(c.get("destination"), f"{cw}destination", optional=True),
    )
    if capture.destination is not None:
        expect(capture.destination.startswith("s3://"), f"{cw}destination", "an s3:// URI", capture.destination)
    port = v.get("port", d.port)
    expect(
        isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535,
        f"{where}serving.port",
        "a port number from 0 to 65535",
        port,
    )
    body = v.get("max_body_mib", d.max_body_mib)
    expect(
        isinstance(body, (int, float)) and not isinstance(body, bool) and body > 0,
        f"{where}serving.max_body_mib",
        "a positive number of MiB",
        body,
    )
    return ServingConfig(
        endpoint_name=string(v.get("endpoint_name"), f"{where}serving.endpoint_name", optional=True),
        variant_name=string(v.get("variant_name", d.variant_name), f"{where}serving.variant_name"),
        instance_type=string(v.get("instance_type", d.instance_type), f"{where}serving.instance_type"),
        instance_count=integer(v.get("instance_count", 1), f"{where}serving.instance_count", 1),
        host=string(v.get("host", d.host), f"{where}serving.host"),
        port=port,
        max_body_mib=float(body),
        deploy_on_approval=as_bool(v.get("deploy_on_approval", True), f"{where}serving.deploy_on_approval"),
        max_model_mib=integer(v.get("max_model_mib", d.max_model_mib), f"{where}serving.max_model_mib", 1),
        max_model_files=integer(v.get("max_model_files", d.max_model_files), f"{where}serving.max_model_files", 1),
        allow_non_finite=as_bool(v.get("allow_non_finite", False), f"{where}serving.allow_non_finite"),
        allow_empty_records=as_bool(v.get("allow_empty_records", False), f"{where}serving.allow_empty_records"),
        capture=capture,
        **_serve_limits(v, d, f"{where}serving."),
    )


def _serve_limits(v: dict, d: ServingConfig, where: str) -> dict:
    """The local endpoint's timeouts and connection cap."""
    limits = {}
    for name in ("idle_timeout_seconds", "header_timeout_seconds"):
        value = v.get(name, getattr(d, name))
        positive = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        expect(positive, f"{where}{name}", "a positive number of seconds", value)
        limits[name] = float(value)
    cap = v.get("max_connections")
    limits["max_connections"] = None if cap is None else integer(cap, f"{where}max_connections", 1)
    return limits
