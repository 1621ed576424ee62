"""What the processing step scripts share as SageMaker container programs: logging and the failure message.

Delivered with the project's packages on ``PYTHONPATH`` (the ``lib`` input); standard library only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """INFO to stderr, once per process (CloudWatch Logs collects it in SageMaker)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def default_failure_file() -> str:
    """``/opt/ml/output/message`` (under ``$SM_OPT_ML`` when a local runner maps ``/opt/ml`` elsewhere)."""
    return os.path.join(os.environ.get("SM_OPT_ML", "/opt/ml"), "output", "message")


def write_failure(path: str | os.PathLike, message: str) -> None:
    """Leave the failure reason where SageMaker reads it (first 1024 characters); never fail because of it."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(message[:1024] + "\n", encoding="utf-8")
    except OSError as exc:
        logger.warning("Could not write the failure message to %s: %s", path, exc)


def run_program(
    name: str,
    work: Callable[[], object],
    expected: type[Exception] | tuple[type[Exception], ...],
    failure_file: str | os.PathLike,
    log: logging.Logger = logger,
) -> int:
    """A step's work as a container program's exit code: 0 once ``work`` returns; 1 after an ``expected`` error (bad
    input: its message, which names what was wrong, is logged and left as the failure reason); anything else is left
    as ``<name> failed unexpectedly: ...`` and raised again, so its traceback reaches the log."""
    try:
        work()
    except expected as exc:
        log.error("%s", exc)
        write_failure(failure_file, str(exc))
        return 1
    except Exception as exc:
        write_failure(failure_file, f"{name} failed unexpectedly: {type(exc).__name__}: {exc}")
        raise
    return 0
