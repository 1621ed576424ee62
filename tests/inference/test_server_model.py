"""Loading model versions as the container does (model_loader), and the shared trained state the serving tests use.

``trained_state()`` runs the real local pipeline once per test session (``mlops run``: version 1, a real trained
model.tar.gz in the object store), then registers a second, smaller model (trained by the real training step with
other hyperparameters) as version 2, so deploy tests have two versions whose predictions differ. Tests copy it
(``state_copy``) and never write to the shared one.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from inference.feature_transform import FeatureTransform
from inference.model_loader import ModelLoadError, extract_archive, load_model
from pipelines.objectstore import local_path
from pipelines.registry.model import APPROVED, ModelVersion
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ABALONE, ROOT
from tests.training.steps import tar_model, trained

GROUP = "abalone"
ROW = b"M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"


def registration_request(version: ModelVersion, model_data_url: str) -> dict:
    """A CreateModelPackage request like the pipeline's Register step, for another model archive."""
    return {
        "ModelPackageGroupName": version.group,
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [
                {"Image": version.image_uri, "ModelDataUrl": model_data_url, "Environment": dict(version.environment)}
            ],
            "SupportedContentTypes": list(version.content_types),
            "SupportedResponseMIMETypes": list(version.response_types),
        },
        "DriftCheckBaselines": {
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": version.drift_baselines["statistics"]},
                "Constraints": {"ContentType": "application/json", "S3Uri": version.drift_baselines["constraints"]},
            }
        },
    }


@functools.cache
def trained_state() -> Path:
    """A state directory with abalone/1 (from the real pipeline) and abalone/2 (a smaller model), both pending."""
    from pipelines.cli import main

    root = Path(tempfile.mkdtemp(prefix="mlops-serving-"))
    atexit.register(shutil.rmtree, root, True)
    state = root / "state"
    code = main(["run", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state), "--quiet"])
    assert code == 0, "the local pipeline failed: see its output above"
    registry = SQLiteRegistry(state / "registry.db")
    (first,) = registry.list_versions(GROUP)
    small = trained(root / "small", max_depth="2", num_round="15")
    key = "serving-tests/small/model.tar.gz"
    tar_model(small, local_path(f"s3://mlops-local/{key}", state).parent)
    registry.register(registration_request(first, f"s3://mlops-local/{key}"), source="tests")
    return state


def state_copy(target: Path) -> Path:
    """A private copy of the trained state (2 MB)."""
    shutil.copytree(trained_state(), target)
    return target


def approve(state: Path, version: int) -> ModelVersion:
    return SQLiteRegistry(state / "registry.db").set_status(GROUP, version, APPROVED, "tests", "serving tests")


def archive_of(state: Path, version: int) -> Path:
    model = SQLiteRegistry(state / "registry.db").get(GROUP, version)
    return local_path(model.model_data_url, state)


def booster_predictions(model_dir: Path, rows: list[list]) -> np.ndarray:
    """The booster called directly on the transformed features (the reference for every prediction)."""
    transform = FeatureTransform.from_json((model_dir / "transform.json").read_text())
    booster = xgb.Booster(model_file=str(model_dir / "xgboost-model.json"))
    return booster.predict(xgb.DMatrix(transform.apply(rows)))


def abalone_rows() -> list[list[str]]:
    lines = ABALONE.read_text().splitlines()[1:]
    return [line.split(",")[:-1] for line in lines]


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    return state_copy(tmp_path_factory.mktemp("loader") / "state")


def test_the_pipeline_model_archive_has_the_container_layout(state):
    with tarfile.open(archive_of(state, 1)) as tar:
        names = set(tar.getnames())
    assert {"xgboost-model.json", "transform.json", "code/inference.py", "code/feature_transform.py"} <= names
    assert "code/handler_input.py" in names


