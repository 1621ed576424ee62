"""The model-monitor engine's resources as rendered and resolved for the parameters `mlops monitor deploy` passes:
one DataQualityJobDefinition and one ModelQualityJobDefinition per model version, their MonitoringSchedules under the
processing engine's schedule names (so the metrics' dimensions and the alarms stay), the model-quality alarms against
the version's threshold parameters, and nothing of it with the processing engine or before a version is deployed.
(moto's CloudFormation ignores these resource types: the template itself is what is checked here; cfn-lint and
checkov run on it in test_monitoring_cfn_lint.py and test_checkov.py.)"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pipelines.build import config_from_kwargs
from pipelines.monitoring_stack.model_monitor import definition_names, engine_parameters
from pipelines.monitoring_stack.names import logical_id, model_quality_metrics, monitored_features, name_prefix
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, stack_parameters
from pipelines.monitoring_stack.template import render_template, threshold_parameter
from tests.conftest import ROOT
from tests.infrastructure.cfn_resolve import Resolver

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
ARTIFACTS = Artifacts("abalone-pipeline/code/x/monitoring-lambdas.zip", "s3://bucket/abalone-pipeline/code/y/lib", "i")
BASE = "s3://bucket/abalone-pipeline/executions/e7"
BASELINES = Baselines(
    f"{BASE}/baseline/statistics.json",
    f"{BASE}/baseline/constraints.json",
    "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/7",
    f"{BASE}/model-quality/constraints.json",
)
TOPIC = "arn:aws:sns:us-east-1:123456789012:abalone-endpoint-monitoring-alerts"
MODEL_MONITOR = ("DataQualityJobDefinition", "DataQualityMonitoringSchedule", "ModelQualityJobDefinition")


def configured(problem: str = "regression", **sagemaker):
    base = config_from_kwargs({"role": ROLE, "default_bucket": "bucket"}, str(ROOT / "mlops.yaml"))
    monitoring = {"engine": "model-monitor", "model_quality": {"alarmed_metrics": ["rmse", "r2"]}}
    if problem == "binary":
        monitoring["model_quality"] = {
            "alarmed_metrics": ["auc"],
            "probability_threshold": 0.7,
            "inference_attribute": "label",
            "probability_attribute": "score",
        }
        data = {"target": "sex", "problem_type": "binary", "positive_class": "M", "categorical": ()}
        training = {"objective": "binary:logistic", "eval_metric": "auc"}
        base = base.with_overrides(data=data, training=training, gate={"metric": "auc", "threshold": 0.7})
    config = base.with_overrides(monitoring=monitoring)
    return replace(config, sagemaker=replace(config.sagemaker, **sagemaker)) if sagemaker else config


def instantiate(config, baselines: Baselines = BASELINES, thresholds: dict[str, str] | None = None):
    template = render_template(
        monitored_features(config), model_quality_metrics=model_quality_metrics(config), engine=config.monitoring.engine
    )
    parameters = stack_parameters(config, ARTIFACTS, baselines, KMS if config.sagemaker.kms_key_id else "")
    if config.monitoring.engine == "model-monitor":
        parameters |= engine_parameters(config, IMAGE)
        parameters["ModelQualityBaselineConstraintsUri"] = baselines.model_quality_constraints
        parameters |= definition_names(name_prefix(config), "7", parameters, template)
        parameters |= thresholds or {}
    return template, parameters, Resolver(template, parameters, {"AlertsTopic": TOPIC}, placeholders=True)


def created(template: dict, resolver: Resolver) -> set[str]:
    return {k for k, v in template["Resources"].items() if "Condition" not in v or resolver.conditions[v["Condition"]]}


def test_the_data_quality_definition_checks_the_endpoint_against_the_versions_baselines():
    config = configured(kms_key_id=KMS, subnets=("subnet-1", "subnet-2"), security_group_ids=("sg-1",))
    template, parameters, resolver = instantiate(config)
    definition = resolver.properties("DataQualityJobDefinition")
    assert definition["JobDefinitionName"] == parameters["DataQualityJobDefinitionName"]
    assert definition["JobDefinitionName"].startswith("abalone-endpoint-dq-v7-")
    assert definition["DataQualityAppSpecification"] == {
        "ImageUri": IMAGE,
        "Environment": {"publish_cloudwatch_metrics": "Enabled"},
    }
    assert definition["DataQualityBaselineConfig"] == {
        "StatisticsResource": {"S3Uri": BASELINES.statistics},
        "ConstraintsResource": {"S3Uri": BASELINES.constraints},
    }
    assert definition["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == "abalone-endpoint"
    assert definition["DataQualityJobOutputConfig"]["KmsKeyId"] == KMS
    assert definition["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS
    assert definition["NetworkConfig"]["VpcConfig"] == {
        "SecurityGroupIds": ["sg-1"],
        "Subnets": ["subnet-1", "subnet-2"],
    }
    assert definition["RoleArn"] == ROLE and definition["StoppingCondition"] == {"MaxRuntimeInSeconds": "3600"}
    schedule = resolver.properties("DataQualityMonitoringSchedule")
    assert schedule == {
        "MonitoringScheduleName": "abalone-endpoint-data-quality",  # the drift metrics' dimension, as before
        "MonitoringScheduleConfig": {
            "MonitoringJobDefinitionName": definition["JobDefinitionName"],
            "MonitoringType": "DataQuality",
            "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        },
    }
    assert template["Resources"]["DataQualityMonitoringSchedule"]["DependsOn"] == "DataQualityJobDefinition"


def test_the_model_quality_definition_joins_capture_with_ground_truth_as_configured():
    _, _, resolver = instantiate(configured())
    definition = resolver.properties("ModelQualityJobDefinition")
    assert definition["JobDefinitionName"].startswith("abalone-endpoint-mq-v7-")
    assert definition["ModelQualityAppSpecification"]["ProblemType"] == "Regression"
    assert definition["ModelQualityBaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": BASELINES.model_quality_constraints}
    }
    endpoint = definition["ModelQualityJobInput"]["EndpointInput"]
    assert endpoint == {
        "EndpointName": "abalone-endpoint",
        "LocalPath": "/opt/ml/processing/input/endpoint",
        "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated",
        "StartTimeOffset": "-P1D",
        "EndTimeOffset": "-PT1H",
    }  # regression, the project's own outputs: no attributes, no probability threshold
    ground_truth = definition["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"]
    assert ground_truth == "s3://bucket/abalone-pipeline/ground-truth"
    assert (
        "KmsKeyId" not in definition["ModelQualityJobOutputConfig"] and "VpcConfig" not in definition["NetworkConfig"]
    )
    schedule = resolver.properties("ModelQualityMonitoringSchedule")
    assert schedule["MonitoringScheduleName"] == "abalone-endpoint-model-quality"
    assert schedule["MonitoringScheduleConfig"]["MonitoringType"] == "ModelQuality"
    assert schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == definition["JobDefinitionName"]


def test_binary_classification_passes_its_attributes_and_threshold():
    _, _, resolver = instantiate(configured("binary"))
    definition = resolver.properties("ModelQualityJobDefinition")
    assert definition["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    endpoint = definition["ModelQualityJobInput"]["EndpointInput"]
    assert (endpoint["InferenceAttribute"], endpoint["ProbabilityAttribute"]) == ("label", "score")
    assert endpoint["ProbabilityThresholdAttribute"] == "0.7"


def test_the_model_quality_alarms_compare_the_metric_with_the_versions_threshold():
    thresholds = {threshold_parameter("rmse"): "2.5", threshold_parameter("r2"): "0.25"}
    template, _, resolver = instantiate(configured(), thresholds=thresholds)
    for metric, operator, statistic, threshold in (
        ("rmse", "GreaterThanThreshold", "Maximum", "2.5"),
        ("r2", "LessThanThreshold", "Minimum", "0.25"),
    ):
        alarm = resolver.properties(logical_id("ModelQualityMetricAlarm", metric))
        assert alarm["Namespace"] == "aws/sagemaker/Endpoints/model-metrics" and alarm["MetricName"] == metric
        assert alarm["Dimensions"] == [
            {"Name": "Endpoint", "Value": "abalone-endpoint"},
            {"Name": "MonitoringSchedule", "Value": "abalone-endpoint-model-quality"},
        ]
        assert (alarm["ComparisonOperator"], alarm["Statistic"], alarm["Threshold"]) == (operator, statistic, threshold)
        assert "Metrics" not in alarm  # no published threshold metric with this engine
    assert template["Resources"]["ModelQualityAlarm"]["Condition"] == "UseModelMonitorModelQuality"
    assert {"ModelQualityAlarm", "ModelQualityMonitoringSchedule", "ModelMonitorQualityJobStateRule"} <= created(
        template, resolver
    )


def test_nothing_of_model_monitor_before_a_version_is_deployed_or_with_the_processing_engine():
    template, parameters, resolver = instantiate(configured(), Baselines())
    assert parameters["DataQualityJobDefinitionName"] == parameters["ModelQualityJobDefinitionName"] == ""
    assert not created(template, resolver) & {*MODEL_MONITOR, "ModelQualityAlarm", "CheckFunction"}
    without_quality = Baselines(*BASELINES.as_parameters().values())  # a version with no model-quality baseline
    template, _, resolver = instantiate(configured(), without_quality)
    assert created(template, resolver) & set(MODEL_MONITOR) == {
        "DataQualityJobDefinition",
        "DataQualityMonitoringSchedule",
    }
    processing = configured().with_overrides(monitoring={"engine": "processing"})
    template, _, resolver = instantiate(processing)
    assert not created(template, resolver) & set(MODEL_MONITOR)
    assert not any(k.startswith("ModelQualityThreshold") for k in template["Parameters"])


@pytest.mark.parametrize("metrics", [["rmse"], ["rmse", "mae"]])
def test_each_alarmed_metric_gets_one_threshold_parameter(metrics):
    config = configured().with_overrides(monitoring={"model_quality": {"alarmed_metrics": metrics}})
    template = render_template(monitored_features(config), model_quality_metrics=metrics, engine="model-monitor")
    found = {k: v for k, v in template["Parameters"].items() if k.startswith("ModelQualityThreshold")}
    assert sorted(found) == sorted(threshold_parameter(m) for m in metrics)
    assert all(v["Type"] == "Number" and json.dumps(v).count("{") == 1 for v in found.values())
