"""``run-pipeline`` and ``get-pipeline-definition`` against moto (and botocore's Stubber for --wait)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from pipelines.cloud import wait_for_execution
from pipelines.entrypoints import get_pipeline_definition, parse_tags, run_pipeline
from tests.conftest import ROOT
from tests.pipelines.definition_helpers import BUCKET, ROLE

KWARGS = json.dumps(
    {
        "region": "us-east-1",
        "default_bucket": BUCKET,
        "sagemaker_project_name": "abalone",
        "sagemaker_project_id": "p-123",
        "config": str(ROOT / "mlops.yaml"),
    }
)


@pytest.fixture()
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield boto3.client("sagemaker", region_name="us-east-1"), s3


def test_run_pipeline_creates_then_updates_and_starts(aws, capsys):
    sagemaker, s3 = aws
    argv = ["--role-arn", ROLE, "--kwargs", KWARGS, "--tags", '[{"Key": "team", "Value": "ml"}]']
    assert run_pipeline(argv, sagemaker, s3) == 0
    out = capsys.readouterr().out
    assert "Pipeline created" in out and "Execution started: arn:aws:sagemaker" in out
    described = sagemaker.describe_pipeline(PipelineName="abalone-pipeline")
    definition = json.loads(described["PipelineDefinition"])
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=described["PipelineArn"])["Tags"]}
    assert tags == {"team": "ml", "sagemaker:project-name": "abalone", "sagemaker:project-id": "p-123"}
    (gate,) = [step for step in definition["Steps"] if step["Name"] == "QualityGate"]
    register = gate["Arguments"]["IfSteps"][0]["Arguments"]
    assert register["ModelPackageGroupName"] == "abalone-p-123"
    group = sagemaker.describe_model_package_group(ModelPackageGroupName="abalone-p-123")
    assert group["ModelPackageGroupArn"]
    code = next(i for i in definition["Steps"][0]["Arguments"]["ProcessingInputs"] if i["InputName"] == "code")
    key = code["S3Input"]["S3Uri"].split(f"s3://{BUCKET}/", 1)[1]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == (ROOT / "processing" / "preprocess.py").read_bytes()
    data_uri = next(p for p in definition["Parameters"] if p["Name"] == "InputDataUrl")["DefaultValue"]
    assert s3.head_object(Bucket=BUCKET, Key=data_uri.split(f"s3://{BUCKET}/", 1)[1])["ContentLength"] > 100_000

    assert run_pipeline([*argv, "--param", "GateThreshold=3.5", "--no-start"], sagemaker, s3) == 0
    out = capsys.readouterr().out
    assert "Pipeline updated" in out and "Staged code: 0 new object(s)" in out
    assert len(sagemaker.list_pipelines()["PipelineSummaries"]) == 1


def test_run_pipeline_errors_are_clear(aws, capsys):
    sagemaker, s3 = aws
    kwargs = json.dumps({"default_bucket": BUCKET, "config": str(ROOT / "mlops.yaml")})
    assert run_pipeline(["--kwargs", kwargs], sagemaker, s3) == 2
    assert "needs the pipeline's execution role" in capsys.readouterr().err
    no_bucket = json.dumps({"config": str(ROOT / "mlops.yaml")})
    assert run_pipeline(["--role-arn", ROLE, "--kwargs", no_bucket], sagemaker, s3) == 2
    assert "needs an S3 bucket" in capsys.readouterr().err
    assert run_pipeline(["--role-arn", ROLE, "--kwargs", KWARGS, "--param", "Nope=1"], sagemaker, s3) == 2
    assert "unknown parameter(s) Nope" in capsys.readouterr().err
    assert run_pipeline(["--role-arn", "not-an-arn", "--kwargs", KWARGS], sagemaker, s3) == 2
    assert "sagemaker.role_arn: must be an IAM role ARN" in capsys.readouterr().err
    assert run_pipeline(["--role-arn", ROLE, "--kwargs", '{"colour": 1}'], sagemaker, s3) == 2
    assert "unknown key(s) colour" in capsys.readouterr().err


def test_missing_credentials_are_reported(monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    session = boto3.Session(region_name="us-east-1")
    assert (
        run_pipeline(["--role-arn", ROLE, "--kwargs", KWARGS], session.client("sagemaker"), session.client("s3")) == 2
    )
    assert "no AWS credentials" in capsys.readouterr().err


def test_wait_reports_progress_until_the_execution_ends():
    client = boto3.client("sagemaker", region_name="us-east-1")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abc"
    stubber = Stubber(client)
    steps = [{"StepName": "Preprocess", "StepStatus": "Executing"}]
    stubber.add_response(
        "describe_pipeline_execution", {"PipelineExecutionStatus": "Executing"}, {"PipelineExecutionArn": arn}
    )
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": steps},
        {"PipelineExecutionArn": arn, "SortOrder": "Ascending"},
    )
    done = [
        {"StepName": "Preprocess", "StepStatus": "Succeeded"},
        {"StepName": "QualityGateFailed", "StepStatus": "Failed", "FailureReason": "rmse = 3.2 but must be <= 2.6"},
    ]
    stubber.add_response(
        "describe_pipeline_execution", {"PipelineExecutionStatus": "Failed"}, {"PipelineExecutionArn": arn}
    )
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": done},
        {"PipelineExecutionArn": arn, "SortOrder": "Ascending"},
    )
    lines: list[str] = []
    with stubber:
        status = wait_for_execution(client, arn, poll_seconds=1, report=lines.append, sleep=lambda s: None)
    stubber.assert_no_pending_responses()
    assert status == "Failed"
    assert lines[0].split() == ["Preprocess", "Executing"]
    assert "QualityGateFailed" in lines[2] and "rmse = 3.2 but must be <= 2.6" in lines[2]
    assert lines[-1].startswith("Execution Failed")


def test_get_pipeline_definition_writes_the_file(tmp_path, capsys):
    target = tmp_path / "definition.json"
    kwargs = json.dumps({"role": ROLE, "default_bucket": BUCKET, "config": str(ROOT / "mlops.yaml")})
    assert get_pipeline_definition(["--kwargs", kwargs, "--file-name", str(target)]) == 0
    assert json.loads(target.read_text())["Steps"][0]["Name"] == "Preprocess"
    assert get_pipeline_definition(["--kwargs", kwargs, "--module-name", "json"]) == 2
    assert "has no get_pipeline" in capsys.readouterr().err


def test_get_pipeline_definition_without_a_role_is_a_one_line_error(capsys):
    kwargs = json.dumps({"default_bucket": BUCKET, "config": str(ROOT / "mlops.yaml")})
    assert get_pipeline_definition(["--kwargs", kwargs]) == 2
    err = capsys.readouterr().err
    assert err.startswith("get-pipeline-definition: error: sagemaker.role_arn is not set") and "Traceback" not in err


def test_tags_accept_both_forms():
    assert parse_tags('[{"Key": "a", "Value": "1"}]') == parse_tags('{"a": "1"}') == {"a": "1"}
    with pytest.raises(ValueError, match="--tags must be"):
        parse_tags('["a"]')


def test_buildspec_runs_lint_tests_and_run_pipeline_with_the_project_variables(aws, capsys):
    import shlex

    import yaml

    spec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    assert spec["env"]["shell"] == "bash"
    commands = [c for phase in spec["phases"].values() for c in phase["commands"]]
    assert "ruff check ." in commands and "python -m pytest -q" in commands
    assert all(c == "set -euo pipefail" for phase in spec["phases"].values() for c in phase["commands"][:1])
    (line,) = [c for c in commands if c.startswith("run-pipeline")]
    env = {
        "SAGEMAKER_PIPELINE_ROLE_ARN": ROLE,
        "SAGEMAKER_PROJECT_NAME": "abalone",
        "SAGEMAKER_PROJECT_ID": "p-9",
        "ARTIFACT_BUCKET": BUCKET,
        "AWS_REGION": "us-east-1",
    }
    expanded = line
    for key, value in env.items():
        expanded = expanded.replace("${" + key + "}", value)
    argv = shlex.split(expanded)[1:]
    sagemaker, s3 = aws
    assert run_pipeline([*argv, "--config", str(ROOT / "mlops.yaml")], sagemaker, s3) == 0
    group = sagemaker.describe_model_package_group(ModelPackageGroupName="abalone-p-9")
    assert group["ModelPackageGroupName"] == "abalone-p-9"
    assert "Execution started" in capsys.readouterr().out
