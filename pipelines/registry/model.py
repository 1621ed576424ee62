"""What a registry keeps, independent of where: versions, their status, metrics, baselines, approvals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from mlops_errors import MlopsError

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)


# where a version's files are, by key (``ModelVersion.metrics`` / ``.drift_baselines``) -> request path. ModelQuality
# is the model-quality baseline; evaluation.json (the model's metrics on the test split, which the gate read) is in
# CustomerMetadataProperties, as ModelMetrics has no field for it (the Register step puts it there).
METRIC_KEYS = {
    "evaluation": ("CustomerMetadataProperties", "evaluation"),
    "model_statistics": ("ModelMetrics", "ModelQuality", "Statistics", "S3Uri"),
    "model_constraints": ("ModelMetrics", "ModelQuality", "Constraints", "S3Uri"),
    "model_data_statistics": ("ModelMetrics", "ModelDataQuality", "Statistics", "S3Uri"),
    "model_data_constraints": ("ModelMetrics", "ModelDataQuality", "Constraints", "S3Uri"),
}
DRIFT_KEYS = {
    "statistics": ("DriftCheckBaselines", "ModelDataQuality", "Statistics", "S3Uri"),  # data quality
    "constraints": ("DriftCheckBaselines", "ModelDataQuality", "Constraints", "S3Uri"),
    "model_statistics": ("DriftCheckBaselines", "ModelQuality", "Statistics", "S3Uri"),
    "model_constraints": ("DriftCheckBaselines", "ModelQuality", "Constraints", "S3Uri"),
}


class RegistryError(MlopsError, ValueError):
    """An unknown group or version, or a request the registry cannot accept."""


@dataclass(frozen=True)
class ApprovalEvent:
    """One status change of a model version: who, when, from which status, to which, and why."""

    group: str
    version: int
    from_status: str
    to_status: str
    by: str
    at: str
    note: str = ""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version (a model package)."""

    group: str
    version: int
    status: str
    created: str
    arn: str
    model_data_url: str
    image_uri: str
    environment: dict[str, str] = field(default_factory=dict)
    content_types: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ()
    metrics: dict[str, str] = field(default_factory=dict)  # METRIC_KEYS -> URI
    drift_baselines: dict[str, str] = field(default_factory=dict)  # DRIFT_KEYS -> URI
    approval_note: str = ""
    source: str = ""  # the pipeline execution that registered it

    @property
    def reference(self) -> str:
        return f"{self.group}/{self.version}"

    def to_json(self) -> dict:
        data = asdict(self)
        data["content_types"] = list(self.content_types)
        data["response_types"] = list(self.response_types)
        return data


def _uri(block: dict, *path: str) -> str | None:
    """The string at ``path`` in nested mappings, or None where a level is missing or not a mapping."""
    node: Any = block
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, str) else None


def version_from_request(request: dict) -> dict:
    """The fields a registry stores, read from a CreateModelPackage request (the pipeline's Register step)."""
    group = request.get("ModelPackageGroupName")
    if not isinstance(group, str) or not group:
        raise RegistryError("CreateModelPackage request has no ModelPackageGroupName")
    containers = (request.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers or not isinstance(containers[0].get("ModelDataUrl"), str):
        raise RegistryError(f"CreateModelPackage request for {group} has no container with a ModelDataUrl")
    container = containers[0]
    status = request.get("ModelApprovalStatus", PENDING)
    if status not in STATUSES:
        raise RegistryError(f"ModelApprovalStatus must be one of {', '.join(STATUSES)}, got {status!r}")
    spec = request["InferenceSpecification"]
    metrics = {key: _uri(request, *path) for key, path in METRIC_KEYS.items()}
    drift = {key: _uri(request, *path) for key, path in DRIFT_KEYS.items()}
    return {
        "group": group,
        "status": status,
        "model_data_url": container["ModelDataUrl"],
        "image_uri": container.get("Image", ""),
        "environment": dict(container.get("Environment") or {}),
        "content_types": tuple(spec.get("SupportedContentTypes") or ()),
        "response_types": tuple(spec.get("SupportedResponseMIMETypes") or ()),
        "metrics": {k: v for k, v in metrics.items() if v},
        "drift_baselines": {k: v for k, v in drift.items() if v},
    }


MAX_APPROVAL_TEXT = 1024  # UpdateModelPackage's ApprovalDescription: at most 1024 characters, on one line


def approval_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be an approval's note or approver, or None: SageMaker keeps at most 1024 characters on
    one line (ApprovalDescription), and a control character would be replayed to every terminal showing it."""
    if len(text) > MAX_APPROVAL_TEXT:
        return f"must be at most {MAX_APPROVAL_TEXT} characters (as SageMaker's ApprovalDescription), got {len(text)}"
    controls = sorted({c for c in text if (ord(c) < 32 and c != "\t") or 127 <= ord(c) < 160})
    if controls:
        shown = ", ".join(repr(c) for c in controls)
        return f"must be one line of printable text, got control character(s) {shown} in {text[:60]!r}"
    return None


def check_approval(status: str, by: str, note: str) -> None:
    """RegistryError unless ``status`` is a status and ``note`` and ``by`` are text an approval can keep."""
    if status not in STATUSES:
        raise RegistryError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    for what, text in (("note", note), ("approver (by)", by)):
        problem = approval_text_problem(text)
        if problem:
            raise RegistryError(f"The approval's {what} {problem}")


def parse_reference(text: str) -> tuple[str, int]:
    """``group/version`` to (group, version), with a clear error otherwise."""
    group, sep, version = text.rpartition("/")  # ASCII digits only: int() also reads "٢" and refuses "²"
    if not sep or not group or not (version.isascii() and version.isdigit()) or int(version) < 1:
        raise RegistryError(f"expected GROUP/VERSION such as abalone/3, got {text!r}")
    return group, int(version)


class ModelRegistry(Protocol):
    """What both implementations provide."""

    def register(self, request: dict, source: str = "") -> ModelVersion:
        """Create the next version of the request's group (the group is created if missing)."""

    def list_versions(self, group: str | None = None, status: str | None = None) -> list[ModelVersion]:
        """Versions, newest first per group, optionally of one group and/or status."""

    def get(self, group: str, version: int) -> ModelVersion:
        """One version; RegistryError naming the group or version when unknown."""

    def set_status(self, group: str, version: int, status: str, by: str, note: str = "") -> ModelVersion:
        """Approve or reject (or reset to pending) a version, recording who, when and why."""

    def history(self, group: str, version: int) -> list[ApprovalEvent]:
        """The version's status changes, oldest first."""
