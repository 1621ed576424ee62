"""Choosing the registry once, at the edge: local SQLite or SageMaker."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import Config, ConfigError
from pipelines.registry.model import ModelRegistry

BACKENDS = ("local", "sagemaker")


def registry_path(state_dir: Path) -> Path:
    return Path(state_dir) / "registry.db"


def open_registry(backend: str, config: Config, state_dir: Path, boto_session=None) -> ModelRegistry:
    """The registry for ``backend``; SageMaker needs sagemaker.bucket for the approvals log."""
    if backend == "local":
        from pipelines.registry.sqlite import SQLiteRegistry

        return SQLiteRegistry(registry_path(state_dir), region=config.project.region)
    if backend == "sagemaker":
        import boto3

        from pipelines.registry.sagemaker import SageMakerRegistry

        if not config.sagemaker.bucket:
            raise ConfigError("--backend sagemaker needs sagemaker.bucket (or --bucket) for the approvals log")
        session = boto_session or boto3.Session(region_name=config.project.region)
        return SageMakerRegistry(
            session.client("sagemaker"), session.client("s3"), config.sagemaker.bucket, f"{config.pipeline_name}"
        )
    raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
