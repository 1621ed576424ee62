"""Fixtures of the account tests: a copy of the repository's mlops.yaml, and a stand-in bootstrap template with the
contract's parameters and outputs (moto deploys it; the real template's resources are beyond moto)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT
from tests.monitoring.cloud.conftest import aws

__all__ = ["aws"]

ROLE = "arn:aws:iam::123456789012:role/abalone-execution"
STAND_IN = {
    "Parameters": {
        **{
            name: {"Type": "String", "Default": ""}
            for name in (
                "ProjectId",
                "CodeSource",
                "CodeCommitRepositoryName",
                "ConnectionArn",
                "FullRepositoryId",
                "BranchName",
                "AlertEmail",
                "FrameworkImageAccount",
            )
        },
        "ProjectName": {"Type": "String"},
        "SubnetIds": {"Type": "CommaDelimitedList", "Default": ""},
        "SecurityGroupIds": {"Type": "CommaDelimitedList", "Default": ""},
    },
    "Resources": {
        "ArtifactBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": {"Fn::Sub": "${ProjectName}-artifacts-123456789012"}},
        },
        "ArtifactKey": {
            "Type": "AWS::KMS::Key",
            "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": []}},
        },
    },
    "Outputs": {
        "ExecutionRoleArn": {"Value": ROLE},
        "ArtifactBucketName": {"Value": {"Ref": "ArtifactBucket"}},
        "KmsKeyArn": {"Value": {"Fn::GetAtt": ["ArtifactKey", "Arn"]}},
    },
}


@pytest.fixture
def stand_in(tmp_path):
    """The stand-in template's path."""
    path = tmp_path / "bootstrap.yaml"
    path.write_text(json.dumps(STAND_IN), encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path):
    """A copy of the repository's mlops.yaml (its data input made absolute, so the copy loads)."""
    path = tmp_path / "project" / "mlops.yaml"
    path.parent.mkdir()
    shutil.copy(ROOT / "mlops.yaml", path)
    text = path.read_text(encoding="utf-8").replace("input: data/abalone.csv", f"input: {ROOT / 'data/abalone.csv'}")
    path.write_text(text, encoding="utf-8")
    return path
