"""Deploying a registered model version to the local endpoint, and the rules both backends share.

Which version: the newest Approved one of the group, or the one given (``--version`` or ``--model-package-arn``),
which must be Approved unless ``force``. Idempotent: when that version is already live with the same variant and
capture settings, nothing changes. Never backwards silently: replacing a newer live version of the same group with
an older one needs ``force``.

Locally, deploying writes the endpoint's deploy state (``<state>/endpoints/<endpoint>.json``), which a running
``mlops serve`` picks up: it loads the new version, then switches.
"""

from __future__ import annotations

import logging
import re
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from inference.capture import CaptureSettings
from inference.endpoint_state import EndpointState, read_state, state_path, write_state
from inference.model_loader import DEFAULT_PROGRAM
from pipelines.config import Config
from pipelines.objectstore import local_path
from pipelines.registry.model import APPROVED, ModelRegistry, ModelVersion, RegistryError

logger = logging.getLogger(__name__)

_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:model-package/([^/]+)/(\d+)$", re.IGNORECASE)


class DeployError(ValueError):
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


def capture_settings(config: Config) -> CaptureSettings:
    """The endpoint's DataCaptureConfig from configuration (destination resolved)."""
    c = config.serving.capture
    if c.destination is None and not config.sagemaker.bucket:
        raise DeployError(
            f"{config.source}: data capture needs serving.capture.destination or sagemaker.bucket (--bucket)"
        )
    return CaptureSettings(
        enabled=c.enabled,
        sampling_percentage=c.sampling_percentage,
        capture_input=c.capture_input,
        capture_output=c.capture_output,
        csv_content_types=tuple(c.csv_content_types),
        json_content_types=tuple(c.json_content_types),
        destination=config.capture_destination,
    )


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


def _check_archive(version: ModelVersion, state_dir: Path) -> None:
    """The version's model.tar.gz is in the local object store and carries its handler."""
    archive = local_path(version.model_data_url, state_dir)
    program = version.environment.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM
    if not archive.is_file():
        raise DeployError(f"{version.reference}: model data {version.model_data_url} not found at {archive}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            names = {name.lstrip("./") for name in tar.getnames()}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DeployError(f"{version.reference}: {archive} is not a readable model.tar.gz ({exc})") from exc
    if f"code/{program}" not in names:
        raise DeployError(
            f"{version.reference}: {archive} has no code/{program} (SAGEMAKER_PROGRAM); "
            f"files: {', '.join(sorted(names))}"
        )


def deploy_local(
    config: Config,
    state_dir: Path,
    registry: ModelRegistry,
    group: str | None = None,
    version: int | None = None,
    arn: str | None = None,
    endpoint: str | None = None,
    force: bool = False,
) -> DeployResult:
    """Deploy a version to the local endpoint (writes its deploy state); see the module docstring for the rules."""
    endpoint = endpoint or config.endpoint_name
    group = group or config.model_package_group
    chosen = choose_version(registry, group, version, arn, force)
    current = read_state(state_dir, endpoint)
    settings = capture_settings(config)
    variant = config.serving.variant_name
    previous = current.reference if current else None
    if (
        current is not None
        and (current.group, current.version) == (chosen.group, chosen.version)
        and current.model_data_url == chosen.model_data_url
        and current.capture == settings
        and current.variant == variant
    ):
        return DeployResult(
            "unchanged",
            endpoint,
            chosen.reference,
            previous,
            f"{chosen.reference} is already live on endpoint {endpoint!r}: nothing to do",
        )
    check_direction((current.group, current.version) if current else None, chosen, endpoint, force)
    _check_archive(chosen, state_dir)
    state = EndpointState(
        endpoint=endpoint,
        group=chosen.group,
        version=chosen.version,
        arn=chosen.arn,
        model_data_url=chosen.model_data_url,
        variant=variant,
        deployed_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        capture=settings,
        environment=dict(chosen.environment),
    )
    path = write_state(state_dir, state)
    was = f" (was {previous})" if previous else ""
    logger.info("Deployed %s to %s: %s", chosen.reference, endpoint, path)
    return DeployResult(
        "deployed",
        endpoint,
        chosen.reference,
        previous,
        f"Deployed {chosen.reference} to local endpoint {endpoint!r}{was}; a running `mlops serve --endpoint "
        f"{endpoint}` switches to it (state: {state_path(state_dir, endpoint)})",
    )


def deploy_on_approval(config: Config, state_dir: Path, group: str, version: int) -> DeployResult:
    """Called after ``mlops models approve GROUP/VERSION``: deploy it locally when configuration says so.

    Never raises for a refusal: a newer live version is kept, and the result's message says so. The endpoint is
    the local one, so an unset bucket is the local object store's (as ``mlops serve`` and ``mlops deploy`` use).
    """
    from pipelines.build import local_config

    config = local_config(config)
    endpoint = config.endpoint_name
    reference = f"{group}/{version}"
    if not config.serving.deploy_on_approval:
        return DeployResult(
            "skipped",
            endpoint,
            reference,
            None,
            f"Not deployed: serving.deploy_on_approval is false in {config.source} (deploy with mlops deploy)",
        )
    from pipelines.registry.factory import open_registry

    registry = open_registry("local", config, state_dir)
    try:
        return deploy_local(config, state_dir, registry, group=group, version=version, endpoint=endpoint)
    except DeployError as exc:
        current = read_state(state_dir, endpoint)
        return DeployResult(
            "refused", endpoint, reference, current.reference if current else None, f"Not deployed: {exc}"
        )
    except RegistryError as exc:
        raise DeployError(f"Cannot deploy {reference}: {exc}") from exc
