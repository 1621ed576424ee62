"""Shared test setup: fake AWS credentials (no test may reach AWS) and the bundled data and fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Copies of ../shared/reference/model-monitor (real Model Monitor files; its README says which fields are real output):
# the suite needs nothing outside the repository.
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "model-monitor"
QUALITY_BASELINE = REFERENCE / "quality-check-baseline"
MONITOR_FIXTURES = REFERENCE / "monitor-fixtures"


ABALONE = ROOT / "data" / "abalone.csv"  # the project's own copy of the bundled data set


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    """Fake credentials and a region for every test: nothing can reach a real AWS account."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def pytest_report_header(config):
    """Which Python the parity suite (tests/parity) runs the SageMaker image's pins on, said before any test runs."""
    from tests.parity.environment import report_header

    return report_header()
