"""The XGBoost framework image for the region (resolved by the SDK, as the pipeline definition does)."""

from __future__ import annotations

from pipelines.doctor.image import check_image, image_account


def test_image_pass_for_a_covered_region():
    row, uri = check_image("eu-west-1", "3.0-5")
    assert row.status == "pass" and uri == row.detail and uri.endswith("/sagemaker-xgboost:3.0-5")
    assert image_account(uri) == "141502667606"


def test_image_fail_for_a_region_or_version_without_it():
    row, uri = check_image("xx-east-9", "3.0-5")
    assert row.status == "fail" and uri is None and "Unsupported region: xx-east-9" in row.detail
    row, _ = check_image("us-east-1", "9.9-9")
    assert row.status == "fail" and "9.9-9" in row.detail and "framework_version" in row.fix
