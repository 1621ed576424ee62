"""Loading a model version the way the SageMaker framework container does.

The container extracts ``model.tar.gz`` into ``/opt/ml/model``, puts ``/opt/ml/model/code`` on ``sys.path``,
imports ``SAGEMAKER_PROGRAM`` (``inference.py``) from there, calls ``model_fn(model_dir)`` once, then per request
``input_fn`` -> ``predict_fn`` -> ``output_fn`` (or ``transform_fn`` when the module defines it alone), and
answers a returned tuple with 200 and a returned response object with its own status (``invoke`` -> ``Invocation``).

Here each version is extracted into its own directory and its handler is imported under a module name unique to
that archive, with its ``code/`` first on ``sys.path`` only while it is imported and its sibling modules (e.g.
``feature_transform``) kept out of ``sys.modules`` afterwards, so two versions can be loaded side by side while
the server switches from one to the other.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from inference.artefact import ExtractionLimits, ModelLoadError, extract_archive

logger = logging.getLogger(__name__)

DEFAULT_PROGRAM = "inference.py"
DEFAULT_ACCEPT_VARIABLE = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
JSON = "application/json"
ANY = "*/*"
UTF8_TYPES = (JSON, "text/csv")  # the toolkit decodes these bodies to text before input_fn sees them
REQUEST_FUNCTIONS = ("input_fn", "predict_fn", "output_fn")
_IMPORT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Invocation:
    """One answer of the handler: the body, its content type and the HTTP status (200 unless the handler said)."""

    body: bytes
    content_type: str
    status: int


Transform = Callable[[Any, Any, str, str], Any]


@dataclass(frozen=True)
class LoadedModel:
    """A model version ready to serve: its handler module, what ``model_fn`` returned and the serving settings."""

    name: str  # e.g. abalone/3
    model_dir: Path
    module: ModuleType
    model: Any
    transform: Transform
    default_accept: str = JSON

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Invocation:
        """One invocation as the container's worker makes it; handler exceptions propagate (the server's 500).

        Mirrors sagemaker-containers 2.8.6.post2 ``_worker.Request``: a missing Content-Type is application/json;
        a JSON or CSV body reaches the handler as text (UTF-8, undecodable bytes replaced); a missing or ``*/*``
        Accept is the model's ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` (application/json when unset).
        """
        content_type = content_type or JSON
        accept = self.default_accept if not accept or accept == ANY else accept
        raw = bytes(body)
        content: bytes | str = raw.decode("utf-8", "replace") if content_type in UTF8_TYPES else raw
        return _invocation(self.transform(self.model, content, content_type, accept), self.name)

    def unseen_categories(self) -> dict[str, int]:
        """Per feature, how many category values this model has met that training never saw (encoded as missing)."""
        counts = getattr(self.model, "unseen_categories", None)
        return {str(k): int(v) for k, v in counts().items()} if callable(counts) else {}


def _invocation(result: Any, name: str) -> Invocation:
    """What the container's worker answers for ``result``: a tuple is (body, content type) with status 200."""
    if isinstance(result, tuple):
        payload, content_type, status = result[0], result[1], 200
    elif hasattr(result, "status_code") and callable(getattr(result, "get_data", None)):
        payload, status = result.get_data(), result.status_code
        header = getattr(result, "content_type", None)  # a Flask response's full header: sent as it is
        if isinstance(header, str) and header:
            return Invocation(bytes(payload or b""), header, int(status))
        content_type = getattr(result, "mimetype", None)
    else:
        raise TypeError(
            f"The handler of {name} returned {type(result).__name__}: expected a (body, content type) tuple "
            "or a response object (status_code, get_data(), mimetype)"
        )
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return Invocation(bytes(payload or b""), content_type_sent(str(content_type or JSON)), int(status))


# Werkzeug 0.15.6 (the container's, under Flask 1.1.1): werkzeug.utils.get_content_type gives these a charset
_CHARSET_TYPES = frozenset(
    {
        "application/ecmascript",
        "application/javascript",
        "application/sql",
        "application/xml",
        "application/xml-dtd",
        "application/xml-external-parsed-entity",
    }
)


def content_type_sent(mimetype: str) -> str:
    """The Content-Type header the container sends for a response of ``mimetype`` (Flask's utf-8 charset rule).

    The container's worker wraps a returned tuple in a Flask response, whose header carries ``; charset=utf-8`` for
    text types (``text/csv`` included) and none for ``application/json``. Werkzeug 0.15 appends it even when the
    mimetype already has parameters, and so does this.
    """
    if mimetype.startswith("text/") or mimetype in _CHARSET_TYPES or mimetype.endswith("+xml"):
        return f"{mimetype}; charset=utf-8"
    return mimetype


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
    return module


def resolve_transform(module: ModuleType, path: Path) -> Transform:
    """The handler's request path by serving.py's rules (aws/sagemaker-xgboost-container v3.0-5, lines 116-134).

    ``transform_fn`` together with any of input_fn/predict_fn/output_fn is the container's start-up UserError;
    a function the module lacks would fall back to the container's XGBoost defaults, which the local endpoint
    does not reproduce, so it is refused here too.
    """
    found: dict[str, Any] = {
        name: getattr(module, name, None) for name in ("model_fn", "transform_fn", *REQUEST_FUNCTIONS)
    }
    transform_fn = found["transform_fn"]
    mixed = [name for name in REQUEST_FUNCTIONS if found[name]]
    if transform_fn and mixed:
        raise ModelLoadError(
            f"{path} defines transform_fn and {', '.join(mixed)}: the SageMaker container refuses this at start-up "
            "(UserError: Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn); "
            "define transform_fn alone or the other three"
        )
    needed = ("model_fn", "transform_fn") if transform_fn else ("model_fn", *REQUEST_FUNCTIONS)
    for name in needed:
        if not found[name]:
            raise ModelLoadError(
                f"{path} defines no {name}: the SageMaker XGBoost container would fall back to its own default_{name} "
                "(algorithm-mode loading and encoding), which the local endpoint does not reproduce; define "
                "model_fn and input_fn, predict_fn, output_fn (or model_fn and transform_fn alone)"
            )
        if not callable(found[name]):
            raise ModelLoadError(f"{path}: {name} is a {type(found[name]).__name__}, not a function")
    if transform_fn:
        return transform_fn
    input_fn, predict_fn, output_fn = (found[name] for name in REQUEST_FUNCTIONS)

    def transform(model: Any, content: Any, content_type: str, accept: str) -> Any:
        # the toolkit's _default_transform_fn; its 415/406 branches catch an exception class no handler raises
        return output_fn(predict_fn(input_fn(content, content_type), model), accept)

    return transform


def limit_native_threads() -> None:
    """One native thread per prediction in the calling thread (XGBoost's setting is per thread).

    Requests are small and the server runs one prediction at a time per thread: an OpenMP pool per call costs
    more than it gains and fights the load generator for the second core.
    """
    module = sys.modules.get("xgboost")
    if module is not None:
        module.set_config(nthread=1)


def load_model(
    archive: Path,
    models_dir: Path,
    name: str,
    environment: dict[str, str] | None = None,
    limits: ExtractionLimits | None = None,
) -> LoadedModel:
    """Extract, import the handler and call ``model_fn`` once: a model ready to serve."""
    environment = environment or {}
    program = environment.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM
    model_dir = extract_archive(Path(archive), Path(models_dir), limits)
    code_dir = model_dir / "code"
    if not code_dir.is_dir():
        raise ModelLoadError(f"{archive} has no code/ directory: the model artefact must carry code/{program}")
    module = import_handler(code_dir, program, f"mlops_handler_{model_dir.name}_{uuid.uuid4().hex[:6]}")
    transform = resolve_transform(module, code_dir / program)
    try:
        model = module.model_fn(str(model_dir))
    except Exception as exc:
        raise ModelLoadError(f"model_fn({model_dir}) failed: {type(exc).__name__}: {exc}") from exc
    limit_native_threads()
    logger.info("Loaded %s from %s", name, archive)
    default_accept = environment.get(DEFAULT_ACCEPT_VARIABLE, JSON)  # as the toolkit's ServingEnv reads it
    return LoadedModel(name, model_dir, module, model, transform, default_accept)
