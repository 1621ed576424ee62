"""The serving handler: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn`` for the SageMaker XGBoost
framework container (``SAGEMAKER_PROGRAM=inference.py``, ``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``).

Raw feature records in, the model's feature transform applied inside, predictions out (regression: the
predicted value; binary: the probability of the positive class).

Requests:
- ``text/csv``: one or more rows of raw features in ``transform.input_columns`` order, no header; fields may
  be quoted; an empty field is a missing value;
- ``application/json``: a list of records (objects by feature name, or lists by position), ``{"instances":
  [...]}``, a single object, or a single flat list (one positional record); ``null`` is a missing value.

Responses (``Accept``): ``text/csv`` (one prediction per line) or ``application/json``
(``{"predictions": [...]}``), as ``(body_bytes, content_type)``: the container answers a tuple with 200. A missing
or ``*/*`` Accept answers in the request's type; in the container it arrives replaced by the model's
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` (application/json unless set; the registered model sets text/csv).
Predictions are written with the shortest text that reads back to the booster's float32 output.

Client mistakes never raise: the container (sagemaker-containers 2.8.6.post2) answers any exception of these
functions with a 500. ``input_fn``/``predict_fn`` return a ``RequestError`` value (415 for an unsupported
content type, else 400), passed through to ``output_fn``, which answers it, or an unsupported Accept (406), with
a response object carrying the status and the JSON body ``{"error": "..."}``: ``flask.Response`` where flask is
importable (the container), else ``HandlerResponse`` (``status_code``, ``get_data()``, ``mimetype``).
Non-finite numbers and all-empty records are refused unless the model's ``input_policy`` (transform.json)
allows them; unseen categories encode as missing and are counted (``Model.unseen_categories``).

Python 3.10 compatible; imports the standard library, numpy, xgboost, the sibling modules ``feature_transform``
and ``handler_input`` (request parsing) and, lazily, flask. Every sibling is listed in training/train.py's
``HANDLER_FILES`` (copied into the model's ``code/``) and pipelines/staging.py (the training source and the lib).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost as xgb

if TYPE_CHECKING or __package__:  # imported from the repository as inference.inference (mypy checks this branch)
    from .feature_transform import FeatureTransform, InputPolicy
    from .handler_input import (
        CONTENT_TYPES,
        CSV,
        JSON,
        Records,
        Refused,
        RequestError,
        media_type,
        parse_records,
        positional,
    )
else:  # loaded as a top-level module from the model's code/ directory (the serving container)
    import importlib
    import importlib.util
    import sys

    def _sibling(name: str) -> Any:
        """The module ``name`` from code/, loaded from the file next to this one when code/ is not on sys.path."""
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"Cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    _transform, _input = _sibling("feature_transform"), _sibling("handler_input")
    FeatureTransform, InputPolicy = _transform.FeatureTransform, _transform.InputPolicy
    CONTENT_TYPES, CSV, JSON = _input.CONTENT_TYPES, _input.CSV, _input.JSON
    Records, Refused, RequestError = _input.Records, _input.Refused, _input.RequestError
    media_type, parse_records, positional = _input.media_type, _input.parse_records, _input.positional

logger = logging.getLogger(__name__)

MODEL_FILES = ("xgboost-model.json", "xgboost-model.ubj")
TRANSFORM_FILE = "transform.json"
MAX_MESSAGE = 2000  # characters of an error message (it may quote a client's value)


class HandlerResponse:
    """The response object ``output_fn`` returns where flask is absent: what a flask.Response offers here."""

    def __init__(self, body: bytes, status: int, mimetype: str) -> None:
        self.status_code, self.mimetype, self._body = status, mimetype, body

    def get_data(self) -> bytes:
        """The response body."""
        return self._body


class UnseenCategories:
    """Per feature, how many values unseen in training a model has met (they encode as missing); thread-safe."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, counts: dict[str, int]) -> None:
        """Add one request's counts; logs a feature's total at its first unseen value and at each power of ten."""
        with self._lock:
            totals = {c: (self._counts.get(c, 0), self._counts.get(c, 0) + n) for c, n in counts.items()}
            self._counts.update({c: after for c, (_, after) in totals.items()})
        for column, (before, after) in totals.items():
            if len(str(after)) > len(str(before)) or before == 0:
                logger.warning("Feature %r: %d value(s) unseen in training so far, encoded as missing", column, after)

    def counts(self) -> dict[str, int]:
        """The totals so far, by feature."""
        with self._lock:
            return dict(self._counts)


@dataclass(frozen=True)
class Model:
    """What ``model_fn`` loads: the booster, the feature transform and its input policy."""

    booster: xgb.Booster
    transform: FeatureTransform
    problem_type: str
    policy: InputPolicy = field(default_factory=InputPolicy)
    unseen: UnseenCategories = field(default_factory=UnseenCategories, compare=False)

    def unseen_categories(self) -> dict[str, int]:
        """Per feature, the values unseen in training met so far (read by the local endpoint's /ping)."""
        return self.unseen.counts()


@dataclass(frozen=True)
class Prediction:
    """Predictions (float32, one per record) and the request's content type (the default response type)."""

    values: np.ndarray
    content_type: str


