"""infrastructure/bootstrap.yaml: cfn-lint clean (checkov: test_checkov.py scans it with the other templates), created
on moto with each code source, with and without subnets, with the contract's outputs; the bucket's lifecycle rules
cover the prefixes the project writes (read from the configuration's defaults, not assumed); the key policy names
exactly the roles and service principals that need it; the build gets every variable buildspec.yml reads; the
failure rules match failed executions and builds of this project only."""

from __future__ import annotations

import json
import re
import warnings

import boto3
import pytest
from cfnlint.api import ManualArgs
from cfnlint.api import lint as cfn_lint
from moto import mock_aws
from moto.events.models import EventPattern

from pipelines.config import load_config
from pipelines.staging import Artifact
from tests.conftest import ROOT
from tests.infrastructure.bootstrap_stack import (
    NETWORK,
    OUTPUTS,
    PROJECT,
    SOURCES,
    TEMPLATE,
    Stack,
    create_stack,
    moto_build_types,
)
from tests.infrastructure.iam_recorder import ACCOUNT, REGION

PIPELINE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PROJECT}-pipeline"


@pytest.fixture()
def aws():
    with mock_aws(), moto_build_types(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)  # policies moto ignores
        yield


def test_cfn_lint_is_clean():
    config = ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"])
    assert [str(m) for m in cfn_lint(TEMPLATE.read_text(encoding="utf-8"), config=config)] == []


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("network", [False, True], ids=["no-vpc", "vpc"])
def test_the_stack_creates_with_its_outputs(aws, source, network):
    stack = create_stack({**SOURCES[source], **(NETWORK if network else {})})
    assert set(stack.outputs) == set(OUTPUTS)
    assert stack.outputs["ArtifactBucketName"] == f"{PROJECT}-{ACCOUNT}-{REGION}"
    assert stack.outputs["BuildProjectName"] == f"{PROJECT}-model-build"
    assert stack.outputs["AlertTopicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{PROJECT}-alerts"
    assert ("ExecutionNetworkPolicy" in stack.resources) is network  # network interfaces only with subnets
    assert ("PushRule" in stack.resources) is (source == "codecommit")
    assert ("SourcePipeline" in stack.resources) is (source == "codeconnections")
    s3 = boto3.client("s3", region_name=REGION)
    encryption = s3.get_bucket_encryption(Bucket=stack.outputs["ArtifactBucketName"])
    (rule,) = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == stack.outputs["KmsKeyArn"]
    topic = boto3.client("sns", region_name=REGION).get_topic_attributes(TopicArn=stack.outputs["AlertTopicArn"])
    assert topic["Attributes"]["KmsMasterKeyId"] == stack.outputs["KmsKeyArn"]


def test_the_build_gets_every_variable_buildspec_reads(aws):
    stack = create_stack(SOURCES["codecommit"])
    (project,) = boto3.client("codebuild", region_name=REGION).batch_get_projects(
        names=[stack.outputs["BuildProjectName"]]
    )["projects"]
    given = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    read = set(re.findall(r"\$\{([A-Z_]+)\}", (ROOT / "buildspec.yml").read_text(encoding="utf-8")))
    assert read - set(given) == {"AWS_REGION"}  # CodeBuild sets it
    assert given["SAGEMAKER_PIPELINE_ROLE_ARN"] == stack.outputs["ExecutionRoleArn"]
    assert given["ARTIFACT_BUCKET"] == stack.outputs["ArtifactBucketName"]
    assert given["SAGEMAKER_PROJECT_NAME"] == PROJECT and given["SAGEMAKER_PROJECT_ID"] == ""
    assert project["source"]["type"] == "CODECOMMIT" and project["sourceVersion"] == "refs/heads/main"


def _stack(parameters: dict[str, str]) -> Stack:
    """The template resolved for parameters, without creating it (names as moto would give them)."""
    outputs = {
        "ArtifactBucketName": f"{PROJECT}-{ACCOUNT}-{REGION}",
        "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k",
        "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/execution",
        "BuildRoleArn": f"arn:aws:iam::{ACCOUNT}:role/build",
        "BuildProjectName": f"{PROJECT}-model-build",
    }
    return Stack({"ProjectName": PROJECT, **parameters}, outputs, {"ExecutionRole": "execution", "BuildRole": "build"})


def test_lifecycle_rules_cover_the_prefixes_the_project_writes():
    config = load_config(ROOT / "mlops.yaml").with_overrides(sagemaker={"bucket": "bkt"}, project={"name": PROJECT})
    base = f"s3://bkt/{config.pipeline_name}/"
    written = {
        "capture": config.capture_destination,
        "ground-truth": config.ground_truth_destination,
        "monitoring-reports": config.reports_destination,
        "executions": base + "executions",  # pipelines.definition.jobs.execution_prefix
        "staged-code": Artifact("x", (("k", b""),)).prefix("bkt", config.pipeline_name).rsplit("/", 1)[0],
    }
    retention = {"CaptureRetentionDays": "30", "ExecutionsRetentionDays": "0"}
    bucket = _stack(retention).resolver().properties("ArtifactBucket")
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    for rule_id, uri in written.items():
        assert "s3://bkt/" + rules[rule_id]["Prefix"] == uri + "/", rule_id
    assert rules["capture"]["ExpirationInDays"] == "30" and rules["capture"]["Status"] == "Enabled"
    assert rules["ground-truth"]["ExpirationInDays"] == "365"
    assert rules["executions"]["Status"] == "Disabled"  # 0 keeps them
    everything = rules["previous-versions-and-failed-uploads"]
    assert everything["NoncurrentVersionExpiration"] == {"NoncurrentDays": "30"} and "Prefix" not in everything
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}


