"""The monitoring template as rendered for the bundled configuration: alarms, IAM, encryption, and its agreement
with the Lambda functions and the parameters the CLI passes."""

from __future__ import annotations

import json
import re

import pytest

from monitoring.cloud.check_settings import CheckSettings
from monitoring.cloud.model_quality_settings import THRESHOLDS_NAMESPACE
from monitoring.cloud.retrain_job import RetrainSettings
from pipelines.build import config_from_kwargs
from pipelines.monitoring_stack.names import logical_id, model_quality_metrics, monitored_features
from pipelines.monitoring_stack.package import HANDLERS
from pipelines.monitoring_stack.parameters import Artifacts, Baselines, stack_parameters
from pipelines.monitoring_stack.template import load_yaml, render_template, template_body
from tests.conftest import ROOT

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
ARTIFACTS = Artifacts("abalone-pipeline/code/x/monitoring-lambdas.zip", "s3://bucket/abalone-pipeline/code/y/lib", "i")
FEATURES = ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight", "sex")


@pytest.fixture(scope="module")
def config():
    return config_from_kwargs({"role": ROLE, "default_bucket": "bucket"}, str(ROOT / "mlops.yaml"))


@pytest.fixture(scope="module")
def template(config):
    return render_template(
        monitored_features(config),
        ["ops@example.com"],
        ["https://hooks.example.com/mlops"],
        model_quality_metrics=model_quality_metrics(config),
    )


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def feature_alarms(template: dict) -> dict[str, dict]:
    """The rendered per-feature drift alarms (the stack's other alarms watch its dead-letter queues)."""
    return {k: v for k, v in of_type(template, "AWS::CloudWatch::Alarm").items() if k.startswith("FeatureDriftAlarm")}


