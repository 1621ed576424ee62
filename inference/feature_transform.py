"""The feature transform shared by preprocessing, training and serving: raw records in, a float matrix out.

Numeric columns are kept as floats (missing values stay NaN: XGBoost handles them); categorical columns are
one-hot encoded with the categories seen in training, in sorted order; a category not seen in training (or a
missing one) encodes as all zeros. The fitted transform is plain JSON, so it travels inside the model artefact
and loads with nothing but the standard library, numpy and pandas.

Serving applies it with ``apply_request``: the model's ``InputPolicy`` (``input_policy`` in transform.json,
written by training from the configuration) says whether non-finite numbers and all-empty records are refused,
and categories unseen in training are counted per column.

This module is imported as ``inference.feature_transform`` in the repository and as the sibling module
``feature_transform`` from a model's ``code/`` directory; it must stay importable both ways (no package-relative
imports) and Python 3.10 compatible.

# size: one module on purpose: the model's code/ directory loads it as a plain file beside inference.py (by path
# when code/ is not on sys.path), so a second module would need its own sibling-import fallback here and another
# entry in every file list that builds a model; the transform and the value parsing it applies are one job.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

FORMAT = "feature-transform/v1"
POLICY_KEY = "input_policy"
FLOAT32_NOTE = f" for the model, which reads 32-bit floats (magnitude at most {float(np.finfo(np.float32).max):.8g})"

# pandas' default missing-value markers: a numeric field written like this is missing (NaN), in training
# (pandas.read_csv) and in serving alike.
NA_TOKENS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip() in NA_TOKENS
    return value is pd.NA or value is pd.NaT


def _to_float(value: Any, column: str, where: str) -> float:
    """One raw value of a numeric column as a float; a clear ValueError if it is not a number."""
    if isinstance(value, bool):  # a JSON true/false is not a measurement
        raise ValueError(f"Column '{column}' must be numeric, got {value!r}{where}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range: JSON allows any number of digits
            return math.inf if value > 0 else -math.inf
    if _is_missing(value):
        return math.nan
    if isinstance(value, str) and not _plain_text(value):
        raise ValueError(f"Column '{column}' must be numeric (ASCII digits), got {value!r}{where}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Column '{column}' must be numeric, got {value!r}{where}") from None


def _plain_text(text: str) -> bool:
    """Whether number text is ASCII without underscores: Python's and numpy's float() also read ``1_000`` and
    other scripts' digits (``١٢``), which training's CSV reader (pandas) and the analyzer read as text, so a
    request must not be answered for a value its captured record will show as a string."""
    return text.isascii() and "_" not in text


def _csv_line(row: Sequence[Any]) -> str:
    """A record as one CSV line, fields quoted where they hold a comma or a quote, so that the fields a message
    counts are the fields it shows."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(["" if v is None else v for v in row])
    return out.getvalue()


def _non_finite(value: Any, number: float) -> bool:
    """Whether ``value`` (read as ``number``) is an infinite or NaN number, not a missing-value marker."""
    if math.isinf(number):
        return True
    if value is None or (isinstance(value, str) and value.strip().lstrip("+-").lower() != "nan"):
        return False  # a missing-value marker
    return math.isnan(number)  # NaN text, or a NaN number (JSON's non-standard NaN literal)


@dataclass(frozen=True)
class InputPolicy:
    """What a served model accepts beyond finite numbers and records with at least one value.

    Read from transform.json's ``input_policy``; a transform.json without it (older models) refuses both.
    """

    allow_non_finite: bool = False  # inf, 1e999, Infinity, NaN as values (else a 400 naming record and feature)
    allow_empty_records: bool = False  # records whose every feature is missing

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputPolicy:
        """The policy in a transform.json dict; ValueError naming the field if it is malformed."""
        raw = data.get(POLICY_KEY) or {}
        known = [f.name for f in fields(cls)]
        for key, value in raw.items() if isinstance(raw, Mapping) else [(POLICY_KEY, raw)]:
            if key not in known or not isinstance(value, bool):
                raise ValueError(
                    f"Malformed feature transform: {POLICY_KEY} must map {' and '.join(known)} to true or false, "
                    f"got {key}={value!r}"
                )
        return cls(**raw)

    def to_dict(self) -> dict[str, bool]:
        """The policy as transform.json carries it."""
        return asdict(self)


def _category(value: Any) -> str | None:
    if _is_missing(value):
        return None
    return value.strip() if isinstance(value, str) else str(value)


