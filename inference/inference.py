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
(``{"predictions": [...]}``); a missing or ``*/*`` Accept answers in the request's type. (In the SageMaker
container a missing or ``*/*`` Accept reaches ``output_fn`` already replaced by the container's default,
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, application/json unless set.) ``output_fn`` returns
``(body_bytes, content_type)``: the container's transformer takes a tuple as (response, content type).
Predictions are written with the shortest text that reads back to the booster's float32 output.

Bad requests raise ``RequestError`` (a ValueError with ``message`` and an HTTP ``status``: 415 for an
unsupported content type, 406 for an unsupported Accept, 400 otherwise). Python 3.10 compatible; imports only
the standard library, numpy, xgboost and the sibling ``feature_transform`` module.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

if __package__:  # imported from the repository as inference.inference
    from .feature_transform import FeatureTransform
else:  # loaded as a top-level module from the model's code/ directory (the serving container)
    try:
        from feature_transform import FeatureTransform
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
        FeatureTransform = _module.FeatureTransform

logger = logging.getLogger(__name__)

CSV = "text/csv"
JSON = "application/json"
CONTENT_TYPES = (CSV, JSON)
MODEL_FILES = ("xgboost-model.json", "xgboost-model.ubj")
TRANSFORM_FILE = "transform.json"


class RequestError(ValueError):
    """A bad request: the message says what was wrong; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message  # the SageMaker inference toolkit reads ``e.message`` for its 400 answer
        self.status = status


@dataclass(frozen=True)
class Model:
    """What ``model_fn`` loads: the booster and the feature transform."""

    booster: xgb.Booster
    transform: FeatureTransform
    problem_type: str


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
    transform = FeatureTransform.from_dict(spec)
    if booster.num_features() != len(transform.feature_names):
        raise ValueError(
            f"{booster_path} expects {booster.num_features()} features but {TRANSFORM_FILE} produces "
            f"{len(transform.feature_names)}: the two files come from different training runs"
        )
    problem_type = (spec.get("schema") or {}).get("problem_type") or "regression"
    logger.info("Loaded %s (%s, %d features)", booster_path, problem_type, len(transform.feature_names))
    return Model(booster, transform, problem_type)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _text(body: Any) -> str:
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(f"The request body is not UTF-8 text: {exc}") from None
    if not isinstance(body, str):
        raise RequestError(f"The request body must be bytes or text, got {type(body).__name__}")
    if not body.strip():
        raise RequestError("Empty request body: send one or more records")
    return body


def _parse_csv(text: str) -> list[list[str]]:
    if '"' not in text:  # the hot path: no quoting, split by hand (several times faster than csv.reader)
        return [line.split(",") for line in text.splitlines() if line.strip()]
    try:
        return [row for row in csv.reader(io.StringIO(text), strict=True) if any(f.strip() for f in row)]
    except csv.Error as exc:
        raise RequestError(f"Malformed CSV: {exc}") from None


def _parse_json(text: str) -> tuple[list[Any], bool]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"Malformed JSON: {exc}") from None
    if isinstance(data, dict):
        if "instances" not in data:
            return [data], True
        data = data["instances"]
        if not isinstance(data, list):
            raise RequestError(f'"instances" must be a list of records, got {type(data).__name__}')
    if not isinstance(data, list):
        raise RequestError(
            f'JSON body must be a list of records, {{"instances": [...]}} or one object, got {type(data).__name__}'
        )
    if not data:
        raise RequestError("No records: the JSON list is empty")
    if all(isinstance(r, dict) for r in data):
        return data, True
    if all(isinstance(r, list) for r in data):
        return data, False
    if not any(isinstance(r, (dict, list)) for r in data):
        return [data], False  # one positional record
    kinds = sorted({type(r).__name__ for r in data})
    raise RequestError(f"Records must be all objects or all lists, got a mix of {', '.join(kinds)}")


def input_fn(request_body: Any, request_content_type: str | None) -> Records:
    """Parse a request body of raw feature records (``text/csv`` or ``application/json``)."""
    content_type = _media_type(request_content_type)
    if content_type not in CONTENT_TYPES:
        shown = request_content_type or "none"
        raise RequestError(f"Unsupported content type {shown!r}: use {CSV} or {JSON}", status=415)
    text = _text(request_body)
    if content_type == CSV:
        rows = _parse_csv(text)
        if not rows:
            raise RequestError("Empty request body: send one or more records")
        return Records(rows, False, CSV)
    rows, by_name = _parse_json(text)
    return Records(rows, by_name, JSON)


def _positional(records: Records, columns: tuple[str, ...]) -> list[Any]:
    if not records.by_name:
        first = records.rows[0]
        if records.content_type == CSV and [f.strip() for f in first] == list(columns):
            raise RequestError(
                f"The CSV body starts with a header row; send data rows only, in this order: {','.join(columns)}"
            )
        return records.rows
    rows = []
    for number, record in enumerate(records.rows, start=1):
        missing = [c for c in columns if c not in record]
        if missing:
            raise RequestError(
                f"Record {number} has no feature {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; expected: {', '.join(columns)}"
            )
        rows.append([record[c] for c in columns])
    return rows


def predict_fn(input_data: Records, model: Model) -> Prediction:
    """Apply the feature transform to the parsed records and predict."""
    rows = _positional(input_data, model.transform.input_columns)
    try:
        features = model.transform.apply(rows)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
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
    raise RequestError(f"Unsupported Accept {accept!r}: use {CSV} or {JSON}", status=406)


def output_fn(prediction: Prediction, accept: str | None) -> tuple[bytes, str]:
    """Serialise predictions as ``accept`` asks (default: the request's type); returns (body, content type)."""
    content_type = _response_type(accept, prediction.content_type)
    values = prediction.values
    texts = (
        [str(v) for v in values] if np.isfinite(values).all() else [str(v) if np.isfinite(v) else "" for v in values]
    )
    if content_type == CSV:
        return ("\n".join(texts) + "\n").encode("utf-8"), CSV
    return ('{"predictions": [' + ", ".join(t or "null" for t in texts) + "]}").encode("utf-8"), JSON
