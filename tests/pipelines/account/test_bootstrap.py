"""The bootstrap stack: its parameters from the configuration, the change-set deploy (moto, with a stand-in template
of the contract's parameters and outputs), the refusals (Stubber), and the real template's parameter names."""

from __future__ import annotations

import re

import pytest
import yaml
from botocore.stub import Stubber

from pipelines.account.bootstrap import (
    TEMPLATE,
    CodeSource,
    config_values,
    deploy_bootstrap,
    parameters,
    stack_name,
    template_body,
)
from pipelines.build import config_from_kwargs
from pipelines.cloud import CloudError
from pipelines.config import ConfigError
from pipelines.errors import UsageError
from pipelines.monitoring_stack.changeset import WaitPolicy, describe_stack, stack_parameters
from tests.conftest import ROOT
from tests.pipelines.account.conftest import ROLE

FAST = WaitPolicy(delay=1, max_attempts=3)


@pytest.fixture
def config():
    return config_from_kwargs({}, str(ROOT / "mlops.yaml"))


def test_parameters_come_from_the_configuration_and_the_options(config):
    vpc = config.with_overrides(sagemaker={"subnets": ["subnet-1", "subnet-2"], "security_group_ids": ["sg-1"]})
    source = CodeSource("codeconnections", connection_arn="arn:aws:codeconnections:x", full_repository_id="me/repo")
    values = parameters(vpc, source, "ops@example.com", "p-123", "683313688378")
    assert values == {
        "ProjectName": "abalone",
        "ProjectId": "p-123",
        "SubnetIds": "subnet-1,subnet-2",
        "SecurityGroupIds": "sg-1",
        "CodeSource": "codeconnections",
        "CodeCommitRepositoryName": "",
        "ConnectionArn": "arn:aws:codeconnections:x",
        "FullRepositoryId": "me/repo",
        "BranchName": "main",
        "AlertEmail": "ops@example.com",
        "FrameworkImageAccount": "683313688378",
    }
    both = parameters(vpc, source, "", "", "683313688378", "156813124566")
    assert (both["FrameworkImageAccount"], both["ModelMonitorImageAccount"]) == ("683313688378", "156813124566")


@pytest.mark.parametrize(
    ("overrides", "project_id", "message"),
    [
        ({"pipeline_name": "other-pipeline"}, "", "sagemaker.pipeline_name 'other-pipeline': the bootstrap stack"),
        ({"model_package_group": "abalone"}, "p-1", "scopes its roles to 'abalone-p-1'"),
        ({"model_package_group": "models"}, "", "sagemaker.model_package_group 'models'"),
    ],
)
def test_names_the_stack_does_not_grant_are_refused(config, overrides, project_id, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parameters(config.with_overrides(sagemaker=overrides), CodeSource(), "", project_id)


def test_names_set_to_what_the_stack_grants_are_accepted(config):
    named = config.with_overrides(sagemaker={"pipeline_name": "abalone-pipeline", "model_package_group": "abalone"})
    assert parameters(named, CodeSource())["ProjectName"] == "abalone"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (CodeSource("github"), "--code-source must be one of none, codecommit, codeconnections, got 'github'"),
        (CodeSource("codecommit"), "--code-source codecommit needs --repository NAME"),
        (CodeSource("codeconnections", connection_arn="arn:x", full_repository_id="repo"), "owner/repo"),
    ],
)
def test_an_incomplete_code_source_names_the_option(config, source, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parameters(config, source)


@pytest.mark.parametrize("name", ["Abalone", "a" * 33, "1abalone"])
def test_a_project_name_the_stack_cannot_use_is_refused(config, name):
    with pytest.raises(ConfigError, match=rf"project\.name '{name}'.*lower-case.*at most 32"):
        parameters(config.with_overrides(project={"name": name}), CodeSource())


def test_the_real_template_declares_every_parameter_and_output_the_command_uses(config):
    body = template_body(TEMPLATE)
    section = body.split("\nParameters:\n", 1)[1].split("\nResources:\n", 1)[0]
    declared = set(re.findall(r"^  ([A-Za-z0-9]+):", section, re.M))
    source = CodeSource("codecommit", repository="r")
    assert set(parameters(config, source, image_account="683313688378")) <= declared
    outputs = set(re.findall(r"^  ([A-Za-z0-9]+):", body.split("\nOutputs:\n", 1)[1], re.M))
    assert {"ExecutionRoleArn", "ArtifactBucketName", "KmsKeyArn"} <= outputs


def test_deploy_creates_the_stack_through_a_change_set(config, aws, stand_in):
    cfn = aws.client("cloudformation")
    vpc = config.with_overrides(sagemaker={"subnets": ["subnet-1", "subnet-2"], "security_group_ids": ["sg-1"]})
    values = parameters(vpc, CodeSource(), image_account="683313688378")
    result = deploy_bootstrap(vpc, cfn, values, template=stand_in, wait=FAST)
    assert (result.stack_name, result.change_set_type, result.status) == ("abalone-bootstrap", "CREATE", "executed")
    assert {c.logical_id for c in result.changes} == {"ArtifactBucket", "ArtifactKey"}
    given = stack_parameters(describe_stack(cfn, "abalone-bootstrap"))
    # the VPC settings reach the stack (moto answers a list parameter's parsed value, AWS the text given)
    assert (given["SubnetIds"], given["SecurityGroupIds"]) == (str(["subnet-1", "subnet-2"]), str(["sg-1"]))
    assert "abalone-artifacts-123456789012" in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]


