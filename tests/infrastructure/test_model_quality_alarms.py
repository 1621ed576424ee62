"""The model-quality alarms as rendered for the bundled configuration: one metric-math alarm per alarmed metric (the
metric minus the live version's published threshold, against 0) under the composite model-quality alarm; names,
namespaces, operators and statistics as the analyzer, the check function and the local loop use them; and their
verdicts on sample data points, a deploy that moves the threshold included."""

from __future__ import annotations

import json

import pytest

from monitoring.cloud.model_quality_job import THRESHOLDS_NAMESPACE
from monitoring.cloud.model_quality_settings import BINARY_METRICS, REGRESSION_METRICS, ModelQualitySettings
from monitoring.local.endpoint_alarms import model_quality_alarms
from monitoring.metrics import MODEL_QUALITY_NAMESPACE
from monitoring.model_quality_constraints import CONSTRAINED, operator_for
from pipelines.build import config_from_kwargs
from pipelines.config import ConfigError
from pipelines.monitoring_stack.names import logical_id, model_quality_metrics, monitored_features, name_prefix
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, stack_parameters
from pipelines.monitoring_stack.template import render_template
from tests.conftest import ROOT
from tests.infrastructure.cfn_resolve import Resolver
from tests.infrastructure.metric_math import evaluate, in_alarm

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
REFERENCE = ROOT / "tests/fixtures/model-monitor/model-quality/regression-baseline/good_cases_constraints.json"
ARTIFACTS = Artifacts("abalone-pipeline/code/x/monitoring-lambdas.zip", "s3://bucket/abalone-pipeline/code/y/lib", "i")


@pytest.fixture(scope="module")
def config():
    base = config_from_kwargs({"role": ROLE, "default_bucket": "bucket"}, str(ROOT / "mlops.yaml"))
    monitoring = {"model_quality": {"alarmed_metrics": ["rmse", "r2"]}, "alarm": {"treat_missing_data": "notBreaching"}}
    return base.with_overrides(monitoring=monitoring)


@pytest.fixture(scope="module")
def template(config):
    return render_template(monitored_features(config), model_quality_metrics=model_quality_metrics(config))


@pytest.fixture(scope="module")
def resolver(config, template):
    parameters = stack_parameters(config, ARTIFACTS, Baselines())
    topic = "arn:aws:sns:us-east-1:123456789012:abalone-endpoint-monitoring-alerts"
    return Resolver(template, parameters, {"AlertsTopic": topic}, placeholders=True)


def metric_alarms(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if k.startswith("ModelQualityMetricAlarm")}


def test_one_alarm_per_alarmed_metric_on_the_analyzers_metric_against_the_published_threshold(template, resolver):
    alarms = metric_alarms(template)
    assert sorted(alarms) == sorted(logical_id("ModelQualityMetricAlarm", m) for m in ("rmse", "r2"))
    for metric, operator, statistic in (
        ("rmse", "GreaterThanThreshold", "Maximum"),
        ("r2", "LessThanThreshold", "Minimum"),
    ):
        properties = resolver.resolve(alarms[logical_id("ModelQualityMetricAlarm", metric)]["Properties"])
        assert properties["AlarmName"] == f"abalone-endpoint-model-quality-{metric}"
        assert (properties["Threshold"], properties["ComparisonOperator"]) == (0, operator)
        assert properties["ActionsEnabled"] is False  # only the composite alerts
        expression, value, threshold = properties["Metrics"]
        assert (expression["Expression"], expression["ReturnData"]) == ("value - threshold", True)
        dimensions = [
            {"Name": "Endpoint", "Value": "abalone-endpoint"},
            {"Name": "MonitoringSchedule", "Value": "abalone-endpoint-model-quality"},
        ]
        for stat, namespace, stat_name in (
            (value, MODEL_QUALITY_NAMESPACE, statistic),
            (threshold, THRESHOLDS_NAMESPACE, "Average"),
        ):
            assert stat["ReturnData"] is False and stat["MetricStat"]["Stat"] == stat_name
            assert stat["MetricStat"]["Metric"] == {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": dimensions,
            }
            assert stat["MetricStat"]["Period"] == "3600"


def test_the_composite_alerts_and_retrains_like_the_drift_alarm(template, resolver):
    composite = template["Resources"]["ModelQualityAlarm"]
    alarms = metric_alarms(template)
    assert composite["DependsOn"] == list(alarms)
    properties = resolver.resolve(composite["Properties"])
    assert properties["AlarmName"] == "abalone-endpoint-model-quality"
    assert properties["AlarmRule"] == (
        'ALARM("abalone-endpoint-model-quality-rmse") OR ALARM("abalone-endpoint-model-quality-r2")'
    )
    assert composite["Properties"]["AlarmActions"] == composite["Properties"]["OKActions"] == [{"Ref": "AlertsTopic"}]
    arn = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{properties['AlarmName']}"
    assert arn in resolver.resolve(template["Resources"]["DriftAlarmRule"]["Properties"]["EventPattern"]["resources"])
    retrain = resolver.resolve(template["Resources"]["RetrainFunction"]["Properties"]["Environment"]["Variables"])
    assert retrain["MODEL_QUALITY_ALARM_NAME"] == properties["AlarmName"]  # the family its records name
    topic = resolver.resolve(template["Resources"]["AlertsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"])
    (publishes,) = [s for s in topic if s["Sid"] == "ModelQualityAlarmPublishes"]
    assert publishes["Condition"]["ArnEquals"]["aws:SourceArn"] == arn


