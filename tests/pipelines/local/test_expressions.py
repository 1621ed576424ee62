"""Pipeline expressions and conditions, evaluated as SageMaker Pipelines does."""

from __future__ import annotations

import pytest

from pipelines.local.cache import expire_after
from pipelines.local.expressions import Context, ExpressionError, condition_holds, evaluate, path_tokens, references
from pipelines.local.runner import plan, typed_parameters


def context() -> Context:
    return Context(
        parameters={"GateThreshold": 2.5, "InputDataUrl": "s3://b/data.csv"},
        execution={"PipelineExecutionId": "abc123"},
        properties={
            "Preprocess": {"ProcessingOutputConfig": {"Outputs": {"train": {"S3Output": {"S3Uri": "s3://b/t"}}}}},
            "Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"}},
        },
        read_property_file=lambda step, name: {"regression_metrics": {"rmse": {"value": 2.1}}, "items": [{"x": 7}]},
    )


def test_get_join_and_json_get():
    ctx = context()
    assert evaluate({"Get": "Parameters.GateThreshold"}, ctx) == 2.5
    assert (
        evaluate({"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}, ctx) == "s3://b/t"
    )
    joined = {"Std:Join": {"On": "/", "Values": ["s3://b", {"Get": "Execution.PipelineExecutionId"}, "x"]}}
    assert evaluate(joined, ctx) == "s3://b/abc123/x"
    get = {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"},
            "Path": "regression_metrics.rmse.value",
        }
    }
    assert evaluate(get, ctx) == 2.1
    assert (
        evaluate(
            {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.R"}, "Path": "items[0].x"}}, ctx
        )
        == 7
    )
    assert evaluate({"a": [{"Get": "Parameters.InputDataUrl"}]}, ctx) == {"a": ["s3://b/data.csv"]}


def test_unknown_references_are_clear_errors():
    ctx = context()
    with pytest.raises(ExpressionError, match="unknown parameter 'Nope'"):
        evaluate({"Get": "Parameters.Nope"}, ctx)
    with pytest.raises(ExpressionError, match="step 'Evaluate' has no properties yet"):
        evaluate({"Get": "Steps.Evaluate.ProcessingJobName"}, ctx)
    with pytest.raises(ExpressionError, match="no 'missing'"):
        evaluate({"Get": "Steps.Train.ModelArtifacts.missing"}, ctx)


def test_conditions():
    ctx = context()
    metric = {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"},
            "Path": "regression_metrics.rmse.value",
        }
    }
    threshold = {"Get": "Parameters.GateThreshold"}
    assert condition_holds({"Type": "LessThanOrEqualTo", "LeftValue": metric, "RightValue": threshold}, ctx)
    assert not condition_holds({"Type": "GreaterThanOrEqualTo", "LeftValue": metric, "RightValue": threshold}, ctx)
    assert condition_holds({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1, "RightValue": 2}}, ctx)
    assert condition_holds({"Type": "In", "QueryValue": 2, "Values": [1, 2]}, ctx)


def test_plan_finds_data_dependencies_and_branches():
    definition = {
        "Steps": [
            {"Name": "A", "Type": "Processing", "Arguments": {}},
            {"Name": "B", "Type": "Training", "Arguments": {"X": {"Get": "Steps.A.ProcessingJobName"}}},
            {
                "Name": "C",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {"Type": "Equals", "LeftValue": {"Get": "Steps.B.TrainingJobName"}, "RightValue": "x"}
                    ],
                    "IfSteps": [{"Name": "D", "Type": "RegisterModel", "Arguments": {}, "DependsOn": ["A"]}],
                    "ElseSteps": [{"Name": "E", "Type": "Fail", "Arguments": {}}],
                },
            },
        ]
    }
    nodes = plan(definition)
    assert nodes["B"].needs == {"A"} and nodes["C"].needs == {"B"}
    assert nodes["D"].needs == {"A", "C"} and nodes["D"].branch_of == ("C", True)
    assert nodes["E"].branch_of == ("C", False)
    assert references({"a": [{"Get": "Steps.Z.Q"}]}) == {"Z"}


def test_parameters_are_typed_and_unknown_ones_rejected():
    definition = {
        "Parameters": [
            {"Name": "T", "Type": "Float", "DefaultValue": 2.5},
            {"Name": "N", "Type": "Integer", "DefaultValue": 1},
            {"Name": "S", "Type": "Boolean", "DefaultValue": True},
        ]
    }
    assert typed_parameters(definition, {"T": "3.5", "S": "false"}) == {"T": 3.5, "N": 1, "S": False}
    with pytest.raises(ValueError, match="unknown parameter"):
        typed_parameters(definition, {"X": "1"})
    with pytest.raises(ValueError, match="parameter N must be Integer, got 'many'"):
        typed_parameters(definition, {"N": "many"})


def test_property_paths_and_durations():
    assert path_tokens("Outputs['a b'].S3Output[0].Uri") == ["Outputs", "a b", "S3Output", 0, "Uri"]
    assert expire_after("P30D").days == 30 and expire_after("PT1H").seconds == 3600
    with pytest.raises(ValueError, match="ISO-8601 duration"):
        expire_after("30 days")
