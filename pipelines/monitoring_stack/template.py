"""The monitoring stack's template: ``infrastructure/monitoring.yaml`` plus the per-item fragments of
``infrastructure/monitoring-fragments.yaml`` rendered for the configured features, alert subscriptions and alarmed
model-quality metrics.

Rendering is a pure function of the two files and the lists (no clock, no AWS), so the same configuration gives
the same template, and the change set shows only real changes. See the fragments file for why this is rendered
rather than written with ``Fn::ForEach``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from monitoring.cloud.model_quality_settings import GREATER, alarm_operator
from monitoring.local.alarm_names import (
    alarm_name_part,
    drift_alarm_name,
    feature_alarm_name,
    metric_alarm_name,
    model_quality_alarm_name,
)
from pipelines.config import ConfigError
from pipelines.monitoring_stack.names import check_feature_name, logical_id

INFRASTRUCTURE = Path(__file__).resolve().parents[2] / "infrastructure"
TEMPLATE = "monitoring.yaml"
FRAGMENTS = "monitoring-fragments.yaml"
MAX_BODY = 51_200  # CreateChangeSet's TemplateBody limit; larger templates go through S3
NAME_PREFIX = "${NamePrefix}"  # the template parameter holding names.name_prefix(config)
FRAGMENT_KEYS = (
    "Parameters",
    "FeatureAlarm",
    "DriftAlarm",
    "EmailSubscription",
    "HttpsSubscription",
    "ModelQualityParameters",
    "ModelQualityMetricAlarm",
    "ModelQualityAlarm",
    "ModelMonitorQualityThreshold",
    "ModelMonitorQualityMetricAlarm",
)
MODEL_MONITOR = "model-monitor"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt a.b`` ...) as long form."""