def test_the_bucket_takes_tls_only():
    policy = _stack({}).resolver().properties("ArtifactBucketPolicy")["PolicyDocument"]
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bucket = f"arn:aws:s3:::{PROJECT}-{ACCOUNT}-{REGION}"
    assert deny["Resource"] == [bucket, f"{bucket}/*"]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_key_policy_names_exactly_who_uses_the_key(source):
    stack = _stack(SOURCES[source])
    statements = stack.resolver().properties("ArtifactKey")["KeyPolicy"]["Statement"]
    principals = {json.dumps(s["Principal"], sort_keys=True) for s in statements}
    expected = {
        f"arn:aws:iam::{ACCOUNT}:root",
        stack.outputs["ExecutionRoleArn"],
        stack.outputs["BuildRoleArn"],
        *(["arn:aws:placeholder:::SourcePipelineRole.Arn"] if source == "codeconnections" else []),
    }
    assert principals == {json.dumps({"AWS": a}) for a in expected} | {
        json.dumps({"Service": f"logs.{REGION}.amazonaws.com"}),
        json.dumps({"Service": "events.amazonaws.com"}),
    }
    for statement in statements:  # every non-administrative grant is scoped by a condition
        assert "Condition" in statement or statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def _event(source: str, detail_type: str, detail: dict) -> dict:
    return {
        "id": "1",
        "source": source,
        "detail-type": detail_type,
        "account": ACCOUNT,
        "time": "2025-03-04T13:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def test_the_failure_rules_match_failures_of_this_project_only():
    resolver = _stack({}).resolver()
    pipeline = EventPattern.load(json.dumps(resolver.properties("PipelineFailedRule")["EventPattern"]))
    kind = "SageMaker Model Building Pipeline Execution Status Change"

    def execution(status: str, arn: str = PIPELINE_ARN) -> dict:
        detail = {"currentPipelineExecutionStatus": status, "pipelineArn": arn, "pipelineExecutionArn": f"{arn}/e/1"}
        return _event("aws.sagemaker", kind, detail)

    assert pipeline.matches_event(execution("Failed"))
    assert not pipeline.matches_event(execution("Succeeded"))
    assert not pipeline.matches_event(execution("Stopped"))
    assert not pipeline.matches_event(execution("Failed", PIPELINE_ARN.replace(PROJECT, "other")))
    build = EventPattern.load(json.dumps(resolver.properties("BuildFailedRule")["EventPattern"]))

    def ended(status: str, project: str = f"{PROJECT}-model-build") -> dict:
        detail = {"build-status": status, "project-name": project, "build-id": "b:1"}
        return _event("aws.codebuild", "CodeBuild Build State Change", detail)

    assert all(build.matches_event(ended(s)) for s in ("FAILED", "FAULT", "STOPPED"))
    assert not build.matches_event(ended("SUCCEEDED")) and not build.matches_event(ended("IN_PROGRESS"))
    assert not build.matches_event(ended("FAILED", "other-model-build"))


def test_pushes_to_the_branch_start_the_build():
    resolver = _stack({**SOURCES["codecommit"], "BranchName": "release"}).resolver()
    push = EventPattern.load(json.dumps(resolver.properties("PushRule")["EventPattern"]))
    repository = f"arn:aws:codecommit:{REGION}:{ACCOUNT}:abalone"

    def pushed(branch: str, event: str = "referenceUpdated", repo: str = repository) -> dict:
        detail = {"event": event, "referenceType": "branch", "referenceName": branch}
        return {**_event("aws.codecommit", "CodeCommit Repository State Change", detail), "resources": [repo]}

    assert push.matches_event(pushed("release")) and push.matches_event(pushed("release", "referenceCreated"))
    assert not push.matches_event(pushed("main")) and not push.matches_event(pushed("release", "referenceDeleted"))
    assert not push.matches_event(pushed("release", repo=repository + "-fork"))
    pipeline = _stack({**SOURCES["codeconnections"], "BranchName": "release"}).resolver().properties("SourcePipeline")
    (action,) = pipeline["Stages"][0]["Actions"]
    assert action["Configuration"]["BranchName"] == "release" and "DetectChanges" not in action["Configuration"]
    assert action["Configuration"]["FullRepositoryId"] == "me/abalone"
    assert pipeline["Stages"][1]["Actions"][0]["Configuration"] == {"ProjectName": f"{PROJECT}-model-build"}
