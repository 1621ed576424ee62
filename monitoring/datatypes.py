"""Deequ's data-type inference, vectorised over Arrow arrays.

Model Monitor reads every value as text and classifies it with Deequ's patterns
(``StatefulDataType``): fractional ``^(-|\\+)? ?\\d*\\.\\d*$``, integral ``^(-|\\+)? ?\\d*$``,
boolean ``^(true|false)$``, anything else string; nulls are missing. A column's type is then
Unknown (all missing), String (any string, or booleans mixed with numbers), Fractional (any
fractional) or Integral. Model Monitor reports booleans as String.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.type_names import BOOLEAN_PATTERN, FRACTIONAL_PATTERN, INTEGRAL_PATTERN

# Characters outside these never occur in a value matching the numeric patterns.
_NON_NUMERIC_CHAR = r"[^0-9.+ -]"


@dataclass
class TypedChunk:
    """One chunk of one column, classified: type counts and the numeric values in order."""

    num_missing: int
    num_integral: int
    num_fractional: int
    num_boolean: int
    num_string: int
    numbers: np.ndarray  # float64 values of the integral and fractional items, in row order
    present: pa.Array  # the non-null values, in their own type

    def texts(self) -> pa.Array:
        """The non-null values as strings (for frequencies); cast only when asked, it costs."""
        kind = self.present.type
        return (
            self.present
            if pa.types.is_string(kind) or pa.types.is_large_string(kind)
            else pc.cast(self.present, pa.string())
        )


def _parse_numbers(texts: pa.Array) -> np.ndarray:
    """Float values of texts that match a numeric pattern; unparseable ones (".", "-") become NaN."""
    try:
        return pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = np.empty(len(texts), dtype=np.float64)
        for i, text in enumerate(texts.to_pylist()):
            try:
                out[i] = float(text.replace(" ", ""))
            except ValueError:
                out[i] = np.nan
        return out


def classify_text(values: pa.Array) -> TypedChunk:
    """Classify a string array (nulls are missing) into Deequ's types and extract its numbers."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    missing = values.null_count
    texts = values.drop_null() if missing else values
    n = len(texts)
    if n == 0:
        return TypedChunk(missing, 0, 0, 0, 0, np.empty(0), texts)
    # Fast path: every value is a plain decimal number (the common case for numeric features).
    if not pc.any(pc.match_substring_regex(texts, _NON_NUMERIC_CHAR)).as_py():
        try:
            numbers = pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers = None
        if numbers is not None:
            fractional = int(pc.sum(pc.match_substring(texts, ".")).as_py() or 0)
            return TypedChunk(missing, n - fractional, fractional, 0, 0, numbers, texts)
    is_fractional = pc.match_substring_regex(texts, FRACTIONAL_PATTERN)
    is_integral = pc.match_substring_regex(texts, INTEGRAL_PATTERN)
    is_boolean = pc.match_substring_regex(texts, BOOLEAN_PATTERN)
    num_fractional = int(pc.sum(is_fractional).as_py() or 0)
    num_integral = int(pc.sum(is_integral).as_py() or 0)
    num_boolean = int(pc.sum(is_boolean).as_py() or 0)
    numeric = pc.or_(is_fractional, is_integral)
    numbers = _parse_numbers(pc.filter(texts, numeric)) if (num_fractional or num_integral) else np.empty(0)
    numbers = numbers[~np.isnan(numbers)] if numbers.size else numbers
    num_string = n - num_fractional - num_integral - num_boolean
    return TypedChunk(missing, num_integral, num_fractional, num_boolean, num_string, numbers, texts)


def classify_with_counts(values: pa.Array, counts: pa.StructArray) -> TypedChunk:
    """Classify a string array from its distinct values (``pc.value_counts`` of its non-null values): the
    patterns run once per distinct value instead of once per row, which is what low-cardinality columns need."""
    missing = values.null_count
    present = values.drop_null() if missing else values
    distinct = counts.field("values")
    weights = counts.field("counts").to_numpy(zero_copy_only=False)
    is_fractional = pc.match_substring_regex(distinct, FRACTIONAL_PATTERN).to_numpy(zero_copy_only=False)
    is_integral = pc.match_substring_regex(distinct, INTEGRAL_PATTERN).to_numpy(zero_copy_only=False)
    is_boolean = pc.match_substring_regex(distinct, BOOLEAN_PATTERN).to_numpy(zero_copy_only=False)
    num_fractional = int(weights[is_fractional].sum())
    num_integral = int(weights[is_integral].sum())
    num_boolean = int(weights[is_boolean].sum())
    numeric = is_fractional | is_integral
    numbers = np.empty(0)
    if numeric.any():
        numeric_values = distinct.filter(pa.array(numeric))
        rows = present if numeric.all() else present.filter(pc.is_in(present, value_set=numeric_values))
        numbers = _parse_numbers(rows)
        numbers = numbers[~np.isnan(numbers)]
    num_string = len(present) - num_fractional - num_integral - num_boolean
    return TypedChunk(missing, num_integral, num_fractional, num_boolean, num_string, numbers, present)


def is_text(values: pa.Array) -> bool:
    return pa.types.is_string(values.type) or pa.types.is_large_string(values.type)


def classify(values: pa.Array) -> TypedChunk:
    """Classify an Arrow array of any type (typed sources such as Parquet keep their numbers)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if pa.types.is_integer(kind):
        present = values.drop_null()
        numbers = present.to_numpy(zero_copy_only=False).astype(np.float64)
        return TypedChunk(values.null_count, len(present), 0, 0, 0, numbers, present)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        floats = pc.cast(values, pa.float64())
        present = pc.drop_null(floats)
        numbers = present.to_numpy(zero_copy_only=False)
        nan = np.isnan(numbers)
        if nan.any():  # NaN is missing here, as it is for the model's own input
            numbers = numbers[~nan]
            present = pa.array(numbers)
        missing = len(values) - numbers.size
        return TypedChunk(missing, 0, numbers.size, 0, 0, numbers, present)
    if pa.types.is_boolean(kind):
        present = values.drop_null()
        return TypedChunk(values.null_count, 0, 0, len(present), 0, np.empty(0), present)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return classify_text(values)
    return classify_text(pc.cast(values, pa.string()))
