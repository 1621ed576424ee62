"""The model registry: one interface, a SQLite implementation (local) and a SageMaker one (boto3)."""

from pipelines.registry.model import (
    APPROVED,
    PENDING,
    REJECTED,
    STATUSES,
    ApprovalEvent,
    ModelRegistry,
    ModelVersion,
    RegistryError,
    parse_reference,
    version_from_request,
)

__all__ = [
    "APPROVED",
    "PENDING",
    "REJECTED",
    "STATUSES",
    "ApprovalEvent",
    "ModelRegistry",
    "ModelVersion",
    "RegistryError",
    "parse_reference",
    "version_from_request",
]
