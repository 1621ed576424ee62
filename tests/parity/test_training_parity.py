"""The Train step of the local run, executed again through the image's own training entry (sagemaker-containers'
``train`` with SAGEMAKER_TRAINING_MODULE as the Dockerfile sets it, script mode via ``run_module``) in the image's
Python with no network: the model directory, booster included, equals the local runner's byte for byte."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.parity.container import Container
from tests.parity.jobs import run_training
from tests.parity.pipeline_run import archive_bytes, tree_bytes

BOOSTER = "xgboost-model.json"


@dataclass(frozen=True)
class Trained:
    container: Container
    model_dir: Path
    log: Path


@pytest.fixture(scope="module")
def trained(local_run, parity_environment, tmp_path_factory) -> Trained:
    root = tmp_path_factory.mktemp("parity-train")
    container = Container(parity_environment, root / "container")
    log = root / "train.log"
    return Trained(container, run_training(container, local_run.arguments("Train"), local_run, log), log)


def test_the_train_request_is_script_mode_with_the_code_channel(local_run):
    request = local_run.arguments("Train")
    assert request["HyperParameters"]["sagemaker_program"] == "train.py"
    assert request["HyperParameters"]["sagemaker_submit_directory"].startswith("/opt/ml/input/data/code/")
    assert {c["ChannelName"] for c in request["InputDataConfig"]} >= {"train", "validation", "code"}


def test_train_step_through_the_toolkit_gives_the_local_runners_model(local_run, trained):
    local_archive = local_run.store.path(local_run.properties("Train")["ModelArtifacts"]["S3ModelArtifacts"])
    expected, produced = archive_bytes(local_archive), tree_bytes(trained.model_dir)
    assert BOOSTER in expected and len(expected[BOOSTER]) > 1000
    assert produced[BOOSTER] == expected[BOOSTER]
    assert produced == expected


def test_the_toolkit_installed_and_ran_the_code_without_network(trained, parity_environment):
    text = trained.log.read_text(encoding="utf-8")
    assert "-m pip install ." in text and "-m train" in text, text[-2000:]
    assert "parity harness: no network" not in text
    # what the toolkit's `pip install .` installed stays in this container's overlay, never in the shared cache
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('train') else 3)"
    environ = trained.container.environ()
    cwd = trained.container.root
    assert subprocess.run([str(trained.container.python), "-c", probe], env=environ, cwd=cwd).returncode == 0
    shared = subprocess.run([str(parity_environment.python), "-c", probe], env=environ, cwd=cwd)
    assert shared.returncode == 3, "the toolkit's install of the user module reached the shared environment"