def model_fn(model_dir: str) -> Model:
    """Load ``xgboost-model.json`` and ``transform.json`` from the model directory."""
    booster_path = next(
        (os.path.join(model_dir, f) for f in MODEL_FILES if os.path.isfile(os.path.join(model_dir, f))), None
    )
    if booster_path is None:
        raise FileNotFoundError(f"No {' or '.join(MODEL_FILES)} in {model_dir}: not a model built by training/train.py")
    booster = xgb.Booster()
    booster.load_model(booster_path)
    # one thread per prediction: requests hold few rows, and the container runs one worker per vCPU, so
    # OpenMP threads would only contend (measured here: same median, but multi-millisecond tail spikes)
    booster.set_param({"nthread": 1})
    with open(os.path.join(model_dir, TRANSFORM_FILE), encoding="utf-8") as handle:
        spec = json.load(handle)
    transform, policy = FeatureTransform.from_dict(spec), InputPolicy.from_dict(spec)
    if booster.num_features() != len(transform.feature_names):
        raise ValueError(
            f"{booster_path} expects {booster.num_features()} features but {TRANSFORM_FILE} produces "
            f"{len(transform.feature_names)}: the two files come from different training runs"
        )
    problem_type = (spec.get("schema") or {}).get("problem_type") or "regression"
    logger.info("Loaded %s (%s, %d features, %s)", booster_path, problem_type, len(transform.feature_names), policy)
    return Model(booster, transform, problem_type, policy)


def input_fn(request_body: Any, request_content_type: str | None) -> Records | RequestError:
    """Parse a request body of raw feature records (``text/csv`` or ``application/json``); a client mistake is
    returned as a ``RequestError`` (never raised: the container would answer 500)."""
    try:
        return parse_records(request_body, request_content_type)
    except Refused as refused:
        return refused.error


def predict_fn(input_data: Records | RequestError, model: Model) -> Prediction | RequestError:
    """Apply the feature transform to the parsed records and predict; a ``RequestError`` (from ``input_fn``, or
    for records the transform refuses) is returned, never raised."""
    if isinstance(input_data, RequestError):
        return input_data
    unseen: dict[str, int] = {}
    try:
        rows = positional(input_data, model.transform.input_columns)
        features = model.transform.apply_request(rows, model.policy, unseen)
    except Refused as refused:
        return refused.error
    except RecursionError:
        return RequestError("A record holds values nested too deeply: send plain values")
    except ValueError as exc:
        return RequestError(str(exc))
    if unseen:
        model.unseen.add(unseen)
    values = model.booster.inplace_predict(features)
    return Prediction(np.asarray(values, dtype=np.float32).reshape(-1), input_data.content_type)


def _quality(entry: str) -> float:
    """An Accept entry's q-value (1 when it has none or an unreadable one)."""
    for parameter in entry.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 1.0
    return 1.0


def _response_type(accept: str | None, default: str) -> str:
    """The response type ``accept`` asks for, as RFC 9110 negotiates it: entries by q-value (ties in the order
    given), ``q=0`` meaning "not this one"; ``text/*`` and ``application/*`` match the type offered under them and
    ``*/*`` the request's type (``default``)."""
    if not accept or not accept.strip():
        return default
    entries = [(-_quality(part), position, media_type(part)) for position, part in enumerate(accept.split(","))]
    refused = {media for quality, _, media in entries if quality >= 0}
    offered = [media for media in (default, *CONTENT_TYPES) if media not in refused]
    for quality, _, media in sorted(entries):
        if quality >= 0 or not media:
            continue
        if media in ("*/*", "*"):
            if offered:
                return offered[0]
            continue
        prefix = media[:-1] if media.endswith("/*") else None
        for candidate in offered:
            if candidate == media or (prefix is not None and candidate.startswith(prefix)):
                return candidate
    raise Refused(f"Unsupported Accept {accept!r}: use {CSV} or {JSON}", status=406)


@functools.lru_cache(maxsize=1)
def _response_class() -> Any:
    try:
        from flask import Response  # the container's web framework: imported only when a response is needed
    except ImportError:
        return HandlerResponse
    return Response


def error_response(error: RequestError) -> Any:
    """The response object for a refused request: its status and ``{"error": message}`` as JSON."""
    message = error.message if len(error.message) <= MAX_MESSAGE else error.message[: MAX_MESSAGE - 1] + "…"
    body = json.dumps({"error": message}).encode("utf-8")
    return _response_class()(body, status=error.status, mimetype=JSON)


def output_fn(prediction: Prediction | RequestError, accept: str | None) -> Any:
    """Serialise predictions as ``accept`` asks (default: the request's type) as (body, content type); a
    ``RequestError`` or an unsupported Accept (406) as a response object carrying its status."""
    if isinstance(prediction, RequestError):
        return error_response(prediction)
    try:
        content_type = _response_type(accept, prediction.content_type)
    except Refused as refused:
        return error_response(refused.error)
    values = prediction.values
    texts = (
        [str(v) for v in values] if np.isfinite(values).all() else [str(v) if np.isfinite(v) else "" for v in values]
    )
    if content_type == CSV:
        return ("\n".join(texts) + "\n").encode("utf-8"), CSV
    return ('{"predictions": [' + ", ".join(t or "null" for t in texts) + "]}").encode("utf-8"), JSON
