"""The rollback alarms of infrastructure/deploy-on-approval.yaml: per variant, error rates by metric math with a
minimum of invocations, p99 latency, 2 of 3 one-minute periods, no traffic not breaching; evaluated on sample data
points; the names the deploy passes by default are the template's."""

from __future__ import annotations

import re

import boto3
import pytest
from cfnlint.api import ManualArgs
from cfnlint.api import lint as cfn_lint
from moto import mock_aws

from pipelines.deploy.sagemaker import default_rollback_alarms
from tests.conftest import ROOT
from tests.infrastructure.metric_math import evaluate, in_alarm
from tests.infrastructure.templates import load_template

TEMPLATE = ROOT / "infrastructure" / "deploy-on-approval.yaml"
ENDPOINT, VARIANT = "abalone-endpoint", "AllTraffic"
RATE_ALARMS = {"5XX": "Invocation5xxRateAlarm", "4XX": "Invocation4xxRateAlarm"}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def parameters(template) -> dict[str, str]:
    defaults = {name: str(spec["Default"]) for name, spec in template["Parameters"].items() if "Default" in spec}
    return defaults | {"EndpointName": ENDPOINT, "VariantName": VARIANT}


def resolve(value, parameters: dict[str, str], template: dict | None = None):
    """Ref (parameters, and alarms by their AlarmName), Fn::Sub and Fn::Join with the given parameter values."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in parameters:
            return parameters[name]
        resource = (template or {}).get("Resources", {}).get(name)
        if resource and resource["Type"] == "AWS::CloudWatch::Alarm":
            return resolve(resource["Properties"]["AlarmName"], parameters)
        raise KeyError(f"cannot resolve Ref {name}")
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}!]+)\}", lambda m: parameters[m.group(1)], value["Fn::Sub"])
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, items = value["Fn::Join"]
        return separator.join(resolve(item, parameters, template) for item in items)
    if isinstance(value, dict):
        return {k: resolve(v, parameters, template) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters, template) for v in value]
    return value


def rollback_alarms(template: dict) -> dict[str, dict]:
    return {
        k: r["Properties"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "rolls a blue/green update" in str(r["Properties"]).lower()
    }


def test_three_rollback_alarms_per_variant(template, parameters):
    alarms = {k: resolve(v, parameters) for k, v in rollback_alarms(template).items()}
    assert set(alarms) == {*RATE_ALARMS.values(), "ModelLatencyP99Alarm"}
    variant = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}]
    for logical, alarm in alarms.items():
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2), logical
        assert alarm["TreatMissingData"] == "notBreaching", logical
        stats = [q["MetricStat"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
        for stat in stats:
            assert stat["Metric"]["Dimensions"] == variant and stat["Period"] == 60 and stat["Stat"] == "Sum"
            assert stat["Metric"]["Namespace"] == "AWS/SageMaker"
    latency = alarms["ModelLatencyP99Alarm"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Period"]) == ("ModelLatency", "p99", 60)
    assert latency["Dimensions"] == variant and latency["ComparisonOperator"] == "GreaterThanThreshold"
    assert latency["Threshold"] == parameters["ModelLatencyThresholdMicroseconds"]
    for kind, logical in RATE_ALARMS.items():
        metrics = {q["Id"]: q for q in alarms[logical]["Metrics"]}
        assert metrics["invocations"]["MetricStat"]["Metric"]["MetricName"] == "Invocations"
        assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == f"Invocation{kind}Errors"
        assert [q["Id"] for q in alarms[logical]["Metrics"] if q["ReturnData"]] == ["rate"]
    assert parameters["Invocation5xxRatePercent"] == "1" and parameters["Invocation4xxRatePercent"] == "20"


def verdict(template, parameters, kind: str, invocations, errors, **overrides) -> bool:
    """ALARM or not for three one-minute periods of Invocations and Invocation<kind>Errors sums."""
    values = parameters | overrides
    alarm = resolve(template["Resources"][RATE_ALARMS[kind]]["Properties"], values)
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    rates = evaluate(expression, {"invocations": invocations, "errors": errors})
    return in_alarm(rates, alarm, float(alarm["Threshold"]))


@pytest.mark.parametrize(
    ("invocations", "errors", "rolls_back"),
    [
        ([20, 20, 20], [1, 1, 0], True),  # 5% in 2 of 3 minutes with 20 invocations each
        ([20, 20, 20], [1, 0, 0], False),  # one bad minute of three
        ([19, 19, 19], [5, 5, 5], False),  # too few invocations to judge, whatever the errors
        ([1000, 1000, 1000], [9, 9, 9], False),  # 0.9%: one malformed request in a hundred is not a broken version
        ([1000, 1000, 1000], [10, 0, 10], True),  # 1.0% in 2 of 3
        ([None, None, None], [None, None, None], False),  # no traffic: missing data is not breaching
        ([500, 500, 500], [None, None, None], False),  # traffic without error datapoints: the errors count as 0
        ([None, 40, 40], [None, 2, 1], True),  # a minute without traffic does not hide two bad ones
    ],
)
def test_the_5xx_rate_alarm_on_sample_datapoints(template, parameters, invocations, errors, rolls_back):
    assert verdict(template, parameters, "5XX", invocations, errors) is rolls_back


@pytest.mark.parametrize(
    ("invocations", "errors", "rolls_back"),
    [
        ([100, 100, 100], [20, 25, 0], True),  # a version that rejects a fifth of valid traffic rolls back
        ([100, 100, 100], [19, 19, 19], False),
        ([19, 19, 19], [19, 19, 19], False),  # under the minimum of invocations
        ([None, None, None], [None, None, None], False),
    ],
)
def test_the_4xx_rate_alarm_on_sample_datapoints(template, parameters, invocations, errors, rolls_back):
    assert verdict(template, parameters, "4XX", invocations, errors) is rolls_back


def test_the_4xx_rate_and_the_minimum_are_parameters(template, parameters):
    assert verdict(template, parameters, "4XX", [100] * 3, [5] * 3, Invocation4xxRatePercent="5") is True
    assert verdict(template, parameters, "5XX", [10] * 3, [1] * 3, RollbackMinimumInvocations="10") is True


def test_the_deploys_default_alarms_are_the_templates_output(template, parameters):
    output = resolve(template["Outputs"]["RollbackAlarms"]["Value"], parameters, template)
    assert output.split(",") == default_rollback_alarms(ENDPOINT)
    names = sorted(resolve(a["AlarmName"], parameters) for a in rollback_alarms(template).values())
    assert names == sorted(default_rollback_alarms(ENDPOINT))


def test_cloudwatch_accepts_the_alarms_as_rendered(template, parameters):
    """PutMetricAlarm (botocore's shapes, moto's checks) takes each alarm's properties as they are resolved."""
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        for alarm in rollback_alarms(template).values():
            properties = resolve(alarm, parameters)
            cloudwatch.put_metric_alarm(**properties | {"Threshold": float(properties["Threshold"])})
        found = cloudwatch.describe_alarms(AlarmNames=default_rollback_alarms(ENDPOINT))["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in found) == sorted(default_rollback_alarms(ENDPOINT))
    (rate,) = [a for a in found if a["AlarmName"].endswith("5xx-rate")]
    assert [m["Id"] for m in rate["Metrics"]] == ["invocations", "errors", "rate"]


def test_cfn_lint_informational_checks_included_find_nothing():
    config = ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"])
    assert [str(m) for m in cfn_lint(TEMPLATE.read_text(encoding="utf-8"), config=config)] == []
