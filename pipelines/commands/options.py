"""The argparse ``type`` of every option standing for a configuration value (``--endpoint``, ``--state-dir``,
``--bucket``), checked by the configuration's rules as argparse parses them: exit 2, before anything is read, built or
written. The rules are imported only when an option is given, so ``mlops --help`` stays light."""

from __future__ import annotations

import argparse
from pathlib import Path


def endpoint_option(value: str) -> str:
    """argparse ``type`` of ``--endpoint``: a name SageMaker accepts, as ``serving.endpoint_name``. Locally the name
    also names the endpoint's state file and model directory, so ``../x`` or ``/tmp/x`` would write outside the
    state directory, and an empty name would silently mean the default."""
    from pipelines.config_rules import NAME_EXPECTED, NAME_PATTERN, is_name

    if not is_name(value):
        raise argparse.ArgumentTypeError(f"must be {NAME_EXPECTED} (an endpoint name: {NAME_PATTERN}), got {value!r}")
    return value


def state_dir_option(value: str) -> Path:
    """argparse ``type`` of ``--state-dir``: a non-empty path, as ``project.state_dir`` (``Path("")`` is the current
    directory: a run would write its state into the source tree)."""
    if not value:
        raise argparse.ArgumentTypeError(f"must be a non-empty path, got {value!r}")
    return Path(value)


def bucket_option(value: str) -> str:
    """argparse ``type`` of ``--bucket``: an S3 bucket name, as ``sagemaker.bucket``."""
    from pipelines.config_rules import BUCKET_EXPECTED, is_bucket_name

    if not is_bucket_name(value):
        raise argparse.ArgumentTypeError(f"must be {BUCKET_EXPECTED}, got {value!r}")
    return value
