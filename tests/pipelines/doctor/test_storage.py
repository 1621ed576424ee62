"""The bucket (exists, region, default encryption, versioning) and the KMS key policy, against moto."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from pipelines.doctor.storage import check_bucket, check_encryption, check_key_policy, check_versioning, resolve_key
from tests.pipelines.doctor.stubs import ACCOUNT, REGION, ROLE_ARN, stubbed

BUCKET = "abalone-artefacts"


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.client("s3", region_name=REGION), boto3.client("kms", region_name=REGION)


def test_bucket_pass_and_fail_when_missing_or_in_another_region(aws):
    s3, _ = aws
    assert check_bucket(s3, BUCKET, REGION).status == "fail"  # not created yet
    s3.create_bucket(Bucket=BUCKET)
    assert check_bucket(s3, BUCKET, REGION).status == "pass"
    s3.create_bucket(Bucket="far", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    row = check_bucket(s3, "far", REGION)
    assert row.status == "fail" and "eu-west-1" in row.detail and "project.region" in row.fix
    assert check_bucket(s3, None, REGION).fix.startswith("run mlops bootstrap")


def test_bucket_cannot_tell_when_refused():
    s3, stubber = stubbed("s3")
    stubber.add_client_error("get_bucket_location", "AccessDenied", "no", 403)
    assert check_bucket(s3, BUCKET, REGION).status == "cannot-tell"


def _encrypt(s3, key: str | None) -> None:
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key} if key else {"SSEAlgorithm": "AES256"}
    config = {"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration=config)


def test_encryption_with_the_configured_key(aws):
    s3, kms = aws
    s3.create_bucket(Bucket=BUCKET)
    key = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    _encrypt(s3, key["KeyId"])
    assert check_encryption(s3, BUCKET, key["Arn"]).status == "pass"
    row = check_encryption(s3, BUCKET, other["Arn"])
    assert row.status == "fail" and other["Arn"] in row.fix
    kms.create_alias(AliasName="alias/abalone", TargetKeyId=key["KeyId"])
    _encrypt(s3, "alias/abalone")
    assert check_encryption(s3, BUCKET, key["Arn"], kms).status == "pass"
    assert check_encryption(s3, BUCKET, other["Arn"], kms).status == "fail"
    _encrypt(s3, None)
    assert check_encryption(s3, BUCKET, None).status == "pass"  # SSE-S3 is enough without a key
    assert check_encryption(s3, BUCKET, key["Arn"]).status == "fail"


def test_encryption_fails_without_default_encryption():
    s3, stubber = stubbed("s3")
    stubber.add_client_error("get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError", "none", 404)
    row = check_encryption(s3, BUCKET, None)
    assert row.status == "fail" and "put-bucket-encryption" in row.fix
    stubber.add_client_error("get_bucket_encryption", "AccessDenied", "no", 403)
    assert check_encryption(s3, BUCKET, None).status == "cannot-tell"


def test_versioning(aws):
    s3, _ = aws
    s3.create_bucket(Bucket=BUCKET)
    row = check_versioning(s3, BUCKET)
    assert row.status == "fail" and "Status=Enabled" in row.fix
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    assert check_versioning(s3, BUCKET).status == "pass"
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    assert "Suspended" in check_versioning(s3, BUCKET).detail


def test_versioning_cannot_tell_when_refused():
    s3, stubber = stubbed("s3")
    stubber.add_client_error("get_bucket_versioning", "AccessDenied", "no", 403)
    assert check_versioning(s3, BUCKET).status == "cannot-tell"


def _policy(principal: str, actions: list[str]) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.parametrize(
    ("principal", "actions", "status"),
    [
        (ROLE_ARN, ["kms:Decrypt", "kms:GenerateDataKey*"], "pass"),
        (f"arn:aws:iam::{ACCOUNT}:root", ["kms:*"], "pass"),  # delegated to IAM: the permissions row covers it
        (ROLE_ARN, ["kms:Decrypt"], "fail"),
        (f"arn:aws:iam::{ACCOUNT}:role/someone-else", ["kms:*"], "fail"),
    ],
)
def test_key_policy(aws, principal, actions, status):
    _, kms = aws
    key = kms.create_key(Policy=_policy(principal, actions))["KeyMetadata"]
    arn, problem = resolve_key(kms, key["KeyId"])
    assert (arn, problem) == (key["Arn"], None)
    row = check_key_policy(kms, arn, ROLE_ARN, ACCOUNT)
    assert row.status == status
    assert status == "pass" or ROLE_ARN in row.fix


def test_key_missing_or_disabled_fails(aws):
    _, kms = aws
    assert resolve_key(kms, "1234abcd-12ab-34cd-56ef-1234567890ab")[1].status == "fail"
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    arn, row = resolve_key(kms, key["KeyId"])
    assert arn == key["Arn"] and row.status == "fail" and "enable-key" in row.fix


def test_key_cannot_tell_when_refused():
    kms, stubber = stubbed("kms")
    stubber.add_client_error("describe_key", "AccessDeniedException", "no")
    stubber.add_client_error("get_key_policy", "AccessDeniedException", "no")
    assert resolve_key(kms, "alias/abalone")[1].status == "cannot-tell"
    assert check_key_policy(kms, "arn:aws:kms:us-east-1:1:key/k", ROLE_ARN, ACCOUNT).status == "cannot-tell"
