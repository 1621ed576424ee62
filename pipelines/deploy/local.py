"""Deploying a registered model version to the local endpoint.

Which version: ``pipelines.deploy.versions`` (the rules both backends share). Idempotent: when that version is
already live with the same variant and capture settings, nothing changes.

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
import shutil
import tarfile
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
    state_path,
    state_snapshot,
    write_state,
)
from inference.errors import EndpointStateError
from inference.load_check import LoadCheckError, LoadRequest, await_servers, trial_load
from inference.model_loader import DEFAULT_PROGRAM
from pipelines.config import Config
from pipelines.deploy.versions import DeployError, DeployResult, check_direction, choose_version, parse_package_arn
from pipelines.objectstore import local_path
from pipelines.registry.model import ModelRegistry, ModelVersion, RegistryError

__all__ = [  # the shared rules, imported from here by the commands and tests as well
    "DeployError",
    "DeployResult",
    "capture_settings",
    "check_direction",
    "choose_version",
    "deploy_local",
    "deploy_on_approval",
    "extraction_limits",
    "parse_package_arn",
]

logger = logging.getLogger(__name__)


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
    current, damaged = _live_state(state_dir, endpoint, force)
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
        message = f"{chosen.reference} is already live on endpoint {endpoint!r}: nothing to do"
        return DeployResult("unchanged", endpoint, chosen.reference, previous, message)
    check_direction((current.group, current.version) if current else None, chosen, endpoint, force)
    _check_archive(chosen, state_dir)
    archive = local_path(chosen.model_data_url, state_dir)
    models = models_dir(state_dir, endpoint)
    kept = [local_path(current.model_data_url, state_dir)] if current else []
    keeps = f"endpoint {endpoint!r} keeps serving {previous or 'nothing'}"
    _trial_load(config, chosen, archive, models, load_timeout, kept, keeps)
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
    path, servers = _switch(state_dir, state, chosen, switch_timeout, models, kept, keeps)
    _prune(models, [archive, *kept])
    was = f" (was {previous})" if previous else ""
    serving = (
        f"now served by {', '.join(servers)}"
        if servers
        else f"`mlops serve --endpoint {endpoint}` serves it (no server is running)"
    )
    logger.info("Deployed %s to %s: %s", chosen.reference, endpoint, path)
    message = f"Deployed {chosen.reference} to local endpoint {endpoint!r}{was}; {serving} (state: {path})"
    if damaged is not None:
        message += f"; the damaged deploy state it replaced is kept as {damaged}"
    return DeployResult("deployed", endpoint, chosen.reference, previous, message)


def _live_state(state_dir: Path, endpoint: str, force: bool) -> tuple[EndpointState | None, Path | None]:
    """(the endpoint's deploy state, None); a damaged one (not JSON, not a deploy state) refuses a deploy unless
    ``force``, which reads it as nothing live after copying it aside: (None, where its bytes are kept)."""
    try:
        return read_state(state_dir, endpoint), None
    except EndpointStateError as exc:
        if not force:
            raise DeployError(
                f"{exc}. Which version is live is unknown, so a deploy cannot check it is not older: "
                "deploy with --force (the damaged file is kept beside it)"
            ) from exc
        path = state_path(state_dir, endpoint)
        kept = path.with_name(f"{path.name}.damaged-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}")
        shutil.copyfile(path, kept)
        logger.warning("%s; deploying with --force, its bytes are kept in %s", exc, kept)
        return None, kept


def _trial_load(
    config: Config,
    chosen: ModelVersion,
    archive: Path,
    models: Path,
    timeout: float,
    kept: list[Path],
    keeps: str,
) -> None:
    """Load ``chosen`` in a fresh process with the server's loader; DeployError (nothing changed) if it fails."""
    limits = extraction_limits(config)
    request = LoadRequest(
        archive, models, chosen.reference, dict(chosen.environment), limits.max_bytes, limits.max_members
    )
    try:
        trial_load(request, timeout)
    except LoadCheckError as exc:
        _prune(models, kept)
        raise DeployError(
            f"{chosen.reference} cannot be loaded by the local endpoint's model loader: {exc}. Not deployed: {keeps} "
            "and its deploy state is unchanged"
        ) from exc


def _switch(
    state_dir: Path,
    state: EndpointState,
    chosen: ModelVersion,
    timeout: float,
    models: Path,
    kept: list[Path],
    keeps: str,
) -> tuple[Path, list[str]]:
    """Write the deploy state and wait for the running servers to serve it: (state file, servers); when one
    does not, the state is put back and DeployError says why."""
    snapshot = state_snapshot(state_dir, state.endpoint)
    path = write_state(state_dir, state)
    failure, servers = await_servers(state_dir, state.endpoint, chosen.reference, timeout)
    if failure is not None:
        restore_state(state_dir, state.endpoint, snapshot)
        _prune(models, kept)
        raise DeployError(f"{chosen.reference} was not deployed: {failure}. The deploy state is restored, so {keeps}")
    return path, servers


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
        try:
            live = getattr(read_state(state_dir, endpoint), "reference", None)
        except EndpointStateError:  # a damaged deploy state: the refusal says so
            live = None
        return DeployResult("refused", endpoint, reference, live, f"Not deployed: {exc}")
    except RegistryError as exc:
        raise DeployError(f"Cannot deploy {reference}: {exc}") from exc