def _intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # every YAML node is one of the three
        raise yaml.constructor.ConstructorError(None, None, f"!{suffix} on a {type(node).__name__}", node.start_mark)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_yaml(path: Path) -> dict:
    """A CloudFormation YAML file as plain data (intrinsics in their long form)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"Cannot read the template {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping, got {type(data).__name__}")
    return data


def _substitute(value: Any, replacements: Mapping[str, str]) -> Any:
    """``value`` with each token replaced by its text in every string (keys untouched), in one pass: a text that
    happens to contain a token stays as it is."""
    if isinstance(value, str):
        pattern = "|".join(re.escape(token) for token in replacements)
        return re.sub(pattern, lambda match: replacements[match.group(0)], value) if pattern else value
    if isinstance(value, list):
        return [_substitute(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, replacements) for k, v in value.items()}
    return value


def _add(resources: dict, logical: str, resource: dict, where: str) -> None:
    if logical in resources:
        raise ValueError(f"{where}: logical id {logical} is already in the template")
    resources[logical] = resource


def _check_alarm_name(resource: dict, expected: str, where: str) -> None:
    """The fragments file names an alarm as ``alarm_names`` does (the local alarms' names), or rendering fails."""
    name = resource.get("Properties", {}).get("AlarmName")
    if name != {"Fn::Sub": expected}:
        raise ValueError(
            f"{where}: AlarmName is {name!r}, expected !Sub {expected!r} (monitoring/local/alarm_names.py names the "
            "alarms for the local loop too)"
        )


def render_template(
    features: Sequence[str],
    emails: Sequence[str] = (),
    https_endpoints: Sequence[str] = (),
    directory: Path = INFRASTRUCTURE,
    model_quality_metrics: Sequence[str] = (),
    engine: str = "processing",
) -> dict:
    """The deployable template: the base template with one drift alarm per feature, the composite drift alarm
    over them, one subscription per alert address and, given model-quality metrics, one alarm per metric under the
    composite model-quality alarm (processing engine: their names also tell the model-quality check which
    thresholds to publish; model-monitor engine: each compares with its threshold parameter)."""
    if not features:
        raise ConfigError("the monitoring template needs at least one feature to watch (data.numeric/categorical)")
    if len(set(features)) != len(features):
        raise ConfigError(f"features must be distinct, got {list(features)}")
    template = load_yaml(directory / TEMPLATE)
    fragments = load_yaml(directory / FRAGMENTS)
    for key in FRAGMENT_KEYS:
        if key not in fragments:
            raise ValueError(f"{directory / FRAGMENTS}: missing the {key} fragment")
    parameters = template.setdefault("Parameters", {})
    merged = {**fragments["Parameters"], **(fragments["ModelQualityParameters"] if model_quality_metrics else {})}
    for name, spec in merged.items():
        if name in parameters:
            raise ValueError(f"{directory / FRAGMENTS}: parameter {name} is already in {TEMPLATE}")
        parameters[name] = spec
    resources = template["Resources"]
    alarm_ids: list[str] = []
    parts: dict[str, str] = {}
    for feature in features:
        check_feature_name(feature)
        part = alarm_name_part(feature)
        if part in parts:
            raise ConfigError(f"features {parts[part]!r} and {feature!r} would both name their drift alarm ...-{part}")
        parts[part] = feature
        logical = logical_id("FeatureDriftAlarm", feature)
        fragment = _substitute(fragments["FeatureAlarm"], {"{feature}": feature, "{alarm_name_part}": part})
        _check_alarm_name(fragment, feature_alarm_name(NAME_PREFIX, feature), f"{FRAGMENTS} FeatureAlarm")
        _add(resources, logical, fragment, feature)
        alarm_ids.append(logical)
    composite = copy.deepcopy(fragments["DriftAlarm"])
    _check_alarm_name(composite, drift_alarm_name(NAME_PREFIX), f"{FRAGMENTS} DriftAlarm")
    composite["Properties"]["AlarmRule"] = _composite_rule(resources, alarm_ids)
    composite["DependsOn"] = alarm_ids
    _add(resources, "DriftAlarm", composite, "composite alarm")
    if model_quality_metrics:
        _render_model_quality(template, fragments, model_quality_metrics, engine)
    for kind, items in (("Email", emails), ("Https", https_endpoints)):
        for item in items:
            fragment = _substitute(fragments[f"{kind}Subscription"], {"{endpoint}": item})
            _add(resources, logical_id(f"Alerts{kind}Subscription", item), fragment, item)
    return template


def _composite_rule(resources: dict, alarm_ids: list[str]) -> dict:
    """ALARM of any of the alarms (their own AlarmName expressions, Fn::Sub of the NamePrefix parameter)."""
    names = [resources[logical]["Properties"]["AlarmName"]["Fn::Sub"] for logical in alarm_ids]
    return {"Fn::Sub": " OR ".join(f'ALARM("{name}")' for name in names)}


def threshold_parameter(metric: str) -> str:
    """The model-monitor engine's stack parameter holding the live version's threshold of ``metric``."""
    return logical_id("ModelQualityThreshold", metric)


def _render_model_quality(template: dict, fragments: dict, metrics: Sequence[str], engine: str) -> None:
    """One alarm per model-quality metric, their composite, and the check function's ALARMED_METRICS (processing);
    with the model-monitor engine the alarms compare with one threshold parameter each."""
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"model-quality metrics must be distinct, got {list(metrics)}")
    resources, alarm_ids = template["Resources"], []
    model_monitor = engine == MODEL_MONITOR
    for metric in metrics:
        operator = alarm_operator(metric)
        tokens = {
            "{metric}": metric,
            "{alarm_name_part}": alarm_name_part(metric),
            "{comparison_operator}": operator,
            "{direction}": "above" if operator == GREATER else "below",
            "{statistic}": "Maximum" if operator == GREATER else "Minimum",
            "{threshold_parameter}": threshold_parameter(metric),
        }
        kind = "ModelMonitorQualityMetricAlarm" if model_monitor else "ModelQualityMetricAlarm"
        fragment = _substitute(fragments[kind], tokens)
        _check_alarm_name(fragment, metric_alarm_name(NAME_PREFIX, metric), f"{FRAGMENTS} {kind}")
        logical = logical_id("ModelQualityMetricAlarm", metric)
        _add(resources, logical, fragment, metric)
        alarm_ids.append(logical)
        if model_monitor:
            parameter = _substitute(fragments["ModelMonitorQualityThreshold"], tokens)
            _add(template["Parameters"], threshold_parameter(metric), parameter, f"{metric} threshold parameter")
    composite = copy.deepcopy(fragments["ModelQualityAlarm"])
    _check_alarm_name(composite, model_quality_alarm_name(NAME_PREFIX), f"{FRAGMENTS} ModelQualityAlarm")
    composite["Properties"]["AlarmRule"] = _composite_rule(resources, alarm_ids)
    composite["DependsOn"] = alarm_ids
    if model_monitor:
        composite["Condition"] = "UseModelMonitorModelQuality"
    _add(resources, "ModelQualityAlarm", composite, "model-quality composite alarm")
    variables = resources["ModelQualityFunction"]["Properties"]["Environment"]["Variables"]
    variables["ALARMED_METRICS"] = ",".join(metrics)


def template_body(template: dict) -> str:
    """The template as compact JSON (key order kept: identical inputs give identical bytes)."""
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)
