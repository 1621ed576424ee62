"""Evaluate's model input: ``model.tar.gz`` as SageMaker delivers a training job's output, extracted safely, or an
already-extracted model directory; the booster loaded (XGBoost JSON or UBJ, never a pickle) and run on the test rows.

Container code (the SageMaker XGBoost image): standard library, numpy and xgboost only.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import numpy as np
import xgboost as xgb

from mlops_errors import MlopsError

MODEL_FILES = ("xgboost-model.json", "xgboost-model.ubj")


class EvaluationError(MlopsError, ValueError):
    """The model or the test data is not what the step expects."""


def safe_extract(archive: Path, destination: Path) -> None:
    """Extract a tar(.gz) archive, refusing members that are not plain files or directories or that would land
    outside ``destination`` (absolute paths, ``..``)."""
    root = destination.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            target = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()):
                raise EvaluationError(f"{archive}: refusing to extract {member.name!r} (not a regular file)")
            if member.name.startswith(("/", "\\")) or (target != root and root not in target.parents):
                raise EvaluationError(f"{archive}: refusing to extract {member.name!r}: it escapes the directory")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, members=members, filter="data")
        else:  # Python 3.10 before 3.10.12: the members were checked above
            tar.extractall(root, members=members)


def load_booster(model_dir: Path) -> xgb.Booster:
    """The booster saved by training (XGBoost JSON or UBJ; never a pickle)."""
    for name in MODEL_FILES:
        if (model_dir / name).is_file():
            booster = xgb.Booster()
            booster.load_model(str(model_dir / name))
            return booster
    found = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())[:20]
    raise EvaluationError(f"No {' or '.join(MODEL_FILES)} in {model_dir}; found: {', '.join(found) or 'nothing'}")


def predict(model_dir: Path, x: np.ndarray) -> np.ndarray:
    """The model's outputs for the feature rows ``x``; ``model_dir`` holds ``model.tar.gz`` (or is that file) or the
    extracted model files. EvaluationError: a missing or unsafe archive, or a feature count the model cannot take."""
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        archive = model_dir if model_dir.is_file() else model_dir / "model.tar.gz"
        if archive.is_file():
            try:
                safe_extract(archive, Path(scratch))
            except (tarfile.TarError, OSError) as exc:
                raise EvaluationError(f"Cannot extract {archive}: {exc}") from exc
            booster = load_booster(Path(scratch))
        else:
            booster = load_booster(model_dir)
    width = booster.num_features()
    if x.shape[1] != width:
        raise EvaluationError(f"The test data has {x.shape[1]} feature column(s), the model expects {width}")
    return booster.predict(xgb.DMatrix(x)).astype(np.float64)