def numeric_column(values: pd.Series, column: str) -> np.ndarray:
    """A raw column as float64 (missing -> NaN); a ValueError naming the column and a bad value if not numeric."""
    if pd.api.types.is_bool_dtype(values):
        raise ValueError(f"Column '{column}' must be numeric, got booleans (e.g. {values.iloc[0]!r})")
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    cleaned = values.map(lambda v: math.nan if _is_missing(v) else v)
    converted = pd.to_numeric(cleaned, errors="coerce")
    bad = converted.isna() & cleaned.notna()
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"Column '{column}' must be numeric, got {values.iloc[position]!r} (record {position + 1}); "
            f"{int(bad.sum())} non-numeric value(s) in all"
        )
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass(frozen=True)
class FeatureTransform:
    """A fitted transform: raw columns ``input_columns`` -> the float matrix with columns ``feature_names``.

    ``categories`` maps each categorical column (in ``input_columns`` order) to its sorted training categories.
    """

    input_columns: tuple[str, ...]
    numeric: tuple[str, ...]
    categories: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def categorical(self) -> tuple[str, ...]:
        """Names of the categorical input columns."""
        return tuple(name for name, _ in self.categories)

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """Output column names: numeric columns as is, one ``<column>=<category>`` per known category."""
        cats = dict(self.categories)
        names: list[str] = []
        for column in self.input_columns:
            if column in cats:
                names.extend(f"{column}={category}" for category in cats[column])
            else:
                names.append(column)
        return tuple(names)

    @cached_property
    def _layout(self) -> list[tuple[str, int, dict[str, int] | None]]:
        """Per input column: (name, first output column, category -> offset or None for numeric)."""
        cats = dict(self.categories)
        layout: list[tuple[str, int, dict[str, int] | None]] = []
        start = 0
        for column in self.input_columns:
            if column in cats:
                index = {category: i for i, category in enumerate(cats[column])}
                layout.append((column, start, index))
                start += len(index)
            else:
                layout.append((column, start, None))
                start += 1
        return layout

    def apply(self, records: pd.DataFrame | Sequence[Sequence[Any]]) -> np.ndarray:
        """Transform raw records into a float64 matrix (rows x ``feature_names``).

        ``records`` is a DataFrame with (at least) the ``input_columns`` by name, or positional rows: a sequence
        of sequences, each with exactly one value per input column, in ``input_columns`` order. Raises
        ValueError naming the column and an example value for a missing column, a wrong number of fields or a
        non-numeric value in a numeric column.
        """
        if isinstance(records, pd.DataFrame):
            return self._apply_frame(records)
        return self._apply_rows(records)

    def _apply_frame(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"Column '{missing[0]}' not found in the records; expected columns: {', '.join(self.input_columns)}"
            )
        out = np.zeros((len(frame), len(self.feature_names)), dtype=np.float64)
        for column, start, index in self._layout:
            if index is None:
                out[:, start] = numeric_column(frame[column], column)
                continue
            codes = frame[column].map(_category).map(index)
            rows = np.flatnonzero(codes.notna().to_numpy())
            out[rows, start + codes.iloc[rows].to_numpy(dtype=np.int64)] = 1.0
        return out

    def apply_request(
        self, rows: Sequence[Sequence[Any]], policy: InputPolicy, unseen: dict[str, int] | None = None
    ) -> np.ndarray:
        """Positional records of a request -> the float matrix, refusing what ``policy`` does not allow.

        Raises ValueError naming the record and the feature for a non-finite value and naming the record for an
        all-empty one (unless allowed); adds to ``unseen`` per column the values training never saw.
        """
        out = self._apply_rows(rows, unseen, finite=not policy.allow_non_finite)
        if not policy.allow_empty_records and len(rows):
            numeric = [start for _, start, index in self._layout if index is None]
            categorical = np.ones(out.shape[1], dtype=bool)
            categorical[numeric] = False
            empty = np.isnan(out[:, numeric]).all(axis=1) & ~out[:, categorical].any(axis=1)
            for r in np.flatnonzero(empty):
                if all(_is_missing(v) for v in rows[r]):
                    raise ValueError(
                        f"Record {r + 1} is empty: every feature ({', '.join(self.input_columns)}) is missing, "
                        "and this model refuses records without any value"
                    )
        return out

    def _apply_rows(
        self, rows: Sequence[Sequence[Any]], unseen: dict[str, int] | None = None, finite: bool = False
    ) -> np.ndarray:
        width = len(self.input_columns)
        for r, row in enumerate(rows):
            if isinstance(row, (str, bytes)) or not isinstance(row, (Sequence, np.ndarray)):
                raise ValueError(f"Record {r + 1} must be a list of {width} values, got {type(row).__name__}")
            if len(row) != width:
                example = _csv_line(row)[:80]
                raise ValueError(
                    f"Record {r + 1} has {len(row)} field(s), expected {width} "
                    f"({', '.join(self.input_columns)}); got: {example!r}"
                )
        out = np.zeros((len(rows), len(self.feature_names)), dtype=np.float64)
        if not len(rows):
            return out
        for (column, start, index), values in zip(self._layout, zip(*rows, strict=True), strict=True):
            if index is None:
                out[:, start] = self._numbers(values, column, finite)
                continue
            for r, value in enumerate(values):
                offset = index.get(value) if type(value) is str else None  # the common case: an exact match
                if offset is None:
                    if isinstance(value, (list, dict, tuple)):
                        raise ValueError(f"Column '{column}' must be a single value, got {value!r} (record {r + 1})")
                    category = _category(value)
                    offset = index.get(category) if category is not None else None
                    if offset is None and category is not None and unseen is not None:
                        unseen[column] = unseen.get(column, 0) + 1
                if offset is not None:
                    out[r, start + offset] = 1.0
        return out

    @staticmethod
    def _numbers(values: tuple[Any, ...], column: str, finite: bool = False) -> np.ndarray:
        """One numeric column of positional records: numpy's parser when every value is a plain number or
        numeric text, else value by value (missing-value markers, and a clear error for anything else).
        ``finite``: a ValueError naming the record for an infinite or NaN number (missing values pass)."""
        try:
            if any(type(v) is bool or isinstance(v, (np.bool_, list, dict, tuple)) for v in values):
                raise TypeError("not plain numbers")
            if not _plain_text("".join([v for v in values if type(v) is str])):
                raise TypeError("not plain number text")
            numbers = np.array(values, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            numbers = np.array([_to_float(v, column, f" (record {r + 1})") for r, v in enumerate(values)])
        if finite:
            with np.errstate(over="ignore"):  # the booster reads 32-bit floats: 1e39 is inf to it
                overflow = np.isinf(numbers.astype(np.float32)) & np.isfinite(numbers)
            for r in np.flatnonzero(~np.isfinite(numbers) | overflow):
                if overflow[r] or _non_finite(values[r], numbers[r]):
                    raise ValueError(
                        f"Record {r + 1}, feature '{column}': {values[r]!r} is not a finite number"
                        + (FLOAT32_NOTE if overflow[r] else "")
                        + ", and this model refuses infinite and NaN values (send a missing value as an empty field "
                        "or null)"
                    )
        return numbers

    def to_dict(self) -> dict[str, Any]:
        """The transform as a JSON-ready dict."""
        return {
            "format": FORMAT,
            "input_columns": list(self.input_columns),
            "numeric": list(self.numeric),
            "categorical": {name: list(values) for name, values in self.categories},
            "feature_names": list(self.feature_names),
        }

    def to_json(self, extra: Mapping[str, Any] | None = None) -> str:
        """The transform as JSON text; ``extra`` adds top-level keys (e.g. the data schema) that loading ignores."""
        return json.dumps({**self.to_dict(), **(extra or {})}, indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureTransform:
        """Load a transform written by ``to_dict``; ValueError if it is not one."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"Not a feature transform: expected format {FORMAT!r}, got {found!r}")
        try:
            inputs = tuple(str(c) for c in data["input_columns"])
            numeric = tuple(str(c) for c in data["numeric"])
            categorical = data["categorical"]
            categories = tuple((str(k), tuple(str(v) for v in categorical[k])) for k in inputs if k in categorical)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"Malformed feature transform: {exc!r}") from exc
        unknown = set(inputs) - set(numeric) - set(dict(categories))
        if unknown:
            raise ValueError(
                f"Malformed feature transform: columns {sorted(unknown)} are neither numeric nor categorical"
            )
        return cls(inputs, numeric, categories)

    @classmethod
    def from_json(cls, text: str | bytes) -> FeatureTransform:
        """Load a transform from JSON text written by ``to_json``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Feature transform is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def fit_transform(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> FeatureTransform:
    """Fit a transform on raw training features.

    ``input_columns`` keeps the frame's column order (so positional records follow the data file's order);
    categories are the distinct non-missing values of each categorical column, as text, sorted. Raises
    ValueError for a missing column, a column listed twice, or a non-numeric value in a numeric column.
    """
    numeric, categorical = list(numeric), list(categorical)
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ValueError(f"Column '{both[0]}' is listed as both numeric and categorical")
    wanted = numeric + categorical
    if not wanted:
        raise ValueError("No feature columns: give at least one numeric or categorical column")
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(
            f"Column '{missing[0]}' not found in the training features; "
            f"columns are: {', '.join(map(str, frame.columns))}"
        )
    for column in numeric:
        numeric_column(frame[column], column)  # validates, with the column and an example in the message
    categories = []
    for column in categorical:
        values = {c for c in frame[column].map(_category) if c is not None}
        categories.append((column, tuple(sorted(values))))
    inputs = tuple(str(c) for c in frame.columns if c in set(wanted))
    order = {c: i for i, c in enumerate(inputs)}
    return FeatureTransform(
        input_columns=inputs,
        numeric=tuple(sorted(numeric, key=order.__getitem__)),
        categories=tuple(sorted(categories, key=lambda item: order[item[0]])),
    )
