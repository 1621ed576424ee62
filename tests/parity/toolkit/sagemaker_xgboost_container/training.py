"""Script-mode training as the image's ``sagemaker_xgboost_container/training.py`` at v3.0-5 wires it.

The image's ``train`` command (sagemaker-containers' ``_trainer.train``) imports ``SAGEMAKER_TRAINING_MODULE`` =
``sagemaker_xgboost_container.training:main`` and calls it; success and failure files are the toolkit's.
"""

from __future__ import annotations

import sys

import sagemaker_containers.beta.framework as framework


class AlgorithmModeNotMirrored(RuntimeError):
    """No user entry point: the image would train in algorithm mode, which the parity harness does not run."""


def train(training_environment) -> None:
    """training.py lines 76-98 at v3.0-5: a user entry point runs through ``framework.modules.run_module``."""
    if training_environment.user_entry_point is None:
        raise AlgorithmModeNotMirrored(
            "no sagemaker_program hyperparameter: the image would run algorithm mode (training.py lines 94-98)"
        )
    framework.modules.run_module(
        training_environment.module_dir,
        training_environment.to_cmd_args(),
        training_environment.to_env_vars(),
        training_environment.module_name,
        capture_error=False,
    )


def main() -> None:
    """training.py lines 101-103 at v3.0-5."""
    train(framework.training_env())
    sys.exit(0)
