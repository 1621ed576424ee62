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

Python 3.10 compatible; imports the standard library, numpy, xgboost, the sibling ``feature_transform`` module
and, lazily, flask.
"""

from __future__ import annotations

import csv
import functools
import io
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
else:  # loaded as a top-level module from the model's code/ directory (the serving container)
    try:
        from feature_transform import FeatureTransform, InputPolicy
    except ModuleNotFoundError:  # code/ is not on sys.path: load the file next to this one
        import importlib.util
        import sys

        _spec = importlib.util.spec_from_file_location(
            "feature_transform", os.path.join(os.path.dirname(os.path.abspath(__file__)), "feature_transform.py")
        )
        if _spec is None or _spec.loader is None:
            raise
        _module = importlib.util.module_from_spec(_spec)
        sys.modules["feature_transform"] = _module
        _spec.loader.exec_module(_module)
        FeatureTransform, InputPolicy = _module.FeatureTransform, _module.InputPolicy

logger = logging.getLogger(__name__)

CSV = "text/csv"
JSON = "application/json"
CONTENT_TYPES = (CSV, JSON)
MODEL_FILES = ("xgboost-model.json", "xgboost-model.ubj")
TRANSFORM_FILE = "transform.json"
MAX_MESSAGE = 2000  # characters of an error message (it may quote a client's value)


@dataclass(frozen=True)
class RequestError:
    """A refused request, as a value (never raised): what was wrong and the HTTP status to answer with."""

    message: str
    status: int = 400


class _Refused(Exception):
    """Raised inside parsing, returned as its ``RequestError`` by the function the container calls."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error = RequestError(message, status)


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
class Records:
    """A parsed request: raw records (positional lists, or objects by feature name) and the request's type."""

    rows: list[Any]
    by_name: bool
    content_type: str


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


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _text(body: Any) -> str:
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refused(f"The request body is not UTF-8 text: {exc}") from None
    if not isinstance(body, str):
        raise _Refused(f"The request body must be bytes or text, got {type(body).__name__}")
    if not body.strip():
        raise _Refused("Empty request body: send one or more records")
    return body


def _parse_csv(text: str) -> list[list[str]]:
    if '"' not in text:  # the hot path: no quoting, split by hand (several times faster than csv.reader)
        return [line.split(",") for line in text.splitlines() if line.strip()]
    try:
        return [row for row in csv.reader(io.StringIO(text), strict=True) if any(f.strip() for f in row)]
    except csv.Error as exc:
        raise _Refused(f"Malformed CSV: {exc}") from None


def _parse_json(text: str) -> tuple[list[Any], bool]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise _Refused("Malformed JSON: nested too deeply (records are objects or lists of plain values)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise _Refused(f"Malformed JSON: {exc}") from None
    if isinstance(data, dict):
        if "instances" not in data:
            return [data], True
        data = data["instances"]
        if not isinstance(data, list):
            raise _Refused(f'"instances" must be a list of records, got {type(data).__name__}')
    if not isinstance(data, list):
        raise _Refused(
            f'JSON body must be a list of records, {{"instances": [...]}} or one object, got {type(data).__name__}'
        )
    if not data:
        raise _Refused("No records: the JSON list is empty")
    if all(isinstance(r, dict) for r in data):
        return data, True
    if all(isinstance(r, list) for r in data):
        return data, False
    if not any(isinstance(r, (dict, list)) for r in data):
        return [data], False  # one positional record
    kinds = sorted({type(r).__name__ for r in data})
    raise _Refused(f"Records must be all objects or all lists, got a mix of {', '.join(kinds)}")


def input_fn(request_body: Any, request_content_type: str | None) -> Records | RequestError:
    """Parse a request body of raw feature records (``text/csv`` or ``application/json``); a client mistake is
    returned as a ``RequestError`` (never raised: the container would answer 500)."""
    try:
        return _records(request_body, request_content_type)
    except _Refused as refused:
        return refused.error


def _records(request_body: Any, request_content_type: str | None) -> Records:
    content_type = _media_type(request_content_type)
    if content_type not in CONTENT_TYPES:
        shown = request_content_type or "none"
        raise _Refused(f"Unsupported content type {shown!r}: use {CSV} or {JSON}", status=415)
    text = _text(request_body)
    if content_type == CSV:
        rows = _parse_csv(text)
        if not rows:
            raise _Refused("Empty request body: send one or more records")
        return Records(rows, False, CSV)
    rows, by_name = _parse_json(text)
    return Records(rows, by_name, JSON)


def _positional(records: Records, columns: tuple[str, ...]) -> list[Any]:
    if not records.by_name:
        first = records.rows[0]
        if records.content_type == CSV and [f.strip() for f in first] == list(columns):
            raise _Refused(
                f"The CSV body starts with a header row; send data rows only, in this order: {','.join(columns)}"
            )
        return records.rows
    rows = []
    for number, record in enumerate(records.rows, start=1):
        missing = [c for c in columns if c not in record]
        if missing:
            raise _Refused(
                f"Record {number} has no feature {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; expected: {', '.join(columns)}"
            )
        rows.append([record[c] for c in columns])
    return rows


def predict_fn(input_data: Records | RequestError, model: Model) -> Prediction | RequestError:
    """Apply the feature transform to the parsed records and predict; a ``RequestError`` (from ``input_fn``, or
    for records the transform refuses) is returned, never raised."""
    if isinstance(input_data, RequestError):
        return input_data
    unseen: dict[str, int] = {}
    try:
        rows = _positional(input_data, model.transform.input_columns)
        features = model.transform.apply_request(rows, model.policy, unseen)
    except _Refused as refused:
        return refused.error
    except RecursionError:
        return RequestError("A record holds values nested too deeply: send plain values")
    except ValueError as exc:
        return RequestError(str(exc))
    if unseen:
        model.unseen.add(unseen)
    values = model.booster.inplace_predict(features)
    return Prediction(np.asarray(values, dtype=np.float32).reshape(-1), input_data.content_type)


def _response_type(accept: str | None, default: str) -> str:
    if not accept or not accept.strip():
        return default
    for part in accept.split(","):
        media = _media_type(part)
        if media in CONTENT_TYPES:
            return media
        if media in ("*/*", "*"):
            return default
    raise _Refused(f"Unsupported Accept {accept!r}: use {CSV} or {JSON}", status=406)


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
    except _Refused as refused:
        return error_response(refused.error)
    values = prediction.values
    texts = (
        [str(v) for v in values] if np.isfinite(values).all() else [str(v) if np.isfinite(v) else "" for v in values]
    )
    if content_type == CSV:
        return ("\n".join(texts) + "\n").encode("utf-8"), CSV
    return ('{"predictions": [' + ", ".join(t or "null" for t in texts) + "]}").encode("utf-8"), JSON
