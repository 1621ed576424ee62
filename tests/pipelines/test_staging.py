"""What the jobs get: the ``lib`` artefact holds exactly the analyzer and the container code, so an edit to the local
loop's modules (``monitoring/local``) or the Lambda code (``monitoring/cloud``) changes no staged digest, hence no
cached definition (``pipelines.local.definitions.definition_key`` hashes the code digests) and no cached step, while
an edit to the analyzer changes the ``lib`` digest."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from pipelines.staging import HANDLER_FILES, code_artifacts
from tests.conftest import ROOT

PACKAGES = ("monitoring", "processing", "inference", "training")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's packages, to edit."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mlops_errors.py", tmp_path / "mlops_errors.py")
    return tmp_path


def digests(root: Path) -> dict[str, str]:
    return {name: artifact.digest for name, artifact in code_artifacts(root).items()}


def append_comment(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "# an edit that changes nothing\n", encoding="utf-8")


def test_lib_holds_the_top_level_analyzer_and_nothing_of_the_local_loop_or_the_lambdas():
    keys = {key for key, _ in code_artifacts()["lib"].files}
    analyzer = {f"lib/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "monitoring").glob("*.py")}
    assert analyzer <= keys and "lib/monitoring/analyzer.py" in keys
    assert not [k for k in keys if k.startswith(("lib/monitoring/local/", "lib/monitoring/cloud/"))]
    assert {f"lib/inference/{name}" for name in ("feature_transform.py", "handler_input.py", "inference.py")} <= keys
    assert not [k for k in keys if k.startswith("lib/pipelines/")]
    assert "lib/mlops_errors.py" in keys  # MlopsError, which processing and the analyzer raise


def test_training_sourcedir_holds_the_user_error_base_its_hyperparameters_import():
    ((_, tarball),) = code_artifacts()["training"].files
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        names = set(tar.getnames())
    assert {"train.py", "hyperparameters.py", "mlops_errors.py"} <= names


@pytest.mark.parametrize(
    "module", ["monitoring/local/alerts.py", "monitoring/local/html_report.py", "monitoring/cloud/check_job.py"]
)
def test_editing_the_local_loop_or_a_lambda_changes_no_staged_digest(tree: Path, module: str):
    before = digests(tree)
    append_comment(tree / module)
    assert digests(tree) == before


def test_editing_the_analyzer_changes_the_lib_digest_only(tree: Path):
    before = digests(tree)
    append_comment(tree / "monitoring" / "analyzer.py")
    after = digests(tree)
    assert after["lib"] != before["lib"]
    assert {k: v for k, v in after.items() if k != "lib"} == {k: v for k, v in before.items() if k != "lib"}


def test_the_handler_files_are_the_ones_training_copies_into_the_model():
    """Staging ships the handler's modules and training copies them into code/: the two lists are one."""
    from training.train import HANDLER_FILES as copied

    assert copied == HANDLER_FILES
    assert {p.name for p in (ROOT / "inference").glob("*.py")} >= set(HANDLER_FILES)
    ((_, tarball),) = code_artifacts()["training"].files
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        assert set(HANDLER_FILES) <= set(tar.getnames())
