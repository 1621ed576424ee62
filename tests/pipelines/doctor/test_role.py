"""The execution role's trust (moto IAM) and permissions (simulation stubbed: moto has none)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from pipelines.doctor.role import check_permissions, check_trust, trusts_sagemaker
from pipelines.doctor.simulate import Target, pipeline_needs
from tests.pipelines.doctor.stubs import ACCOUNT, REGION, ROLE_ARN, add_simulations, stubbed

KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _trust(service: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.parametrize(("service", "status"), [("sagemaker.amazonaws.com", "pass"), ("ec2.amazonaws.com", "fail")])
def test_trust_with_moto(service, status):
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        arn = iam.create_role(RoleName="abalone-execution", AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
        row = check_trust(iam, arn)
    assert row.status == status
    assert row.status == "pass" or "sts:AssumeRole" in row.fix


def test_trust_fails_when_the_role_is_missing_or_not_configured():
    with mock_aws():
        row = check_trust(boto3.client("iam", region_name=REGION), ROLE_ARN)
    assert row.status == "fail" and "does not exist" in row.detail and "bootstrap" in row.fix
    assert check_trust(None, None).status == "fail"


def test_trust_cannot_tell_when_get_role_is_refused():
    iam, stubber = stubbed("iam")
    stubber.add_client_error("get_role", "AccessDenied", "no")
    row = check_trust(iam, ROLE_ARN)
    assert row.status == "cannot-tell" and "iam:GetRole" in row.fix


def test_trust_accepts_a_list_of_services_and_conditions():
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["sts:AssumeRole"],
                "Condition": {"x": {}},
                "Principal": {"Service": ["lambda.amazonaws.com", "sagemaker.amazonaws.com"]},
            }
        ]
    }
    assert trusts_sagemaker(policy)
    assert not trusts_sagemaker({"Statement": [{**policy["Statement"][0], "Effect": "Deny"}]})


def test_needs_cover_bucket_ecr_logs_metrics_and_key_and_subnets_when_set():
    target = Target(ACCOUNT, REGION, "b", "683313688378", KEY, ("subnet-1", "subnet-2"))
    needs = {need.what: need for need in pipeline_needs(target)}
    actions = {a for need in needs.values() for a in need.actions}
    assert {"s3:PutObject", "s3:ListBucket", "ecr:BatchGetImage", "logs:PutLogEvents", "kms:Decrypt"} <= actions
    assert needs["KMS key via S3"].context == (("kms:ViaService", f"s3.{REGION}.amazonaws.com"),)
    assert needs["network interfaces in subnet-2"].resources == (f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-2",)
    assert needs["monitoring metrics"].context == (("cloudwatch:namespace", "aws/sagemaker/Endpoints/data-metrics"),)
    plain = {a for need in pipeline_needs(Target(ACCOUNT, REGION, None, "1")) for a in need.actions}
    assert not plain & {"kms:Decrypt", "ec2:CreateNetworkInterface", "s3:GetObject"}


@pytest.mark.parametrize(("deny", "status"), [(None, "pass"), ("kms:GenerateDataKey", "fail")])
def test_permissions(deny, status):
    needs = pipeline_needs(Target(ACCOUNT, REGION, "abalone-artefacts", "683313688378", KEY))
    iam, stubber = stubbed("iam")
    add_simulations(stubber, needs, deny)
    row = check_permissions(iam, ROLE_ARN, needs)
    stubber.assert_no_pending_responses()
    assert row.status == status
    assert deny is None or ("kms:GenerateDataKey" in row.detail and "KMS key via S3" in row.detail)


def test_permissions_cannot_tell_when_the_caller_may_not_simulate():
    iam, stubber = stubbed("iam")
    stubber.add_client_error("simulate_principal_policy", "AccessDenied", "no")
    row = check_permissions(iam, ROLE_ARN, pipeline_needs(Target(ACCOUNT, REGION, "b", "1")))
    assert row.status == "cannot-tell" and "iam:SimulatePrincipalPolicy" in row.fix


def test_permissions_fail_without_a_role():
    assert check_permissions(None, None, []).status == "fail"
