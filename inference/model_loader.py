"""Loading a model version the way the SageMaker framework container does.

The container extracts ``model.tar.gz`` into ``/opt/ml/model``, puts ``/opt/ml/model/code`` on ``sys.path``,
imports ``SAGEMAKER_PROGRAM`` (``inference.py``) from there, calls ``model_fn(model_dir)`` once, then per request
``input_fn`` -> ``predict_fn`` -> ``output_fn`` (or ``transform_fn`` when the module defines it).

Here each version is extracted into its own directory and its handler is imported under a module name unique to
that archive, with its ``code/`` first on ``sys.path`` only while it is imported and its sibling modules (e.g.
``feature_transform``) kept out of ``sys.modules`` afterwards, so two versions can be loaded side by side while
the server switches from one to the other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import sys
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_PROGRAM = "inference.py"
_IMPORT_LOCK = threading.Lock()
_READY = ".extracted"


class ModelLoadError(RuntimeError):
    """The archive or its handler cannot be loaded; the message names the file and what was expected."""


@dataclass(frozen=True)
class LoadedModel:
    """A model version ready to serve: its handler module and what ``model_fn`` returned."""

    name: str  # e.g. abalone/3
    model_dir: Path
    module: ModuleType
    model: Any

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        """One invocation through the handler; returns (response body, response content type)."""
        module = self.module
        transform = getattr(module, "transform_fn", None)
        if transform is not None:
            result = transform(self.model, body, content_type, accept)
        else:
            result = module.output_fn(module.predict_fn(module.input_fn(body, content_type), self.model), accept)
        if isinstance(result, tuple):
            payload, response_type = result
        else:
            payload, response_type = result, accept or content_type
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return bytes(payload), str(response_type)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = []
    for member in tar.getmembers():
        name = member.name
        if name.startswith(("/", "\\")) or ".." in Path(name).parts:
            raise ModelLoadError(f"{archive}: member {name!r} points outside the model directory")
        if not (member.isfile() or member.isdir()):
            raise ModelLoadError(f"{archive}: member {name!r} is a link or device; only files and directories")
        members.append(member)
    return members


def extract_archive(archive: Path, models_dir: Path) -> Path:
    """Extract ``model.tar.gz`` once into ``models_dir/<sha256 prefix>``; returns the model directory."""
    archive = Path(archive)
    if not archive.is_file():
        raise ModelLoadError(f"Model archive not found: {archive}")
    target = Path(models_dir) / _digest(archive)[:16]
    if (target / _READY).is_file():
        return target
    staging = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _safe_members(tar, archive)
            tar.extractall(staging, members=members)  # members checked above
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelLoadError(f"{archive}: not a readable model.tar.gz ({exc})") from exc
    (staging / _READY).write_text(str(archive), encoding="utf-8")
    try:
        staging.rename(target)
    except OSError:  # another process extracted the same archive first
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / _READY).is_file():
            raise
    return target


def import_handler(code_dir: Path, program: str, module_name: str) -> ModuleType:
    """Import ``code_dir/program`` as ``module_name``, with ``code_dir`` on sys.path while it imports."""
    path = Path(code_dir) / program
    if not path.is_file():
        raise ModelLoadError(
            f"Handler {path} not found: SAGEMAKER_PROGRAM={program} must be a file in the model's code/"
        )
    siblings = {p.stem for p in Path(code_dir).glob("*.py")} | {
        p.name for p in Path(code_dir).iterdir() if (p / "__init__.py").is_file()
    }
    with _IMPORT_LOCK:
        saved = {name: sys.modules.pop(name) for name in siblings if name in sys.modules}
        sys.path.insert(0, str(code_dir))
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ModelLoadError(f"Cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(module_name, None)
                raise ModelLoadError(f"Importing {path} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            sys.path.remove(str(code_dir))
            for name in siblings:
                sys.modules.pop(name, None)
            sys.modules.update(saved)
    has_transform = hasattr(module, "transform_fn")
    required = ("model_fn",) + (() if has_transform else ("input_fn", "predict_fn", "output_fn"))
    missing = [f for f in required if not callable(getattr(module, f, None))]
    if missing:
        raise ModelLoadError(
            f"{path} defines no {', '.join(missing)}: the handler needs model_fn and "
            "input_fn/predict_fn/output_fn (or transform_fn)"
        )
    return module


def limit_native_threads() -> None:
    """One native thread per prediction in the calling thread (XGBoost's setting is per thread).

    Requests are small and the server runs one prediction at a time per thread: an OpenMP pool per call costs
    more than it gains and fights the load generator for the second core.
    """
    module = sys.modules.get("xgboost")
    if module is not None:
        module.set_config(nthread=1)


def load_model(archive: Path, models_dir: Path, name: str, environment: dict[str, str] | None = None) -> LoadedModel:
    """Extract, import the handler and call ``model_fn`` once: a model ready to serve."""
    environment = environment or {}
    program = environment.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM
    model_dir = extract_archive(Path(archive), Path(models_dir))
    code_dir = model_dir / "code"
    if not code_dir.is_dir():
        raise ModelLoadError(f"{archive} has no code/ directory: the model artefact must carry code/{program}")
    module = import_handler(code_dir, program, f"mlops_handler_{model_dir.name}_{uuid.uuid4().hex[:6]}")
    try:
        model = module.model_fn(str(model_dir))
    except Exception as exc:
        raise ModelLoadError(f"model_fn({model_dir}) failed: {type(exc).__name__}: {exc}") from exc
    limit_native_threads()
    logger.info("Loaded %s from %s", name, archive)
    return LoadedModel(name, model_dir, module, model)
