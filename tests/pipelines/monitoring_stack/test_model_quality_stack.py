"""The monitoring stack's model-quality side from the configuration: its parameters (regression and binary), the
live pointer a deploy writes with the version's model-quality baseline, and the deploy's warning for the engine
that has no model-quality schedule yet."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from monitoring.cloud.check_settings import LivePointer
from pipelines.monitoring_stack.deploy import _warnings
from pipelines.monitoring_stack.names import model_quality_metrics
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, stack_parameters
from pipelines.monitoring_stack.repoint import pointer_for
from pipelines.monitoring_stack.template import render_template
from tests.infrastructure.cfn_resolve import Resolver
from tests.monitoring.cloud.conftest import BUCKET
from tests.pipelines.monitoring_stack.test_deploy import version

ARTIFACTS = Artifacts("abalone-pipeline/code/x/monitoring-lambdas.zip", f"s3://{BUCKET}/p/code/y/lib", "image")
NOW = datetime(2025, 3, 4, 12, 30, tzinfo=timezone.utc)
BINARY = {
    "data": {"target": "sex", "problem_type": "binary", "positive_class": "M", "categorical": ()},
    "training": {"objective": "binary:logistic", "eval_metric": "auc"},
    "gate": {"metric": "auc", "threshold": 0.7},
}


def test_regression_parameters_from_the_bundled_configuration(cloud_config):
    parameters = stack_parameters(cloud_config, ARTIFACTS, Baselines())
    assert {k: parameters[k] for k in ("ModelQualityEnabled", "ProblemType", "GroundTruthBucket")} == {
        "ModelQualityEnabled": "true",
        "ProblemType": "Regression",
        "GroundTruthBucket": BUCKET,
    }
    assert parameters["GroundTruthKeyPrefix"] == "abalone-pipeline/ground-truth"  # config.ground_truth_destination
    assert parameters["ModelQualityScheduleName"] == "abalone-endpoint-model-quality"
    assert parameters["ModelQualityJobNamePrefix"] == "abalone-endpoint-mq" != parameters["JobNamePrefix"]
    assert (parameters["ModelQualityStartTimeOffset"], parameters["ModelQualityEndTimeOffset"]) == ("-P1D", "-PT1H")
    assert model_quality_metrics(cloud_config) == ("rmse",)  # the gate metric by default


def test_binary_parameters_carry_the_probability_settings_and_a_custom_ground_truth_location(cloud_config):
    quality = {
        "probability_attribute": "score",
        "probability_threshold": 0.35,
        "ground_truth_destination": "s3://labels-bucket/team/abalone/",
        "alarmed_metrics": ["auc", "f1"],
        "evaluation_periods": 3,
        "datapoints_to_alarm": 2,
        "min_pairs": 200,
    }
    config = cloud_config.with_overrides(**BINARY, monitoring={"model_quality": quality})
    parameters = stack_parameters(config, ARTIFACTS, Baselines())
    assert parameters["ProblemType"] == "BinaryClassification"
    assert (parameters["ProbabilityAttribute"], parameters["ProbabilityThreshold"]) == ("score", "0.35")
    assert (parameters["GroundTruthBucket"], parameters["GroundTruthKeyPrefix"]) == ("labels-bucket", "team/abalone")
    assert (parameters["ModelQualityEvaluationPeriods"], parameters["ModelQualityDatapointsToAlarm"]) == ("3", "2")
    template = render_template(["length"], model_quality_metrics=model_quality_metrics(config))
    resolver = Resolver(template, parameters, {}, placeholders=True)
    function = resolver.resolve(template["Resources"]["ModelQualityFunction"]["Properties"]["Environment"])
    assert function["Variables"]["GROUND_TRUTH_S3_URI"] == "s3://labels-bucket/team/abalone"
    assert function["Variables"]["ALARMED_METRICS"] == "auc,f1" and function["Variables"]["MIN_PAIRS"] == "200"
    role = resolver.policy_statements("ModelQualityFunctionRole")
    (labels,) = [s for s in role if s["Sid"] == "FindTheWindowsGroundTruth"]
    assert labels["Resource"] == "arn:aws:s3:::labels-bucket"
    assert labels["Condition"] == {"StringLike": {"s3:prefix": "team/abalone/*"}}


def test_the_live_pointer_names_the_versions_model_quality_baseline(cloud_config):
    base = f"s3://{BUCKET}/abalone-pipeline/executions/exec-2/model-quality-baseline"
    with_quality = replace(
        version(2),
        drift_baselines={
            **version(2).drift_baselines,
            "model_statistics": f"{base}/statistics.json",
            "model_constraints": f"{base}/constraints.json",
        },
    )
    pointer = pointer_for(with_quality, "abalone-endpoint", NOW)
    assert pointer.model_quality_constraints_uri == f"{base}/constraints.json"
    assert pointer.model_quality_statistics_uri == f"{base}/statistics.json"
    assert LivePointer.from_json(pointer.to_json(), "test") == pointer
    assert pointer_for(version(2), "abalone-endpoint", NOW).model_quality_constraints_uri == ""


def test_the_model_monitor_engine_warns_when_the_version_has_no_model_quality_baseline(cloud_config):
    engine = cloud_config.with_overrides(monitoring={"engine": "model-monitor"})
    without = Baselines("s", "c", "arn")
    assert any("model-quality schedule starts with the first version" in w for w in _warnings(engine, without))
    assert not any("model-quality" in w for w in _warnings(engine, Baselines("s", "c", "arn", "s3://b/mq.json")))
    assert not any("model-quality" in w for w in _warnings(cloud_config, without))


def test_ground_truth_outside_the_project_bucket_is_a_warning_about_the_jobs_role(cloud_config):
    elsewhere = cloud_config.with_overrides(monitoring={"model_quality": {"ground_truth_destination": "s3://labels/x"}})
    baselines = Baselines("s", "c", "arn")
    assert any("read the ground truth at s3://labels/x" in w for w in _warnings(elsewhere, baselines))
    assert not any("ground truth" in w for w in _warnings(cloud_config, baselines))
