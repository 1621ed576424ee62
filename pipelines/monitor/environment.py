"""The monitoring loop wired to the local embedded default: its retraining runs are local pipeline runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pipelines.config import Config
from pipelines.monitor.loop import MonitorEnvironment, utc_now

log = logging.getLogger(__name__)


def local_retraining(config: Config, state_dir: Path, quiet: bool = True) -> Callable[[str], tuple[str, str]]:
    """A function starting a local pipeline execution on the retraining data (returns its id and status)."""

    def start(data_uri: str) -> tuple[str, str]:
        from pipelines.local.definitions import local_definition
        from pipelines.local.runner import LocalRunner
        from pipelines.registry.factory import open_registry

        definition, _ = local_definition(config, state_dir)
        runner = LocalRunner(state_dir, open_registry("local", config, state_dir))
        log.info("starting a retraining run of %s on %s", config.pipeline_name, data_uri)
        result = runner.start(definition, config.pipeline_name, {"InputDataUrl": data_uri})
        return result.execution_id, result.status

    return start


def local_environment(
    config: Config,
    state_dir: Path,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] | None = None,
) -> MonitorEnvironment:
    import time

    return MonitorEnvironment(config, Path(state_dir), clock, sleep or time.sleep, local_retraining(config, state_dir))
