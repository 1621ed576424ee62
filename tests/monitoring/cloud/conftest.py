"""Shared fixtures of the cloud monitoring tests: a configuration for AWS and moto's in-process AWS."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipelines.build import config_from_kwargs
from tests.conftest import ROOT

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
BUCKET = "mlops-project-bucket"
_SESSION: list[boto3.Session] = []  # one session for every test: service models load once (moto patches botocore)


@pytest.fixture
def cloud_config():
    """The repository's mlops.yaml with a role and a bucket, as `--role-arn` and `--bucket` give them."""
    return config_from_kwargs({"role": ROLE, "default_bucket": BUCKET}, str(ROOT / "mlops.yaml"))


@pytest.fixture
def aws():
    """A boto3 session on moto, with the project's bucket."""
    with mock_aws():
        if not _SESSION:  # created inside a test, so its credentials are the fake ones tests/conftest.py sets
            _SESSION.append(boto3.Session(region_name="us-east-1"))
        session = _SESSION[0]
        session.client("s3").create_bucket(Bucket=BUCKET)
        yield session
