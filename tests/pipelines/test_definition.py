"""The pipeline definition: offline, deterministic, wired as designed, valid for the APIs it calls."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from tests.conftest import ROOT
from tests.pipelines.definition_helpers import (
    built_json,
    expressions,
    load,
    normalised,
    steps_by_name,
    with_placeholders,
)

GOLDEN = ROOT / "tests" / "pipelines" / "golden"
ENGINES = ("processing", "model-monitor")
API_OF_STEP = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "RegisterModel": ("CreateModelPackage", None),
}


@pytest.mark.parametrize("engine", ENGINES)
def test_definition_is_built_offline_and_byte_identical(engine):
    first = built_json(engine)
    built_json.cache_clear()
    assert built_json(engine) == first
    assert load(first)["Version"] == "2020-12-01"


@pytest.mark.parametrize("engine", ENGINES)
def test_golden_copy(engine):
    """An SDK upgrade or a wiring change shows up here as a reviewed diff (regenerate: see golden/README)."""
    golden = GOLDEN / f"definition-{engine}.json"
    assert normalised(built_json(engine)) == golden.read_text()


@pytest.mark.parametrize("engine", ENGINES)
def test_every_step_is_present_and_wired(engine):
    definition = load(built_json(engine))
    steps = steps_by_name(definition)
    types = {name: step["Type"] for name, step in steps.items()}
    baseline_type = "Processing" if engine == "processing" else "QualityCheck"
    profile = {"DataQualityProfile": "Processing"} if engine == "processing" else {}  # the sharded profile job
    assert types == {
        "Preprocess": "Processing",
        **profile,
        "DataQualityBaseline": baseline_type,
        "Train": "Training",
        "Evaluate": "Processing",
        "ModelQualityBaseline": baseline_type,
        "QualityGate": "Condition",
        "Register": "RegisterModel",
        "QualityGateFailed": "Fail",
    }

    def references(step):
        return {
            e["Get"].split(".")[1]
            for e in expressions(step.get("Arguments", {}))
            if isinstance(e.get("Get"), str) and e["Get"].startswith("Steps.")
        }

    assert references(steps["DataQualityBaseline"]) == ({"DataQualityProfile"} if profile else {"Preprocess"})
    assert not profile or references(steps["DataQualityProfile"]) == {"Preprocess"}
    assert references(steps["Train"]) == {"Preprocess"}
    assert references(steps["Evaluate"]) == {"Train", "Preprocess"}
    assert references(steps["ModelQualityBaseline"]) == {"Evaluate"}
    assert "DependsOn" not in steps["Train"] and "DependsOn" not in steps["DataQualityBaseline"]
    assert steps["Register"]["DependsOn"] == ["DataQualityBaseline", "ModelQualityBaseline"]
    gate = steps["QualityGate"]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["Register"]
    assert [s["Name"] for s in gate["ElseSteps"]] == ["QualityGateFailed"]
    (condition,) = gate["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.rmse.value"
    assert condition["RightValue"] == {"Get": "Parameters.GateThreshold"}
    for name in ("Preprocess", *profile, "DataQualityBaseline", "Train", "Evaluate", "ModelQualityBaseline"):
        assert steps[name]["CacheConfig"]["Enabled"] is True
        # the SDK's QualityCheckStep takes no retry policies; every other job step has them
        assert steps[name].get("RetryPolicies") or steps[name]["Type"] == "QualityCheck"


@pytest.mark.parametrize("engine", ENGINES)
def test_parameters_are_declared_with_stable_names(engine):
    definition = load(built_json(engine))
    declared = {p["Name"]: p for p in definition["Parameters"]}
    assert {
        "InputDataUrl",
        "GateThreshold",
        "ModelApprovalStatus",
        "ProcessingInstanceType",
        "ProcessingInstanceCount",
        "TrainingInstanceType",
        "TrainingInstanceCount",
        "MaxDepth",
        "Eta",
        "NumRound",
    } <= set(declared)
    assert declared["ModelApprovalStatus"]["DefaultValue"] == "PendingManualApproval"
    used = {
        e["Get"].split(".", 1)[1]
        for e in expressions(definition["Steps"])
        if isinstance(e.get("Get"), str) and e["Get"].startswith("Parameters.")
    }
    assert used <= set(declared), used - set(declared)
    hyper = steps_by_name(definition)["Train"]["Arguments"]["HyperParameters"]
    assert hyper["max_depth"] == {"Get": "Parameters.MaxDepth"} and declared["MaxDepth"]["Type"] == "String"
    if engine == "model-monitor":
        assert declared["SkipDataQualityCheck"]["Type"] == "Boolean"
        assert declared["RegisterNewDataQualityBaseline"]["Type"] == "Boolean"
        assert declared["FailOnDataQualityViolation"]["Type"] == "Boolean"
        # as for data quality: a first run skips the check (no approved baseline yet) and registers the new one
        for name in ("SkipModelQualityCheck", "RegisterNewModelQualityBaseline"):
            assert declared[name] == {"Name": name, "Type": "Boolean", "DefaultValue": True}
        step = steps_by_name(definition)["ModelQualityBaseline"]
        assert step["SkipCheck"] == {"Get": "Parameters.SkipModelQualityCheck"}
        assert step["RegisterNewBaseline"] == {"Get": "Parameters.RegisterNewModelQualityBaseline"}
        assert step["CheckType"] == "MODEL_QUALITY" and step["FailOnViolation"] is True
    else:  # the processing engine's baseline steps check nothing: no switches
        assert not {n for n in declared if n.startswith(("Skip", "RegisterNew", "FailOn"))}


@pytest.mark.parametrize("engine", ENGINES)
def test_the_definition_declares_exactly_the_one_list_of_parameters(engine):
    """pipelines.parameters is the one declaration: names, types, order and defaults (InputDataUrl's default is the
    staged input, known at build time only)."""
    from pipelines.parameters import parameter_specs
    from tests.pipelines.definition_helpers import config_for

    declared = load(built_json(engine))["Parameters"]
    specs = parameter_specs(config_for(engine))
    assert [(p["Name"], p["Type"]) for p in declared] == [(s.name, s.kind) for s in specs]
    defaults = {p["Name"]: p["DefaultValue"] for p in declared}
    assert {s.name: s.default for s in specs if s.name != "InputDataUrl"} == {
        n: v for n, v in defaults.items() if n != "InputDataUrl"
    }
    assert defaults["InputDataUrl"].startswith("s3://artefacts-bucket/abalone-pipeline/data/")


def test_fail_on_data_quality_violation_reaches_the_quality_check_step():
    definition = load(built_json("model-monitor"))
    declared = {p["Name"]: p for p in definition["Parameters"]}
    assert declared["FailOnDataQualityViolation"] == {
        "Name": "FailOnDataQualityViolation",
        "Type": "Boolean",
        "DefaultValue": True,  # SageMaker's default: a violation fails the step
    }
    step = steps_by_name(definition)["DataQualityBaseline"]
    assert step["FailOnViolation"] == {"Get": "Parameters.FailOnDataQualityViolation"}
    # the processing engine's baseline step checks nothing, so it declares no such parameter
    assert "FailOnDataQualityViolation" not in {p["Name"] for p in load(built_json("processing"))["Parameters"]}


@pytest.mark.parametrize("engine", ENGINES)
def test_step_arguments_validate_against_the_api_input_shapes(engine):
    definition = load(built_json(engine))
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    model = botocore.session.get_session().get_service_model("sagemaker")
    validator = ParamValidator()
    checked = set()
    for step in steps_by_name(definition).values():
        if step["Type"] not in API_OF_STEP:
            continue
        api, name_field = API_OF_STEP[step["Type"]]
        arguments = with_placeholders(step["Arguments"], parameters)
        if name_field:
            arguments[name_field] = "placeholder-name"
        report = validator.validate(arguments, model.operation_model(api).input_shape)
        assert not report.has_errors(), f"{step['Name']} ({api}): {report.generate_report()}"
        checked.add(step["Name"])
    assert {"Preprocess", "Train", "Evaluate", "Register"} <= checked


def test_register_step_serves_through_the_projects_handler():
    register = steps_by_name(load(built_json("processing")))["Register"]["Arguments"]
    (container,) = register["InferenceSpecification"]["Containers"]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    spec = register["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["text/csv", "application/json"]
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert register["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"]


@pytest.mark.parametrize("engine", ENGINES)
def test_register_records_both_baselines_and_the_evaluation(engine):
    register = steps_by_name(load(built_json(engine)))["Register"]["Arguments"]
    metrics, drift = register["ModelMetrics"], register["DriftCheckBaselines"]
    if engine == "processing":  # the analyzer's output folder: calculated and used for drift checks alike
        for block in (metrics, drift):
            for kind, step, output in (
                ("ModelQuality", "ModelQualityBaseline", "model_quality"),
                ("ModelDataQuality", "DataQualityBaseline", "baseline"),
            ):
                for part, name in (("Statistics", "statistics.json"), ("Constraints", "constraints.json")):
                    values = block[kind][part]["S3Uri"]["Std:Join"]["Values"]
                    uri = f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"
                    assert values == [{"Get": uri}, name]
    else:
        for kind, step in (("ModelQuality", "ModelQualityBaseline"), ("ModelDataQuality", "DataQualityBaseline")):
            for part in ("Statistics", "Constraints"):
                assert metrics[kind][part]["S3Uri"] == {"Get": f"Steps.{step}.CalculatedBaseline{part}"}
                assert drift[kind][part]["S3Uri"] == {"Get": f"Steps.{step}.BaselineUsedForDriftCheck{part}"}
    evaluation = register["CustomerMetadataProperties"]["evaluation"]["Std:Join"]["Values"]
    assert evaluation == [
        {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
        "evaluation.json",
    ]


def test_the_model_quality_baseline_reads_evaluates_predictions_with_model_monitors_settings():
    steps = steps_by_name(load(built_json("processing")))
    evaluate = steps["Evaluate"]["Arguments"]
    arguments = evaluate["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--predictions-dir") + 1] == "/opt/ml/processing/predictions"
    assert "--probability-threshold" not in arguments  # regression: no threshold
    outputs = {o["OutputName"]: o["S3Output"] for o in evaluate["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["predictions"]["LocalPath"] == "/opt/ml/processing/predictions"
    baseline = steps["ModelQualityBaseline"]["Arguments"]
    environment = baseline["Environment"]
    assert {k: v for k, v in environment.items() if k != "PYTHONPATH"} == {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "Regression",
        "ground_truth_attribute": "label",
        "inference_attribute": "prediction",
        "dataset_source": "/opt/ml/processing/input/predictions",
        "dataset_format": '{"csv": {"header": true}}',
        "output_path": "/opt/ml/processing/output/model_quality",
        "publish_cloudwatch_metrics": "Disabled",
        "constraint_margin": "0.1",  # monitoring.model_quality.constraint_margin
    }
    (predictions,) = [i for i in baseline["ProcessingInputs"] if i["InputName"] == "predictions"]
    uri = "Steps.Evaluate.ProcessingOutputConfig.Outputs['predictions'].S3Output.S3Uri"
    assert predictions["S3Input"]["S3Uri"] == {"Get": uri}
    (code,) = [i for i in baseline["ProcessingInputs"] if i["InputName"] == "code"]
    assert code["S3Input"]["S3Uri"].endswith("/lib/monitoring/container_entry.py")  # the analyzer, staged in lib
    monitor = steps_by_name(load(built_json("model-monitor")))["ModelQualityBaseline"]["Arguments"]["Environment"]
    assert (monitor["analysis_type"], monitor["problem_type"]) == ("MODEL_QUALITY", "Regression")
    assert (monitor["ground_truth_attribute"], monitor["inference_attribute"]) == ("label", "prediction")


def test_binary_problems_baseline_with_the_probability_and_the_configured_threshold():
    from pipelines.build import build_definition
    from tests.pipelines.definition_helpers import config_for, no_network

    config = config_for().with_overrides(
        data={"target": "sex", "problem_type": "binary", "positive_class": "M", "categorical": ()},
        training={"objective": "binary:logistic", "eval_metric": "auc"},
        gate={"metric": "auc", "threshold": 0.7},
        monitoring={"model_quality": {"probability_threshold": 0.35, "constraint_margin": 0.05}},
    )
    with no_network():
        steps = steps_by_name(load(build_definition(config, root=ROOT).json))
    arguments = steps["Evaluate"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--probability-threshold") + 1] == "0.35"
    environment = steps["ModelQualityBaseline"]["Arguments"]["Environment"]
    assert environment["problem_type"] == "BinaryClassification"
    assert (environment["probability_attribute"], environment["probability_threshold_attribute"]) == (
        "probability",
        "0.35",
    )
    assert environment["constraint_margin"] == "0.05"


def test_without_model_quality_there_is_no_model_quality_baseline():
    from pipelines.build import build_definition
    from pipelines.parameters import declared_parameters
    from tests.pipelines.definition_helpers import config_for, no_network

    config = config_for("model-monitor").with_overrides(monitoring={"model_quality": {"enabled": False}})
    with no_network():
        definition = load(build_definition(config, root=ROOT).json)
    steps = steps_by_name(definition)
    assert "ModelQualityBaseline" not in steps
    register = steps["Register"]["Arguments"]
    assert (
        "ModelQuality" not in register["DriftCheckBaselines"] and "evaluation" in register["CustomerMetadataProperties"]
    )
    assert not register["ModelMetrics"].get("ModelQuality")
    declared = {p["Name"]: p["Type"] for p in definition["Parameters"]}
    assert declared == declared_parameters(config) and "SkipModelQualityCheck" not in declared


def test_code_is_referenced_by_content_hash_and_nothing_is_timestamped():
    text = built_json("processing")
    definition = load(text)
    pre = steps_by_name(definition)["Preprocess"]["Arguments"]
    code = next(i for i in pre["ProcessingInputs"] if i["InputName"] == "code")["S3Input"]["S3Uri"]
    assert code.startswith("s3://artefacts-bucket/abalone-pipeline/code/") and code.endswith("/preprocess.py")
    train = steps_by_name(definition)["Train"]["Arguments"]
    channels = {c["ChannelName"]: c for c in train["InputDataConfig"]}
    assert "/code/" in channels["code"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert train["HyperParameters"]["sagemaker_submit_directory"] == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert "2026-" not in text and "2025-" not in text


@pytest.mark.parametrize("engine", ENGINES)
def test_processing_instance_count_sizes_the_analyzer_jobs_only(engine):
    """Preprocess (global categories, the whole split) and Evaluate stay on one instance; the baselines take
    ProcessingInstanceCount; with the processing engine the data-quality profile job takes the count and its merge
    job (DataQualityBaseline) stays on one instance."""
    steps = steps_by_name(load(built_json(engine)))
    count = {"Get": "Parameters.ProcessingInstanceCount"}
    expected = {"Preprocess": 1, "Evaluate": 1, "DataQualityBaseline": count, "ModelQualityBaseline": count}
    if engine == "processing":
        expected.update(DataQualityProfile=count, DataQualityBaseline=1)
    for name, instances in expected.items():
        cluster = steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceCount"] == instances, name


def test_security_options_reach_every_job():
    from pipelines.build import build_definition
    from tests.pipelines.definition_helpers import config_for, no_network

    config = config_for().with_overrides(
        sagemaker={
            "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/abc",
            "subnets": ("subnet-1",),
            "security_group_ids": ("sg-1",),
            "enable_network_isolation": True,
        }
    )
    with no_network():
        definition = load(build_definition(config, root=ROOT).json)
    steps = steps_by_name(definition)
    for name in ("Preprocess", "DataQualityProfile", "DataQualityBaseline", "Evaluate", "ModelQualityBaseline"):
        args = steps[name]["Arguments"]
        assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"].endswith("key/abc")
        assert args["ProcessingOutputConfig"]["KmsKeyId"].endswith("key/abc")
        assert args["NetworkConfig"]["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
        assert args["NetworkConfig"]["EnableNetworkIsolation"] is True
    train = steps["Train"]["Arguments"]
    assert train["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert train["EnableNetworkIsolation"] is True
    assert train["OutputDataConfig"]["KmsKeyId"].endswith("key/abc")
    assert json.dumps(train["ResourceConfig"]).count("key/abc") == 1


def test_building_needs_no_credentials(monkeypatch):
    from pipelines.build import build_definition
    from tests.pipelines.definition_helpers import config_for, no_network

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")  # a credential lookup would now try the network
    with no_network():
        assert normalised(build_definition(config_for(), root=ROOT).json) == normalised(built_json("processing"))
