"""Feature names that CloudFormation logical ids and CloudWatch alarm names cannot carry as they are (spaces as in
scikit-learn's breast cancer data, slashes, accents, quotes, ``${``, very long names, names differing only in such
characters) render valid, unique and stable names, in the monitoring template and in the local alarms."""

from __future__ import annotations

import csv
import re
from dataclasses import replace

import pytest
from cfnlint.api import ManualArgs
from cfnlint.api import lint as cfn_lint

from monitoring.local.alarm_names import alarm_name_part, feature_alarm_name, name_prefix
from monitoring.local.alarm_rule import parse_rule, rule_children
from monitoring.local.alarms import feature_drift_alarms
from pipelines.build import config_from_kwargs
from pipelines.monitoring_stack import names
from pipelines.monitoring_stack.template import render_template, template_body
from tests.conftest import ROOT

BREAST_CANCER = [
    f"{kind} {measure}"
    for kind in ("mean", "radius error", "worst")
    for measure in ("radius", "texture", "perimeter", "area", "smoothness", "concave points", "fractal dimension")
]
ODD = [
    "a/b",
    "a b",
    "a_b",
    "a-b",
    "été",
    "ete",
    "e te",
    'len"gth',
    "cost ($)",
    "{feature}",
    "x{alarm_name_part}",
    "x" * 231 + "1",
    "x" * 231 + "2",
]
LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")
ALARM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
PREFIX = "p" * 40  # the longest NamePrefix


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> list[str]:
    """The header of a CSV shaped like the breast cancer data set, with the odd names and the label."""
    path = tmp_path_factory.mktemp("data") / "breast_cancer.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*BREAST_CANCER, *ODD, "target"])
        writer.writerow([f"{i * 0.5:g}" for i in range(len(BREAST_CANCER) + len(ODD))] + ["1"])
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    return header[:-1]


@pytest.fixture(scope="module")
def config(features):
    base = config_from_kwargs(
        {"role": "arn:aws:iam::123456789012:role/sm", "default_bucket": "bucket"}, str(ROOT / "mlops.yaml")
    )
    return replace(base, data=replace(base.data, numeric=tuple(features), categorical=()))


@pytest.fixture(scope="module")
def template(config) -> dict:
    return render_template(names.monitored_features(config))


def alarm_name(template: dict, logical: str, prefix: str = PREFIX) -> str:
    return template["Resources"][logical]["Properties"]["AlarmName"]["Fn::Sub"].replace("${NamePrefix}", prefix)


def feature_alarms(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if k.startswith("FeatureDriftAlarm")}


def test_logical_ids_and_alarm_names_are_valid_and_unique(features, template):
    alarms = feature_alarms(template)
    assert len(alarms) == len(features)
    assert all(LOGICAL_ID.match(logical) for logical in template["Resources"])
    rendered = [alarm_name(template, logical) for logical in alarms]
    assert len(set(rendered)) == len(rendered)
    for name in rendered:
        assert ALARM_NAME.match(name) and len(name) <= 255, name
    by_metric = {a["Properties"]["MetricName"]: a for a in alarms.values()}
    assert set(by_metric) == {f"feature_baseline_drift_{f}" for f in features}  # the analyzer's metrics, unchanged


def test_readable_names_and_the_names_that_were_already_valid_stay_as_they_were(config):
    prefix = names.name_prefix(config)
    assert feature_alarm_name(prefix, "a_b") == "abalone-endpoint-drift-a_b"
    assert feature_alarm_name(prefix, "ete") == "abalone-endpoint-drift-ete"
    assert re.fullmatch(r"abalone-endpoint-drift-mean-radius-[0-9a-f]{8}", feature_alarm_name(prefix, "mean radius"))
    assert re.fullmatch(r"ete-[0-9a-f]{8}", alarm_name_part("été"))
    distinct = {alarm_name_part(f) for f in ("a/b", "a b", "a_b", "a-b", "été", "ete", "e te", "x" * 231 + "1")}
    assert len(distinct) == 8
    assert names.logical_id("FeatureDriftAlarm", "été").startswith("FeatureDriftAlarmEte")


def test_the_composite_rule_names_every_alarm_and_parses(template):
    composite = template["Resources"]["DriftAlarm"]["Properties"]["AlarmRule"]["Fn::Sub"]
    rule = composite.replace("${NamePrefix}", PREFIX)
    expected = {alarm_name(template, logical) for logical in feature_alarms(template)}
    assert set(rule_children(parse_rule(rule))) == expected


def test_names_are_stable_when_features_come_and_go(features):
    before = render_template(features[:10])
    after = render_template([*features[:10], "mean radius ", "Mean Radius"])
    for logical, resource in feature_alarms(before).items():
        assert after["Resources"][logical] == resource
    assert template_body(render_template(features)) == template_body(render_template(features))


def test_cfn_lint_finds_nothing_in_the_rendered_template(template):
    config = ManualArgs(regions=["us-east-1"], include_checks=["I"])
    assert [str(m) for m in cfn_lint(template_body(template), config=config)] == []


@pytest.mark.parametrize("endpoint", ["abalone-endpoint", "Abalone-Endpoint-" + "x" * 40])
def test_the_local_alarms_take_the_deployed_alarms_names(features, config, endpoint):
    """The local loop's drift alarms and the rendered template's, for one endpoint and its features: the same
    feature alarm names, the same composite alarm name (``<endpoint>-drift``) and the same composite rule."""
    config = replace(config, serving=replace(config.serving, endpoint_name=endpoint))
    template = render_template(names.monitored_features(config))
    prefix = names.name_prefix(config)  # the stack's NamePrefix parameter
    assert prefix == name_prefix(endpoint)
    deployed = {alarm_name(template, logical, prefix) for logical in feature_alarms(template)}
    deployed_composite = alarm_name(template, "DriftAlarm", prefix)
    deployed_rule = template["Resources"]["DriftAlarm"]["Properties"]["AlarmRule"]["Fn::Sub"]

    alarms, composite = feature_drift_alarms({f: 0.1 for f in features}, endpoint, "hourly")
    assert len({a.name for a in alarms}) == len(features)
    assert {a.name for a in alarms} == deployed
    assert composite.name == deployed_composite == f"{prefix}-drift"
    assert composite.rule == deployed_rule.replace("${NamePrefix}", prefix)
    assert set(rule_children(parse_rule(composite.rule))) == {a.name for a in alarms}
    outputs = template["Outputs"]["DriftAlarmName"]["Value"]["Fn::Sub"]  # what the retraining rule matches
    assert outputs.replace("${NamePrefix}", prefix) == composite.name


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        ("len\tgth", "control characters"),
        ("   ", "non-blank"),
        ("x" * 233, "at most 232"),
        ("a${EndpointName}", "reads \\$\\{...\\} as a reference"),
    ],
)
def test_names_cloudwatch_cannot_hold_as_metrics_are_refused(config, feature, message):
    with pytest.raises(ValueError, match=message):
        names.monitored_features(replace(config, data=replace(config.data, numeric=(feature,), categorical=())))
    with pytest.raises(ValueError, match=message):
        render_template([feature])


def test_two_features_that_would_share_an_alarm_name_are_refused():
    clash = "mean radius"
    with pytest.raises(ValueError, match="would both name their drift alarm"):
        render_template([clash, alarm_name_part(clash)])