def test_load_model_serves_like_the_booster(state, tmp_path):
    loaded = load_model(archive_of(state, 1), tmp_path / "models", "abalone/1", {"SAGEMAKER_PROGRAM": "inference.py"})
    answer = loaded.invoke(ROW + b"\n" + ROW, "text/csv", "text/csv")
    assert (answer.status, answer.content_type) == (200, "text/csv; charset=utf-8")
    got = np.array([float(x) for x in answer.body.split()], dtype=np.float32)
    np.testing.assert_array_equal(got, booster_predictions(loaded.model_dir, [ROW.decode().split(",")] * 2))
    assert loaded.module.__name__.startswith("mlops_handler_")
    assert "feature_transform" not in sys.modules  # the version's siblings do not leak into other imports


def test_two_versions_coexist_with_their_own_modules(state, tmp_path):
    first = load_model(archive_of(state, 1), tmp_path / "models", "abalone/1")
    second = load_model(archive_of(state, 2), tmp_path / "models", "abalone/2")
    assert first.module is not second.module and first.model_dir != second.model_dir
    one = float(first.invoke(ROW, "text/csv", "text/csv").body)
    two = float(second.invoke(ROW, "text/csv", "text/csv").body)
    assert one != two  # different boosters answer, each through its own handler
    assert float(first.invoke(ROW, "text/csv", "text/csv").body) == one


def test_extraction_is_reused_and_keyed_by_content(state, tmp_path):
    first = extract_archive(archive_of(state, 1), tmp_path)
    again = extract_archive(archive_of(state, 1), tmp_path)
    other = extract_archive(archive_of(state, 2), tmp_path)
    assert first == again != other
    assert (first / "code" / "inference.py").is_file()


def test_unsafe_or_broken_archives_are_refused_with_the_file_named(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        payload = tmp_path / "payload"
        payload.write_text("x")
        tar.add(payload, arcname="../escape.txt")
    with pytest.raises(ModelLoadError, match=r"evil.tar.gz: member '../escape.txt' points outside"):
        extract_archive(evil, tmp_path / "models")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(ModelLoadError, match=r"broken\.tar\.gz: not a readable model\.tar\.gz"):
        extract_archive(broken, tmp_path / "models")
    with pytest.raises(ModelLoadError, match="Model archive not found"):
        extract_archive(tmp_path / "missing.tar.gz", tmp_path / "models")


def test_a_handler_without_the_functions_is_refused(tmp_path):
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    archive = tar_model(model, tmp_path / "out")
    with pytest.raises(ModelLoadError, match="defines no input_fn: the SageMaker XGBoost container would fall back"):
        load_model(archive, tmp_path / "models", "bad/1")
    with pytest.raises(ModelLoadError, match=r"Handler .*serve.py not found"):
        load_model(archive, tmp_path / "models", "bad/1", {"SAGEMAKER_PROGRAM": "serve.py"})


def test_the_registered_environment_sets_the_accept_default_as_on_sagemaker(state, tmp_path):
    version = SQLiteRegistry(state / "registry.db").get(GROUP, 1)  # registered by the pipeline's Register step
    assert version.environment["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] == "text/csv"
    loaded = load_model(archive_of(state, 1), tmp_path / "models", "abalone/1", dict(version.environment))
    json_row = b'["M", 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]'
    for body, content_type, accept in ((ROW, "text/csv", None), (json_row, "application/json", "*/*")):
        answer = loaded.invoke(body, content_type, accept)
        assert (answer.status, answer.content_type) == (200, "text/csv; charset=utf-8")
    unset = load_model(archive_of(state, 1), tmp_path / "models", "abalone/1", {"SAGEMAKER_PROGRAM": "inference.py"})
    assert unset.invoke(ROW, "text/csv", None).content_type == "application/json"  # the toolkit's own default


def test_a_bad_request_is_answered_by_the_handler_with_its_status(state, tmp_path):
    loaded = load_model(archive_of(state, 1), tmp_path / "models", "abalone/1")
    answer = loaded.invoke(b"M,1", "text/csv", "text/csv")
    assert (answer.status, answer.content_type) == (400, "application/json")
    assert b"Record 1 has 2 field(s), expected 8" in answer.body
    assert loaded.invoke(b"[" * 5000, "application/json", None).status == 400
    assert loaded.unseen_categories() == {}
    loaded.invoke(b"Q" + ROW[1:], "text/csv", "text/csv")
    assert loaded.unseen_categories() == {"sex": 1}
