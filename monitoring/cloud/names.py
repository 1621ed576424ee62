"""Names of the monitoring resources, derived from the configuration (one place, so the stack, the model-monitor
schedule, the alarms and the Lambda functions agree)."""

from __future__ import annotations

import hashlib
import re

from pipelines.config import Config

FEATURE = re.compile(r"^[A-Za-z0-9 _.:/+=@-]{1,200}$")
MAX_FEATURES = 100  # a composite alarm's rule names at most 100 alarms


def name_prefix(config: Config) -> str:
    """Lower-case prefix of the functions, alarms, topic and key alias: the endpoint name, at most 40 characters."""
    return config.endpoint_name.lower()[:40].rstrip("-")


def stack_name(config: Config) -> str:
    """The monitoring stack: ``<endpoint>-monitoring`` (stack names must start with a letter)."""
    name = f"{config.endpoint_name}-monitoring"
    return name if name[0].isalpha() else f"mlops-{name}"


def schedule_name(config: Config) -> str:
    """The schedule of both engines, and the ``MonitoringSchedule`` dimension of the metrics the alarms watch."""
    return f"{config.endpoint_name[:49].rstrip('-')}-data-quality"


def job_name_prefix(config: Config) -> str:
    """Prefix of the processing engine's check jobs (the job-state rule matches it): at most 37 characters."""
    return f"{name_prefix(config)[:34].rstrip('-')}-dq"


def feature_alarm_name(config: Config, feature: str) -> str:
    return f"{name_prefix(config)}-drift-{feature}"


def drift_alarm_name(config: Config) -> str:
    """The composite alarm: what alerts and retrains."""
    return f"{name_prefix(config)}-drift"


def monitored_features(config: Config) -> tuple[str, ...]:
    """The features that get a drift alarm (numeric, then categorical), checked for what alarm names accept."""
    features = (*config.data.numeric, *config.data.categorical)
    for feature in features:
        if not FEATURE.match(feature):
            raise ValueError(
                f"data feature {feature!r}: a drift alarm needs a name of 1-200 letters, digits, spaces or _.:/+=@-"
            )
    if len(features) > MAX_FEATURES:
        raise ValueError(
            f"data.numeric/categorical: a composite alarm watches at most {MAX_FEATURES} alarms, got {len(features)}"
        )
    return features


def logical_id(kind: str, value: str) -> str:
    """A CloudFormation logical id for one per-item resource: stable for the value, distinct for distinct values
    (``FeatureDriftAlarmWholeWeight1a2b3c4d``), so adding or removing one item never renames the others."""
    readable = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", value) if part)[:60]
    return f"{kind}{readable}{hashlib.sha256(value.encode()).hexdigest()[:8]}"
