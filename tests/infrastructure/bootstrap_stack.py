"""infrastructure/bootstrap.yaml on moto: the stack created with given parameters, its outputs, and its roles'
policies resolved for those parameters (the stack's own names and ARNs).

moto's CloudFormation has no AWS::CodeBuild::Project nor AWS::CodePipeline::Pipeline; ``moto_build_types`` adds
both for the duration of a test, creating them in moto's CodeBuild and CodePipeline backends (which check, for the
pipeline, that its role trusts CodePipeline and that it has two stages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.cloudformation.parsing import get_model_map
from moto.codebuild.models import codebuild_backends
from moto.codepipeline.models import codepipeline_backends

from tests.conftest import ROOT
from tests.infrastructure.cfn_resolve import Resolver
from tests.infrastructure.iam_recorder import ACCOUNT, REGION
from tests.infrastructure.templates import load_template

TEMPLATE = ROOT / "infrastructure" / "bootstrap.yaml"
STACK = "abalone-bootstrap"
PROJECT = "abalone"
CONNECTION = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
OUTPUTS = ("ExecutionRoleArn", "ArtifactBucketName", "KmsKeyArn", "BuildProjectName", "BuildRoleArn", "AlertTopicArn")

SOURCES = {
    "none": {},
    "codecommit": {"CodeSource": "codecommit", "CodeCommitRepositoryName": "abalone"},
    "codeconnections": {"CodeSource": "codeconnections", "ConnectionArn": CONNECTION, "FullRepositoryId": "me/abalone"},
}
NETWORK = {"SubnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b", "SecurityGroupIds": "sg-0123abcd"}


class _Resource:
    """What moto's stack needs of a resource: its Ref (physical_resource_id) and attributes."""

    def __init__(self, name: str, arn: str) -> None:
        self.physical_resource_id = name
        self.arn = arn

    @staticmethod
    def has_cfn_attr(attr: str) -> bool:
        return attr == "Arn"

    @staticmethod
    def is_created() -> bool:
        return True

    def get_cfn_attribute(self, attr: str) -> str:
        return self.arn


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase properties as the API's camelCase (action configurations keep their keys)."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {k[0].lower() + k[1:]: (v if k == "Configuration" else _camel(v)) for k, v in value.items()}


class _Project:
    @staticmethod
    def create_from_cloudformation_json(name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        metadata = codebuild_backends[account_id][region_name].create_project(
            p["Name"], p.get("Description"), _camel(p["Source"]), _camel(p["Artifacts"]), _camel(p["Environment"]),
            p["ServiceRole"], None, None, p.get("TimeoutInMinutes"), None, p.get("SourceVersion"),
            _camel(p.get("LogsConfig")), None,
        )  # fmt: skip
        return _Resource(p["Name"], metadata["arn"])


class _Pipeline:
    @staticmethod
    def create_from_cloudformation_json(name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        pipeline = {"name": p["Name"], "roleArn": p["RoleArn"], "artifactStore": _camel(p["ArtifactStore"])}
        pipeline["stages"] = _camel(p["Stages"])
        codepipeline_backends[account_id][region_name].create_pipeline(pipeline, None)
        return _Resource(p["Name"], f"arn:aws:codepipeline:{region_name}:{account_id}:{p['Name']}")


@contextmanager
def moto_build_types() -> Iterator[None]:
    """moto's CloudFormation with AWS::CodeBuild::Project and AWS::CodePipeline::Pipeline, for the block."""
    added = {"AWS::CodeBuild::Project": _Project, "AWS::CodePipeline::Pipeline": _Pipeline}
    models = get_model_map()
    models.update(added)
    try:
        yield
    finally:
        for key in added:
            models.pop(key, None)


@dataclass(frozen=True)
class Stack:
    parameters: dict[str, str]
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id

    def resolver(self) -> Resolver:
        """The template resolved as this stack: its parameters and its resources' names and ARNs."""
        o = self.outputs
        bucket = o["ArtifactBucketName"]
        attributes = {
            "ArtifactBucket": bucket,
            "ArtifactBucket.Arn": f"arn:aws:s3:::{bucket}",
            "ArtifactKey.Arn": o["KmsKeyArn"],
            "ExecutionRole": self.resources["ExecutionRole"],
            "ExecutionRole.Arn": o["ExecutionRoleArn"],
            "BuildRole": self.resources["BuildRole"],
            "BuildRole.Arn": o["BuildRoleArn"],
            "BuildProject": o["BuildProjectName"],
            "BuildProject.Arn": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{o['BuildProjectName']}",
            "AlertTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.parameters['ProjectName']}-alerts",
            "BuildLogGroup": f"/aws/codebuild/{o['BuildProjectName']}",
            "BuildLogGroup.Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{o['BuildProjectName']}:*",
        }
        return Resolver(load_template(TEMPLATE), self.parameters, attributes, placeholders=True)

    def role_statements(self, role: str) -> list[dict]:
        """Every statement of the IAM policies attached to ``role`` (AWS::IAM::Policy resources whose condition
        holds), resolved."""
        resolver = self.resolver()
        statements = []
        for resource in resolver.template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role} not in resource["Properties"]["Roles"]:
                continue
            if "Condition" in resource and not resolver.conditions[resource["Condition"]]:
                continue
            statements += resolver.resolve(resource["Properties"]["PolicyDocument"]["Statement"])
        return statements


def create_stack(parameters: dict[str, str]) -> Stack:
    """The bootstrap stack created on moto (call inside ``mock_aws`` and ``moto_build_types``)."""
    given = {"ProjectName": PROJECT, **parameters}
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return Stack(
        given,
        {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries if s["LogicalResourceId"]},
    )
