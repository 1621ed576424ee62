"""Which version a deploy puts live, the same rules for the local and the SageMaker endpoint: the newest Approved
version of the group, or the one given (by number or model package ARN), which must be Approved unless ``force``;
never an older version of the group over a newer live one without ``force``. And what a deploy reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_errors import MlopsError
from pipelines.registry.model import APPROVED, ModelRegistry, ModelVersion

_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:model-package/([^/]+)/(\d+)$", re.IGNORECASE)


class DeployError(MlopsError, ValueError):
    """A deploy that must not happen as asked; the message says why and what to do instead."""


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did: ``deployed``, ``unchanged`` (already live), ``refused`` (not deployed: a newer version
    stays live, or the version cannot be deployed) or ``skipped`` (deploy on approval is off)."""

    action: str
    endpoint: str
    version: str  # group/version asked for
    previous: str | None  # group/version live before, if any
    message: str


def parse_package_arn(arn: str) -> tuple[str, int]:
    """(group, version) of a model package ARN, ``arn:aws:sagemaker:<region>:<account>:model-package/<g>/<v>``."""
    match = _PACKAGE_ARN.match(arn.strip())
    if not match:
        raise DeployError(
            f"--model-package-arn must look like arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>, "
            f"got {arn!r}"
        )
    return match.group(1), int(match.group(2))


def choose_version(
    registry: ModelRegistry,
    group: str,
    version: int | None = None,
    arn: str | None = None,
    force: bool = False,
) -> ModelVersion:
    """The version to deploy: the one given (by number or ARN), else the newest Approved one of ``group``."""
    if arn is not None:
        arn_group, version = parse_package_arn(arn)
        chosen = registry.get(arn_group, version)
        if chosen.arn.lower() != arn.strip().lower():
            raise DeployError(
                f"{arn} names {arn_group}/{version}, but this registry's {chosen.reference} is {chosen.arn}"
            )
    elif version is not None:
        chosen = registry.get(group, version)
    else:
        approved = registry.list_versions(group, APPROVED)
        if not approved:
            raise DeployError(
                f"No Approved version in model package group {group!r}: approve one first "
                f"(mlops models list --group {group}; mlops models approve {group}/<version> --note '...')"
            )
        return max(approved, key=lambda v: v.version)
    if chosen.status != APPROVED and not force:
        raise DeployError(
            f"{chosen.reference} is {chosen.status}, not Approved: approve it first "
            f"(mlops models approve {chosen.reference} --note '...') or deploy it anyway with --force"
        )
    return chosen


def check_direction(live: tuple[str, int] | None, chosen: ModelVersion, endpoint: str, force: bool) -> None:
    """Refuse to replace a newer live version of the same group with an older one, unless ``force``."""
    if live is None or force:
        return
    live_group, live_version = live
    if live_group == chosen.group and live_version > chosen.version:
        raise DeployError(
            f"Endpoint {endpoint!r} serves {live_group}/{live_version}, newer than {chosen.reference}: "
            f"not replacing it with an older version (pass --force to roll back on purpose)"
        )