def test_the_check_function_publishes_thresholds_for_exactly_the_alarmed_metrics(config, template, resolver):
    variables = resolver.resolve(template["Resources"]["ModelQualityFunction"]["Properties"]["Environment"])
    settings = ModelQualitySettings.from_env({**variables["Variables"], "AWS_REGION": "us-east-1"})
    assert settings.alarmed_metrics == ("rmse", "r2")
    assert settings.ground_truth_uri == config.ground_truth_destination
    assert settings.job.schedule_name == "abalone-endpoint-model-quality"
    assert (settings.start_offset, settings.end_offset, settings.min_pairs) == ("-P1D", "-PT1H", 50)
    role = resolver.policy_statements("ModelQualityFunctionRole")
    (publish,) = [s for s in role if s["Sid"] == "PublishTheLiveThresholds"]
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": THRESHOLDS_NAMESPACE}}


def test_the_operators_are_the_analyzers_and_the_local_alarms_agree(config, template, resolver):
    for problem, metrics in (("regression", REGRESSION_METRICS), ("binary", BINARY_METRICS)):
        assert sorted(metrics) == sorted(CONSTRAINED[problem])
        assert all(operator == operator_for(metric) for metric, operator in metrics.items())
    constraints = json.loads(REFERENCE.read_text())
    local, composite = model_quality_alarms(constraints, ["rmse", "r2"], "abalone-endpoint", "s")
    rendered = [resolver.resolve(a["Properties"]) for a in metric_alarms(template).values()]
    assert [a.name for a in local] == [a["AlarmName"] for a in rendered]
    assert [a.comparison_operator for a in local] == [a["ComparisonOperator"] for a in rendered]
    assert [a.statistic for a in local] == [a["Metrics"][1]["MetricStat"]["Stat"] for a in rendered]
    assert composite.name == f"{name_prefix(config)}-model-quality"


def _verdicts(alarm: dict, values, thresholds) -> list[bool]:
    """CloudWatch's verdict after each period, given the metric's and the published threshold's data points."""
    excess = evaluate(alarm["Metrics"][0]["Expression"], {"value": values, "threshold": thresholds})
    return [in_alarm(excess[: i + 1], alarm, float(alarm["Threshold"])) for i in range(len(excess))]


def test_the_alarm_follows_the_live_versions_threshold(template, resolver):
    rmse = resolver.resolve(metric_alarms(template)[logical_id("ModelQualityMetricAlarm", "rmse")]["Properties"])
    # hours 1-2: version 1 (threshold 2.5); hour 3: no check (NoData); hours 4-5: version 2 deployed (threshold 2.1)
    values = [2.2, 2.7, None, 2.3, 2.0]
    thresholds = [2.5, 2.5, None, 2.1, 2.1]
    assert _verdicts(rmse, values, thresholds) == [False, True, False, True, False]
    r2 = resolver.resolve(metric_alarms(template)[logical_id("ModelQualityMetricAlarm", "r2")]["Properties"])
    assert _verdicts(r2, [0.5, 0.3, 0.45], [0.4, 0.4, 0.4]) == [False, True, False]


def test_a_threshold_without_a_metric_or_a_metric_without_a_threshold_is_no_alarm(template, resolver):
    rmse = resolver.resolve(metric_alarms(template)[logical_id("ModelQualityMetricAlarm", "rmse")]["Properties"])
    assert rmse["TreatMissingData"] == "notBreaching"
    assert _verdicts(rmse, [None, 9.0], [2.5, None]) == [False, False]


def test_model_quality_off_renders_no_alarm_and_an_unknown_metric_is_a_configuration_error(config):
    off = config.with_overrides(monitoring={"model_quality": {"enabled": False}})
    assert model_quality_metrics(off) == ()
    assert stack_parameters(off, ARTIFACTS, Baselines())["ModelQualityEnabled"] == "false"
    rendered = render_template(monitored_features(off), model_quality_metrics=model_quality_metrics(off))
    assert not metric_alarms(rendered) and "ModelQualityAlarm" not in rendered["Resources"]
    assert "ModelQualityEvaluationPeriods" not in stack_parameters(off, ARTIFACTS, Baselines())
    with pytest.raises(ConfigError, match="must be a model-quality metric of regression"):
        config.with_overrides(monitoring={"model_quality": {"alarmed_metrics": ["rmse", "auc"]}})
    with pytest.raises(ValueError, match="'rsme' is not one Model Monitor publishes"):
        render_template(["length"], model_quality_metrics=["rsme"])
