"""The shared feature transform on the bundled abalone data: fit, apply (frames and rows), JSON, errors."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder

from inference.feature_transform import FeatureTransform, InputPolicy, fit_transform
from tests.conftest import ABALONE

NUMERIC = ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(ABALONE, dtype=str).drop(columns="rings")


@pytest.fixture(scope="module")
def transform(raw) -> FeatureTransform:
    return fit_transform(raw, NUMERIC, ["sex"])


def test_fit_keeps_the_file_order_and_sorts_categories(transform):
    assert transform.input_columns == ("sex", *NUMERIC)
    assert transform.categorical == ("sex",)
    assert dict(transform.categories) == {"sex": ("F", "I", "M")}
    assert transform.feature_names == ("sex=F", "sex=I", "sex=M", *NUMERIC)


def test_apply_one_hot_encodes_and_keeps_numbers(transform, raw):
    matrix = transform.apply(raw)
    assert matrix.shape == (4177, 10) and matrix.dtype == np.float64
    assert matrix[:, :3].sum(axis=1).tolist() == [1.0] * 4177
    first = raw.iloc[0]  # M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15
    assert first["sex"] == "M"
    assert matrix[0].tolist() == [0, 0, 1, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]
    np.testing.assert_array_equal(matrix[:, 3:], raw[list(NUMERIC)].astype(float).to_numpy())


def test_positional_rows_give_the_same_matrix_as_the_frame(transform, raw):
    rows = raw.to_numpy().tolist()
    np.testing.assert_array_equal(transform.apply(rows), transform.apply(raw))
    # numbers as numbers (JSON) and as text (CSV) agree
    numbers = [[r[0], *map(float, r[1:])] for r in rows[:50]]
    np.testing.assert_array_equal(transform.apply(numbers), transform.apply(raw.iloc[:50]))


def test_frame_columns_are_found_by_name_in_any_order(transform, raw):
    shuffled = raw[list(reversed(raw.columns))].assign(extra="ignored")
    np.testing.assert_array_equal(transform.apply(shuffled), transform.apply(raw))


def test_unseen_and_missing_categories_encode_as_zeros_and_missing_numbers_as_nan(transform):
    matrix = transform.apply([["X", "0.5", "", "NA", None, "nan", " 0.25 ", 1], [None, *["1"] * 7], ["", *["1"] * 7]])
    assert matrix[0, :3].tolist() == [0, 0, 0]
    assert matrix[0, 3] == 0.5 and matrix[0, 8] == 0.25 and matrix[0, 9] == 1.0
    assert all(math.isnan(v) for v in matrix[0, 4:8])
    assert matrix[1, :3].tolist() == [0, 0, 0] and matrix[2, :3].tolist() == [0, 0, 0]
    frame = pd.DataFrame([{"sex": "X", **dict.fromkeys(NUMERIC, np.nan)}])
    assert np.isnan(transform.apply(frame)[0, 3:]).all() and transform.apply(frame)[0, :3].tolist() == [0, 0, 0]


def test_json_round_trip(transform, raw):
    text = transform.to_json({"schema": {"target": "rings"}})
    data = json.loads(text)
    assert data["input_columns"] == list(transform.input_columns)
    assert data["categorical"] == {"sex": ["F", "I", "M"]}
    assert data["feature_names"] == list(transform.feature_names)
    assert data["schema"] == {"target": "rings"}
    loaded = FeatureTransform.from_json(text)
    assert loaded == transform
    np.testing.assert_array_equal(loaded.apply(raw), transform.apply(raw))


def test_non_numeric_values_are_named_with_column_and_example(transform, raw):
    with pytest.raises(ValueError, match=r"Column 'height' must be numeric, got 'tall' \(record 2\)"):
        transform.apply([raw.iloc[0].tolist(), ["M", "0.4", "0.3", "tall", "1", "1", "1", "1"]])
    with pytest.raises(ValueError, match=r"Column 'length' must be numeric, got True"):
        transform.apply([["M", True, 1, 1, 1, 1, 1, 1]])
    broken = raw.iloc[:5].copy()
    broken.loc[3, "diameter"] = "wide"
    with pytest.raises(ValueError, match=r"Column 'diameter' must be numeric, got 'wide' \(record 4\)"):
        transform.apply(broken)
    with pytest.raises(ValueError, match=r"Column 'diameter' must be numeric, got 'wide'"):
        fit_transform(broken, NUMERIC, ["sex"])


def test_wrong_field_counts_and_missing_columns_are_rejected(transform, raw):
    with pytest.raises(ValueError, match=r"Record 1 has 7 field\(s\), expected 8 \(sex, length, diameter"):
        transform.apply([["M", "1", "1", "1", "1", "1", "1"]])
    with pytest.raises(ValueError, match=r"Record 1 must be a list of 8 values, got str"):
        transform.apply(["M,1,1,1,1,1,1,1"])
    with pytest.raises(ValueError, match=r"Column 'sex' must be a single value"):
        transform.apply([[["M"], "1", "1", "1", "1", "1", "1", "1"]])
    with pytest.raises(ValueError, match=r"Column 'height' not found in the records; expected columns: sex, length"):
        transform.apply(raw.drop(columns="height"))
    with pytest.raises(ValueError, match=r"Column 'weight' not found in the training features; columns are: sex"):
        fit_transform(raw, [*NUMERIC, "weight"], ["sex"])
    with pytest.raises(ValueError, match=r"Column 'sex' is listed as both numeric and categorical"):
        fit_transform(raw, ["sex"], ["sex"])


def test_loading_rejects_what_is_not_a_transform():
    with pytest.raises(ValueError, match=r"Not a feature transform: expected format 'feature-transform/v1'"):
        FeatureTransform.from_json('{"input_columns": []}')
    with pytest.raises(ValueError, match=r"not valid JSON"):
        FeatureTransform.from_json("{")
    with pytest.raises(ValueError, match=r"neither numeric nor categorical"):
        FeatureTransform.from_dict(
            {"format": "feature-transform/v1", "input_columns": ["a", "b"], "numeric": ["a"], "categorical": {}}
        )


def test_input_policy_defaults_to_refusing_and_names_a_malformed_field():
    assert InputPolicy.from_dict({"format": "feature-transform/v1"}) == InputPolicy(False, False)  # old transform.json
    allowing = {"input_policy": {"allow_non_finite": True, "allow_empty_records": True}}
    assert InputPolicy.from_dict(allowing) == InputPolicy(True, True)
    assert InputPolicy.from_dict({"input_policy": {"allow_empty_records": True}}) == InputPolicy(False, True)
    for bad, shown in (({"allow_non_finite": "yes"}, "allow_non_finite='yes'"), ({"strict": True}, "strict=True")):
        with pytest.raises(ValueError, match=rf"input_policy must map allow_non_finite and .* got {shown}"):
            InputPolicy.from_dict({"input_policy": bad})
    with pytest.raises(ValueError, match=r"input_policy must map .* got input_policy=\[1\]"):
        InputPolicy.from_dict({"input_policy": [1]})


def test_apply_request_refuses_non_finite_and_empty_records_unless_allowed(transform):
    row = ["M", "0.5", "0.4", "0.1", "0.5", "0.2", "0.1", "0.1"]
    strict, lenient = InputPolicy(), InputPolicy(True, True)
    for value, shown in (("inf", "'inf'"), ("1e999", "'1e999'"), (" -nan ", "' -nan '"), (math.inf, "inf")):
        bad = [row, [*row[:4], value, *row[5:]]]
        with pytest.raises(ValueError, match=rf"Record 2, feature 'whole_weight': {re.escape(shown)} is not a finite"):
            transform.apply_request(bad, strict)
        assert not np.isfinite(transform.apply_request(bad, lenient)[1, 6])
        np.testing.assert_array_equal(transform.apply(bad)[0], transform.apply_request(bad, lenient)[0])
    empty = [row, ["", None, "NA", "N/A", "", "", "", ""]]
    with pytest.raises(ValueError, match=r"Record 2 is empty: every feature \(sex, length, .*\) is missing"):
        transform.apply_request(empty, strict)
    assert np.isnan(transform.apply_request(empty, lenient)[1, 3:]).all()
    missing = [["", None, "NA", "", "", "", "", "0.1"], ["X", "", "", "", "", "", "", ""]]  # a value, or unseen
    np.testing.assert_array_equal(transform.apply_request(missing, strict), transform.apply(missing))


def test_apply_request_counts_unseen_categories_by_column(transform):
    unseen: dict[str, int] = {}
    rows = [["X", *["1"] * 7], [" M ", *["1"] * 7], ["", *["1"] * 7], [None, *["1"] * 7], [7, *["1"] * 7]]
    matrix = transform.apply_request(rows, InputPolicy(), unseen)
    assert unseen == {"sex": 2}  # X and 7; missing values are not unseen
    assert matrix[:, :3].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]]


# -- scikit-learn as the oracle: ColumnTransformer + OneHotEncoder(categories=<sorted training values>) ------------

# Categorical and numeric columns interleaved; codes that look like numbers but are categories (grade: sorted as
# text, "10" before "2"); missing values written as pandas writes them (empty, NA, n/a, null); unseen categories
# and missing values at apply time.
TRAIN_CSV = """colour,size,grade,weight,shape
red,1.5,2,10,round
blue,,10,12.5,square
red,2.25,1,NA,
green,3,2,7,round
,4.5,10,n/a,oval
blue,0.5,NA,11,square
"""
APPLY_CSV = """colour,size,grade,weight,shape
purple,1,3,5,round
,null,,,
green,2,10,8.5,triangle
red,NA,1,9,oval
blue,7.75,2,,square
"""


def read(text: str, categorical: list[str], as_text: bool) -> pd.DataFrame:
    """The CSV as the transform gets it (every field as text, as training reads it) or as the oracle gets it
    (pandas' own number parsing of the numeric columns, categories as text; the same missing-value markers)."""
    return pd.read_csv(io.StringIO(text), dtype=str if as_text else dict.fromkeys(categorical, str))


def oracle(train: pd.DataFrame, columns: list[str], categorical: list[str]) -> ColumnTransformer:
    """One step per column, in file order: a one-hot encoder over the sorted non-missing training values (an
    unseen or missing value encodes as zeros) or the number passed through (missing stays NaN)."""
    steps = [
        (
            column,
            OneHotEncoder(
                categories=[sorted(train[column].dropna().unique())],
                handle_unknown="ignore",
                sparse_output=False,
                feature_name_combiner=lambda feature, category: f"{feature}={category}",
            ),
            [column],
        )
        if column in categorical
        else (column, "passthrough", [column])
        for column in columns
    ]
    return ColumnTransformer(steps, sparse_threshold=0, verbose_feature_names_out=False).fit(train)


@pytest.mark.parametrize(
    ("train_text", "apply_text", "numeric", "categorical"),
    [
        (ABALONE.read_text(), ABALONE.read_text(), list(NUMERIC), ["sex"]),
        (TRAIN_CSV, APPLY_CSV, ["size", "weight"], ["colour", "grade", "shape"]),
    ],
    ids=["abalone", "interleaved-missing-unseen"],
)
def test_the_transform_is_scikit_learns_one_hot_encoding_with_numbers_passed_through(
    train_text, apply_text, numeric, categorical
):
    train = read(train_text, categorical, as_text=True).drop(columns="rings", errors="ignore")
    records = read(apply_text, categorical, as_text=True).drop(columns="rings", errors="ignore")
    fitted = fit_transform(train, numeric, categorical)
    expected_train = read(train_text, categorical, as_text=False).drop(columns="rings", errors="ignore")
    reference = oracle(expected_train, list(train.columns), categorical)

    expected = reference.transform(read(apply_text, categorical, as_text=False))
    assert fitted.feature_names == tuple(reference.get_feature_names_out())
    np.testing.assert_array_equal(fitted.apply(records), expected)  # NaN where NaN
    positional = records.astype(object).where(records.notna(), None).to_numpy().tolist()  # JSON-like rows
    np.testing.assert_array_equal(fitted.apply(positional), expected)
    np.testing.assert_array_equal(FeatureTransform.from_json(fitted.to_json()).apply(records), expected)


def test_apply_request_refuses_numbers_beyond_32_bit_floats_unless_allowed(transform):
    """The booster reads 32-bit floats: 1e39 reached it as inf and was answered although the model refuses inf
    (training refuses such numbers too)."""
    row = ["M", "0.5", "0.4", "0.1", "0.5", "0.2", "0.1", "0.1"]
    strict, lenient = InputPolicy(), InputPolicy(True, True)
    for value in ("1e39", "-3.5e38", 1e300, 10**39):
        bad = [row, [*row[:2], value, *row[3:]]]
        with pytest.raises(
            ValueError, match=r"Record 2, feature 'diameter': .* is not a finite number for the model, "
        ):
            transform.apply_request(bad, strict)
        assert transform.apply_request(bad, lenient)[1, 4] == float(value)
    largest = [[*row[:2], "3.4028235e38", *row[3:]], [*row[:2], "1e-320", *row[3:]], [*row[:2], "-0.0", *row[3:]]]
    np.testing.assert_array_equal(transform.apply_request(largest, strict), transform.apply(largest))
