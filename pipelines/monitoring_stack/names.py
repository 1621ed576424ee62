"""Names of the monitoring resources, derived from the configuration (one place, so the stack, the model-monitor
schedule, the alarms and the Lambda functions agree). The alarms' own names come from
``monitoring.local.alarm_names``, which the local loop's alarms use too."""

from __future__ import annotations

import re

from monitoring.local import alarm_names
from monitoring.local.alarm_names import MAX_NAME, ascii_fold, name_digest
from pipelines.config import Config, ConfigError

MAX_FEATURES = 100  # a composite alarm's rule names at most 100 alarms
DRIFT_METRIC = "feature_baseline_drift_"  # the analyzer's (and Model Monitor's) metric, + the raw feature name
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def name_prefix(config: Config) -> str:
    """Lower-case prefix of the functions, alarms, topic and key alias: the endpoint name, at most 40 characters
    (``alarm_names.name_prefix``, which the local alarms use too)."""
    return alarm_names.name_prefix(config.endpoint_name)


def stack_name(config: Config) -> str:
    """The monitoring stack: ``<endpoint>-monitoring`` (stack names must start with a letter)."""
    name = f"{config.endpoint_name}-monitoring"
    return name if name[0].isalpha() else f"mlops-{name}"


def stack_tags(config: Config) -> dict[str, str]:
    """The monitoring stack's tags (the deploy and the repoint pass the same, so an update keeps them)."""
    return {"mlops:project": config.project.name, "mlops:endpoint": config.endpoint_name}


def schedule_name(config: Config) -> str:
    """The schedule of both engines, and the ``MonitoringSchedule`` dimension of the metrics the alarms watch."""
    return f"{config.endpoint_name[:49].rstrip('-')}-data-quality"


def job_name_prefix(config: Config) -> str:
    """Prefix of the processing engine's check jobs (the job-state rule matches it): at most 37 characters."""
    return f"{name_prefix(config)[:34].rstrip('-')}-dq"


def model_quality_schedule_name(config: Config) -> str:
    """The model-quality schedule, and the ``MonitoringSchedule`` dimension of the model-quality metrics and alarms."""
    return f"{config.endpoint_name[:49].rstrip('-')}-model-quality"


def model_quality_job_name_prefix(config: Config) -> str:
    """Prefix of the model-quality check jobs (its job-state rule matches it): at most 37 characters."""
    return f"{name_prefix(config)[:34].rstrip('-')}-mq"


def problem_type(config: Config) -> str:
    """The problem type as Model Monitor spells it (``Regression`` | ``BinaryClassification``)."""
    return "BinaryClassification" if config.data.problem_type == "binary" else "Regression"


def model_quality_metrics(config: Config) -> tuple[str, ...]:
    """The model-quality metrics that get an alarm (the configuration checks they are the problem type's), none when
    model-quality monitoring is off."""
    return config.model_quality_alarmed_metrics if config.monitoring.model_quality.enabled else ()


def monitored_features(config: Config) -> tuple[str, ...]:
    """The features that get a drift alarm (numeric, then categorical), checked for what alarm names accept."""
    features = (*config.data.numeric, *config.data.categorical)
    for feature in features:
        check_feature_name(feature)
    if len(features) > MAX_FEATURES:
        raise ConfigError(
            f"data.numeric/categorical: a composite alarm watches at most {MAX_FEATURES} alarms, got {len(features)}"
        )
    return features


def check_feature_name(feature: str) -> None:
    """Refuse a feature whose drift metric CloudWatch cannot hold (blank, control characters,
    ``feature_baseline_drift_<feature>`` longer than 255 characters) or that CloudFormation would read as a
    reference (``${``)."""
    if not feature.strip():
        raise ConfigError(f"data feature {feature!r}: a drift alarm needs a non-blank feature name")
    if _CONTROL.search(feature):
        raise ConfigError(f"data feature {feature!r}: CloudWatch metric names cannot contain control characters")
    if "${" in feature:
        raise ConfigError(
            f"data feature {feature!r}: the alarm's description is an Fn::Sub, where CloudFormation reads ${{...}} as "
            "a reference; rename the column"
        )
    if len(DRIFT_METRIC) + len(feature) > MAX_NAME:
        raise ConfigError(
            f"data feature {feature[:40]!r}... ({len(feature)} characters): its drift metric {DRIFT_METRIC}<feature> "
            f"must be at most {MAX_NAME} characters, so the name at most {MAX_NAME - len(DRIFT_METRIC)}"
        )


def logical_id(kind: str, value: str) -> str:
    """A CloudFormation logical id for one per-item resource: stable for the value, distinct for distinct values
    (``FeatureDriftAlarmWholeWeight1a2b3c4d``), so adding or removing one item never renames the others. Only
    ASCII letters and digits (accents folded), at most 255 characters."""
    readable = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", ascii_fold(value)) if part)[:60]
    return f"{kind}{readable}{name_digest(value)}"