def test_a_deployed_stack_without_changes_still_gives_its_outputs(config, aws, stand_in):
    cfn = aws.client("cloudformation")
    values = parameters(config, CodeSource(), image_account="683313688378")
    cfn.create_stack(  # moto's executed change sets have no outputs; a stack created directly has
        StackName="abalone-bootstrap",
        TemplateBody=stand_in.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )
    result = deploy_bootstrap(config, cfn, values, template=stand_in, wait=FAST)
    assert (result.change_set_type, result.status, result.stack_status) == ("UPDATE", "no-changes", "CREATE_COMPLETE")
    filled = config_values(result.outputs, result.stack_name)
    assert filled["role_arn"] == ROLE and filled["bucket"] == "abalone-artifacts-123456789012"
    assert filled["kms_key_id"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_a_dry_run_creates_nothing(config, aws, stand_in):
    cfn = aws.client("cloudformation")
    values = parameters(config, CodeSource(), image_account="683313688378")
    result = deploy_bootstrap(config, cfn, values, template=stand_in, dry_run=True, wait=FAST)
    assert result.status == "dry-run" and {c.logical_id for c in result.changes} == {"ArtifactBucket", "ArtifactKey"}
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in cfn.list_stacks()["StackSummaries"])
    assert "abalone-artifacts-123456789012" not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]


def test_a_stack_in_rollback_complete_says_to_delete_it(config, aws, stand_in):
    cfn = aws.client("cloudformation")
    stubber = Stubber(cfn)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {"StackName": stack_name(config), "StackStatus": "ROLLBACK_COMPLETE", "CreationTime": "2026-11-30"}
            ]
        },
    )
    with stubber, pytest.raises(CloudError, match=r"abalone-bootstrap is ROLLBACK_COMPLETE.*delete-stack"):
        deploy_bootstrap(config, cfn, {"ProjectName": "abalone"}, template=stand_in, wait=FAST)


def test_a_stack_without_the_outputs_is_named(config):
    with pytest.raises(CloudError, match="abalone-bootstrap has no output ArtifactBucketName, KmsKeyArn"):
        config_values({"ExecutionRoleArn": ROLE}, "abalone-bootstrap")


def test_a_missing_template_is_named(tmp_path):
    with pytest.raises(CloudError, match=r"bootstrap\.yaml not found"):
        template_body(tmp_path / "bootstrap.yaml")


class _CfnLoader(yaml.SafeLoader):
    """Reads a CloudFormation template's YAML, its short-form functions (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


@pytest.mark.parametrize(
    "source",
    [
        CodeSource(),
        CodeSource("codecommit", repository="abalone-repo", branch="release"),
        CodeSource(
            "codeconnections",
            connection_arn="arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666",
            full_repository_id="my-org/abalone",
        ),
    ],
)
def test_every_value_passed_fits_the_real_templates_constraints(config, source):
    declared = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)["Parameters"]
    vpc = config.with_overrides(sagemaker={"subnets": ["subnet-0abc", "subnet-1def"], "security_group_ids": ["sg-0a"]})
    for key, value in parameters(vpc, source, "ops@example.com", "p-1a2b", "683313688378").items():
        spec = declared[key]
        items = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
        for item in items:
            assert item in spec.get("AllowedValues", [item]), (key, item)
            assert re.fullmatch(spec.get("AllowedPattern", ".*"), item), (key, item, spec.get("AllowedPattern"))


def test_the_framework_image_account_comes_from_the_sdks_image_table(config):
    from pipelines.account.bootstrap import framework_image_account

    assert framework_image_account(config) == "683313688378"  # the template's default, for us-east-1
    assert framework_image_account(config.with_overrides(project={"region": "eu-west-1"})) == "141502667606"
