"""The SageMaker XGBoost framework image for the region (the URI the pipeline definition resolves)."""

from __future__ import annotations

from pipelines.doctor.result import FAIL, PASS, CheckResult

IMAGE = "framework image"


def framework_image(region: str, version: str) -> str:
    """The XGBoost image URI for the region and version (raises ValueError when there is none)."""
    from sagemaker.core import image_uris

    return str(image_uris.retrieve("xgboost", region, version))


def image_account(uri: str) -> str:
    """The ECR account of an image URI (<account>.dkr.ecr.<region>.amazonaws.com/...)."""
    return uri.split(".", 1)[0]


def check_image(region: str, version: str) -> tuple[CheckResult, str | None]:
    """The XGBoost ``version`` image exists for ``region``; the row and the URI (None when it does not)."""
    try:
        uri = framework_image(region, version)
    except ValueError as exc:
        reason = str(exc).split(". ", 1)[0]
        fix = "use a region and sagemaker.framework_version the SageMaker XGBoost images cover (3.0-5 is tested)"
        return CheckResult(IMAGE, FAIL, f"XGBoost {version} in {region}: {reason}", fix), None
    return CheckResult(IMAGE, PASS, uri), uri
