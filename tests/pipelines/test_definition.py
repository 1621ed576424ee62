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
    assert types == {
        "Preprocess": "Processing",
        "DataQualityBaseline": baseline_type,
        "Train": "Training",
        "Evaluate": "Processing",
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

    assert references(steps["DataQualityBaseline"]) == {"Preprocess"}
    assert references(steps["Train"]) == {"Preprocess"}
    assert references(steps["Evaluate"]) == {"Train", "Preprocess"}
    assert "DependsOn" not in steps["Train"] and "DependsOn" not in steps["DataQualityBaseline"]
    gate = steps["QualityGate"]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["Register"]
    assert [s["Name"] for s in gate["ElseSteps"]] == ["QualityGateFailed"]
    (condition,) = gate["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.rmse.value"
    assert condition["RightValue"] == {"Get": "Parameters.GateThreshold"}
    for name in ("Preprocess", "DataQualityBaseline", "Train", "Evaluate"):
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
    assert register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]


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
    for name in ("Preprocess", "DataQualityBaseline", "Evaluate"):
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
