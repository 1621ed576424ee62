"""Credentials and region, and iam:PassRole for the caller: pass, fail and cannot-tell."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipelines.doctor.identity import Caller, check_credentials, check_pass_role, principal_of
from tests.pipelines.doctor.stubs import ACCOUNT, REGION, ROLE_ARN, simulation, stubbed

CALLER = Caller(ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/me", f"arn:aws:iam::{ACCOUNT}:role/Admin")


def test_credentials_pass_with_moto():
    with mock_aws():
        row, caller = check_credentials(boto3.client("sts", region_name=REGION), REGION)
    assert row.status == "pass" and caller is not None and caller.account == ACCOUNT
    assert REGION in row.detail


def test_credentials_fail_when_sts_refuses():
    sts, stubber = stubbed("sts")
    stubber.add_client_error("get_caller_identity", "InvalidClientTokenId", "The security token is invalid")
    row, caller = check_credentials(sts, REGION)
    assert (row.status, caller) == ("fail", None)
    assert "InvalidClientTokenId" in row.detail and "aws configure" in row.fix


def test_credentials_fail_without_region():
    row, caller = check_credentials(None, "")
    assert row.status == "fail" and "region" in row.fix and caller is None


@pytest.mark.parametrize(
    ("arn", "principal"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/me", f"arn:aws:iam::{ACCOUNT}:role/Admin"),
        (f"arn:aws:iam::{ACCOUNT}:user/dev", f"arn:aws:iam::{ACCOUNT}:user/dev"),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/R/s", f"arn:aws-cn:iam::{ACCOUNT}:role/R"),
        (f"arn:aws:iam::{ACCOUNT}:root", None),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", None),
    ],
)
def test_principal_of_maps_assumed_roles_to_their_role(arn, principal):
    assert principal_of(arn) == principal


def _pass_role(decision: str):
    iam, stubber = stubbed("iam")
    stubber.add_response("get_role", _role(f"arn:aws:iam::{ACCOUNT}:role/team/Admin"), {"RoleName": "Admin"})
    expected = {
        "PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:role/team/Admin",  # the path get-role gives back
        "ActionNames": ["iam:PassRole"],
        "ResourceArns": [ROLE_ARN],
        "ContextEntries": [
            {
                "ContextKeyName": "iam:PassedToService",
                "ContextKeyValues": ["sagemaker.amazonaws.com"],
                "ContextKeyType": "string",
            }
        ],
    }
    stubber.add_response("simulate_principal_policy", simulation(["iam:PassRole"], decision, ROLE_ARN), expected)
    row = check_pass_role(iam, CALLER, ROLE_ARN)
    stubber.assert_no_pending_responses()
    return row


def _role(arn: str) -> dict:
    created = "2026-01-01T00:00:00Z"
    return {
        "Role": {
            "Path": "/",
            "RoleName": arn.rsplit("/", 1)[1],
            "RoleId": "AROAEXAMPLE000000000",
            "Arn": arn,
            "CreateDate": created,
        }
    }


def test_pass_role_pass():
    row = _pass_role("allowed")
    assert row.status == "pass" and ROLE_ARN in row.detail


def test_pass_role_fail_names_the_grant():
    row = _pass_role("implicitDeny")
    assert row.status == "fail" and "iam:PassRole" in row.fix and "role/team/Admin" in row.fix


def test_pass_role_cannot_tell_when_the_caller_may_not_simulate():
    iam, stubber = stubbed("iam")
    stubber.add_client_error("get_role", "AccessDenied", "no")
    stubber.add_client_error("simulate_principal_policy", "AccessDenied", "not authorized to simulate")
    row = check_pass_role(iam, CALLER, ROLE_ARN)
    assert row.status == "cannot-tell" and "iam:SimulatePrincipalPolicy" in row.fix


def test_pass_role_cannot_tell_for_root_and_fail_without_role():
    root = Caller(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", None)
    assert check_pass_role(None, root, ROLE_ARN).status == "cannot-tell"
    assert check_pass_role(None, CALLER, None).status == "fail"