def resolve(value, parameters: dict[str, str]):
    """Just enough of CloudFormation's intrinsics to evaluate the functions' environment."""
    if isinstance(value, dict) and "Ref" in value:
        return {"AWS::Region": "us-east-1"}.get(value["Ref"], parameters.get(value["Ref"], f"<{value['Ref']}>"))
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda m: resolve({"Ref": m.group(1)}, parameters), value["Fn::Sub"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, items = value["Fn::Join"]
        return separator.join(resolve(items, parameters).split(",") if isinstance(items, dict) else items)
    return value


def test_one_drift_alarm_per_feature_on_the_analyzers_metric(config, template):
    alarms = feature_alarms(template)
    assert monitored_features(config) == FEATURES
    assert sorted(alarms) == sorted(logical_id("FeatureDriftAlarm", f) for f in FEATURES)
    for feature in FEATURES:
        properties = alarms[logical_id("FeatureDriftAlarm", feature)]["Properties"]
        assert properties["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
        assert properties["MetricName"] == f"feature_baseline_drift_{feature}"
        assert properties["Dimensions"] == [
            {"Name": "Endpoint", "Value": {"Ref": "EndpointName"}},
            {"Name": "MonitoringSchedule", "Value": {"Ref": "MonitoringScheduleName"}},
        ]
        assert properties["AlarmName"] == {"Fn::Sub": f"${{NamePrefix}}-drift-{feature}"}
        assert properties["ComparisonOperator"] == "GreaterThanThreshold"
        assert properties["Threshold"] == {"Ref": "DriftThreshold"}
        assert properties["ActionsEnabled"] is False  # only the composite alerts


def test_the_composite_alarm_waits_for_and_watches_every_feature_alarm(template):
    composite = template["Resources"]["DriftAlarm"]
    alarms = feature_alarms(template)
    assert composite["Type"] == "AWS::CloudWatch::CompositeAlarm"
    assert composite["DependsOn"] == list(alarms)
    rule = composite["Properties"]["AlarmRule"]["Fn::Sub"]
    assert rule == " OR ".join(f'ALARM("{a["Properties"]["AlarmName"]["Fn::Sub"]}")' for a in alarms.values())
    assert composite["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    # the retraining rule listens to this alarm (and the model-quality one), and the topic lets exactly it publish
    name = composite["Properties"]["AlarmName"]["Fn::Sub"]
    drift, _ = template["Resources"]["DriftAlarmRule"]["Properties"]["EventPattern"]["resources"]
    assert drift["Fn::Sub"].endswith(f":alarm:{name}")
    statements = template["Resources"]["AlertsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (alarm_statement,) = [s for s in statements if s["Sid"] == "DriftAlarmPublishes"]
    assert alarm_statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"].endswith(f":alarm:{name}")


def test_per_item_logical_ids_are_stable_and_distinct(config):
    before = render_template(["length", "whole_weight"])
    after = render_template(["length", "whole_weight", "wholeweight"])
    for logical, resource in before["Resources"].items():
        if logical.startswith("FeatureDriftAlarm"):
            assert after["Resources"][logical] == resource  # adding a feature changes no other alarm
    ids = {logical_id("FeatureDriftAlarm", f) for f in ("whole_weight", "wholeweight", "whole-weight")}
    assert len(ids) == 3
    assert template_body(render_template(FEATURES)) == template_body(render_template(FEATURES))


def test_subscriptions_are_rendered_per_address(template):
    subscriptions = of_type(template, "AWS::SNS::Subscription").values()
    assert sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subscriptions) == [
        ("email", "ops@example.com"),
        ("https", "https://hooks.example.com/mlops"),
    ]


def test_rendering_refuses_what_cannot_be_deployed():
    with pytest.raises(ValueError, match="at least one feature"):
        render_template([])
    with pytest.raises(ValueError, match="features must be distinct"):
        render_template(["a", "a"])


def _statements(template: dict):
    for logical, role in of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:  # conditional statement: its true branch
                    statement = statement["Fn::If"][1]
                yield logical, statement


def test_iam_names_every_action_and_scopes_every_resource(template):
    statements = list(_statements(template))
    assert len(statements) > 10
    for logical, statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), f"{logical}: {action} is not one named action"
        resource = statement["Resource"]
        if resource == "*" and actions == ["cloudwatch:PutMetricData"]:  # no resource-level permission exists
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": THRESHOLDS_NAMESPACE}}
            continue
        assert isinstance(resource, dict), f"{logical}: {resource} is not built from the stack's names"
        # scoped: a resource of the stack, a parameter, or an ARN naming one (not only partition/region/account)
        names = set(re.findall(r"\$\{([^}]+)\}", json.dumps(resource))) - {"AWS::Partition", "AWS::Region"}
        assert "Ref" in resource or "Fn::GetAtt" in resource or names - {"AWS::AccountId"}, f"{logical}: {resource}"
    key_policy = template["Resources"]["AlertsKey"]["Properties"]["KeyPolicy"]["Statement"]
    for statement in key_policy:
        for action in statement["Action"]:
            assert "*" not in action, f"key policy action {action}"


def test_alerts_and_logs_are_encrypted_with_the_stacks_key(template):
    resources = template["Resources"]
    assert resources["AlertsTopic"]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlertsKey", "Arn"]}
    assert resources["AlertsKey"]["Properties"]["EnableKeyRotation"] is True
    for group in of_type(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["AlertsKey", "Arn"]}
    for function in of_type(template, "AWS::Lambda::Function").values():
        assert "LogGroup" in function["Properties"]["LoggingConfig"]


def test_the_job_state_rule_alerts_on_violations_and_failures_of_this_schedules_jobs(template):
    rule = template["Resources"]["JobStateRule"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["SageMaker Processing Job State Change"]
    processing, model_monitor = rule["EventPattern"]["detail"]["Fn::If"][1:]
    violations = {"ExitMessage": [{"prefix": "CompletedWithViolations"}]}
    # a stopped check (or profile job, which then starts no merge) leaves its hour unchecked: it alerts too
    assert processing["$or"] == [{"ProcessingJobStatus": ["Failed", "Stopped"]}, violations]
    assert model_monitor["$or"] == [{"ProcessingJobStatus": ["Failed"]}, violations]
    assert processing["ProcessingJobName"] == [{"prefix": {"Fn::Sub": "${JobNamePrefix}-"}}]
    assert "monitoring-schedule/${MonitoringScheduleName}" in json.dumps(model_monitor["MonitoringScheduleArn"])
    assert rule["Targets"][0]["Arn"] == {"Ref": "AlertsTopic"}


def test_the_cli_passes_exactly_the_templates_parameters(config, template):
    artifacts = Artifacts(
        "abalone-pipeline/code/x/monitoring-lambdas.zip", "s3://bucket/abalone-pipeline/code/y/lib", "img"
    )
    passed = stack_parameters(config, artifacts, Baselines())
    declared = template["Parameters"]
    assert set(passed) <= set(declared)
    assert all("Default" in declared[name] for name in set(declared) - set(passed))  # e.g. LogRetentionDays
    for name, spec in declared.items():
        if name not in passed:
            continue
        if "AllowedValues" in spec:
            assert passed[name] in [str(v) for v in spec["AllowedValues"]], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], passed[name]), f"{name}={passed[name]!r}"


def test_the_functions_environment_is_what_the_handlers_read(config, template):
    baselines = Baselines("s3://bucket/b/statistics.json", "s3://bucket/b/constraints.json", "arn:package/3")
    artifacts = Artifacts(
        "abalone-pipeline/code/x/monitoring-lambdas.zip", "s3://bucket/abalone-pipeline/code/y/lib", "img"
    )
    parameters = stack_parameters(config, artifacts, baselines)
    functions = of_type(template, "AWS::Lambda::Function")
    assert sorted(f["Properties"]["Handler"] for f in functions.values()) == sorted(HANDLERS)

    def env(logical: str) -> dict[str, str]:
        variables = functions[logical]["Properties"]["Environment"]["Variables"]
        return {"AWS_REGION": "us-east-1", **{k: str(resolve(v, parameters)) for k, v in variables.items()}}

    check = CheckSettings.from_env(env("CheckFunction"))
    assert check.capture_uri == "s3://bucket/abalone-pipeline/datacapture/abalone-endpoint/AllTraffic"
    assert (
        check.job_name_prefix == parameters["JobNamePrefix"] and check.baseline_statistics_uri == baselines.statistics
    )
    retrain = RetrainSettings.from_env(env("RetrainFunction"))
    assert retrain.data_uri == config.retrain_data_uri
    assert retrain.decisions_uri == "s3://bucket/abalone-pipeline/monitoring/retrain-decisions/abalone-endpoint"
    assert retrain.cooldown_hours == config.monitoring.retrain.cooldown_hours
    schedule = template["Resources"]["CheckSchedule"]["Properties"]
    assert json.loads(schedule["Target"]["Input"]) == {
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
        "attempt": "<aws.scheduler.attempt-number>",
    }
    assert schedule["State"] == "ENABLED"  # repointed through the live pointer; no baselines: the check starts no job


def test_the_processing_engine_resources_exist_only_with_that_engine(template):
    conditioned = {k for k, v in template["Resources"].items() if v.get("Condition") == "UseProcessingEngine"}
    assert conditioned == {
        "CheckFunctionLogGroup",
        "CheckFunctionRole",
        "CheckFunction",
        "SchedulerRole",
        "CheckSchedule",
        "CheckDeadLetterQueue",
        "CheckDeadLetterQueuePolicy",
        "CheckDeadLetterAlarm",
        "ProfileCompletedRule",
        "ProfileCompletedRuleInvokesCheck",
    }
    assert template["Conditions"]["UseProcessingEngine"] == {"Fn::Equals": [{"Ref": "Engine"}, "processing"]}
    assert template["Conditions"]["ShardedChecks"] == {
        "Fn::And": [
            {"Condition": "UseProcessingEngine"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "ProcessingInstanceCount"}, "1"]}]},
        ]
    }
    model_quality = {k for k, v in template["Resources"].items() if v.get("Condition") == "UseModelQualityChecks"}
    assert model_quality == {
        "ModelQualityFunctionLogGroup",
        "ModelQualityFunctionRole",
        "ModelQualityFunction",
        "ModelQualitySchedulerRole",
        "ModelQualitySchedule",
        "ModelQualityDeadLetterQueue",
        "ModelQualityDeadLetterQueuePolicy",
        "ModelQualityDeadLetterAlarm",
        "ModelQualityJobStateRule",
        "ModelQualityAlarm",
        *(k for k in template["Resources"] if k.startswith("ModelQualityMetricAlarm")),
    }
    assert template["Conditions"]["UseModelQualityChecks"] == {
        "Fn::And": [{"Condition": "UseProcessingEngine"}, {"Fn::Equals": [{"Ref": "ModelQualityEnabled"}, "true"]}]
    }


def test_the_base_template_reads_as_cloudformation(template):
    base = load_yaml(ROOT / "infrastructure" / "monitoring.yaml")
    assert base["Resources"]["CheckFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["CheckFunctionRole", "Arn"]}
    assert base["Resources"]["CheckSchedule"]["Properties"]["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert "DriftAlarm" not in base["Resources"] and "DriftAlarm" in template["Resources"]
