"""The cloud monitoring tests' fixtures (a configuration for AWS, moto's in-process AWS), shared with the Lambda
tests of ``tests/monitoring/cloud``."""

from tests.monitoring.cloud.conftest import BUCKET, ROLE, aws, cloud_config

__all__ = ["BUCKET", "ROLE", "aws", "cloud_config"]
