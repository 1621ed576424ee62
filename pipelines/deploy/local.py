"""Deploying a registered model version to the local endpoint, and the rules both backends share.

Which version: the newest Approved one of the group, or the one given (``--version`` or ``--model-package-arn``),
which must be Approved unless ``force``. Idempotent: when that version is already live with the same variant and
capture settings, nothing changes. Never backwards silently: replacing a newer live version of the same group with
an older one needs ``force``.

Locally, deploying writes the endpoint's deploy state (``<state>/endpoints/<endpoint>.json``), which a running
``mlops serve`` picks up: it loads the new version, then switches. A deploy is only reported done when the version
loads: first in a fresh process with the server's own loader (``inference.load_check``), before the state is
written; then, for every running server of the endpoint, until its ``/ping`` reports the new version. When either
fails, the deploy fails (DeployError with the loader's message), the state file is left (or put back) as it was and
the previous version keeps serving. Deploys to one endpoint take turns; afterwards only the extractions of the
previous and the deployed version stay in the endpoint's models directory.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from inference.artefact import MIB, ExtractionLimits, prune_extractions
from inference.capture import CaptureSettings
from inference.endpoint_state import (
    EndpointState,
    deploy_lock,
    models_dir,
    read_state,
    restore_state,
    state_snapshot,
    write_state,
)
from inference.load_check import LoadCheckError, LoadRequest, await_servers, trial_load
from inference.model_loader import DEFAULT_PROGRAM
from mlops_errors import MlopsError
from pipelines.config import Config
from pipelines.objectstore import local_path
from pipelines.registry.model import APPROVED, ModelRegistry, ModelVersion, RegistryError

logger = logging.getLogger(__name__)

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


def extraction_limits(config: Config) -> ExtractionLimits:
    """Caps on a model archive's extraction (serving.max_model_mib, serving.max_model_files)."""
    return ExtractionLimits(config.serving.max_model_mib * MIB, config.serving.max_model_files)


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


def _prune(models: Path, keep: list[Path]) -> None:
    """Remove the endpoint's other extractions; a failure to do so is logged, never the deploy's outcome."""
    try:
        prune_extractions(models, keep)
    except OSError as exc:
        logger.warning("Could not remove old extractions from %s: %s", models, exc)


def deploy_local(
    config: Config,
    state_dir: Path,
    registry: ModelRegistry,
    group: str | None = None,
    version: int | None = None,
    arn: str | None = None,
    endpoint: str | None = None,
    force: bool = False,
    load_timeout: float = 120.0,
    switch_timeout: float = 60.0,
) -> DeployResult:
    """Deploy a version to the local endpoint (writes its deploy state); see the module docstring for the rules.

    ``load_timeout`` bounds the trial load in a fresh process, ``switch_timeout`` the wait for running servers.
    """
    endpoint = endpoint or config.endpoint_name
    chosen = choose_version(registry, group or config.model_package_group, version, arn, force)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(deploy_lock(state_dir, endpoint, load_timeout + switch_timeout + 30))
        except TimeoutError as exc:
            raise DeployError(f"{exc}: try again when it is done") from exc
        return _deploy(config, state_dir, endpoint, chosen, force, load_timeout, switch_timeout)


def _deploy(
    config: Config,
    state_dir: Path,
    endpoint: str,
    chosen: ModelVersion,
    force: bool,
    load_timeout: float,
    switch_timeout: float,
) -> DeployResult:
    """The deploy itself, under the endpoint's deploy lock."""
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
    archive = local_path(chosen.model_data_url, state_dir)
    models = models_dir(state_dir, endpoint)
    kept = [local_path(current.model_data_url, state_dir)] if current else []
    keeps = f"endpoint {endpoint!r} keeps serving {previous or 'nothing'}"
    limits = extraction_limits(config)
    request = LoadRequest(
        archive, models, chosen.reference, dict(chosen.environment), limits.max_bytes, limits.max_members
    )
    try:
        trial_load(request, load_timeout)
    except LoadCheckError as exc:
        _prune(models, kept)
        raise DeployError(
            f"{chosen.reference} cannot be loaded by the local endpoint's model loader: {exc}. Not deployed: {keeps} "
            "and its deploy state is unchanged"
        ) from exc
    snapshot = state_snapshot(state_dir, endpoint)
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
    failure, servers = await_servers(state_dir, endpoint, chosen.reference, switch_timeout)
    if failure is not None:
        restore_state(state_dir, endpoint, snapshot)
        _prune(models, kept)
        raise DeployError(f"{chosen.reference} was not deployed: {failure}. The deploy state is restored, so {keeps}")
    _prune(models, [archive, *kept])
    was = f" (was {previous})" if previous else ""
    serving = (
        f"now served by {', '.join(servers)}"
        if servers
        else f"`mlops serve --endpoint {endpoint}` serves it (no server is running)"
    )
    logger.info("Deployed %s to %s: %s", chosen.reference, endpoint, path)
    return DeployResult(
        "deployed",
        endpoint,
        chosen.reference,
        previous,
        f"Deployed {chosen.reference} to local endpoint {endpoint!r}{was}; {serving} (state: {path})",
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
