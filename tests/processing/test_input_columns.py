"""Preprocess on degenerate input files that pandas or XGBoost used to get wrong or fail on without a name: numbers
beyond XGBoost's 32-bit floats, rows with one field more than the header, duplicated column names, a
semicolon-separated file and nested Parquet values. Each is refused naming the file, the column or the row, with
nothing written; ordinary data reads as before."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from processing.preprocess import preprocess
from tests.processing.test_preprocess import HEADER, LINES, expect_error, with_value, write
from tests.training.steps import REGRESSION

ROWS = [line.rstrip("\r") for line in LINES[:300]]
RANGE = r"not finite numbers of at most 3\.4028235e\+38 in magnitude \(XGBoost reads 32-bit floats\)"


@pytest.mark.parametrize(("column", "value"), [(1, "1e308"), (1, "-4e38"), (8, "1e39")])
def test_numbers_beyond_32_bit_floats_are_refused_naming_file_column_and_row(tmp_path, column, value):
    """XGBoost reads 32-bit floats: 1e39 became inf and Train failed with an XGBoostError naming nothing."""
    lines = [HEADER, *ROWS]
    lines[5] = with_value(lines[5], column, value)
    name = HEADER.split(",")[column].strip()
    source = write(tmp_path / "big.csv", lines)
    pattern = rf"^Column '{name}' in .*big\.csv must be numeric, but row 6 \(row 1 is the header\) holds '{value}'; 1 "
    expect_error(tmp_path, source, REGRESSION, pattern + "value.s. in the column that are " + RANGE)


def test_tiny_and_negative_zero_numbers_are_kept(tmp_path):
    lines = [HEADER, *ROWS]
    lines[3], lines[4] = with_value(lines[3], 1, "1e-320"), with_value(lines[4], 1, "-0.0")
    lines[5] = with_value(lines[5], 1, "3.4028235e38")  # the largest 32-bit float
    result = preprocess(write(tmp_path / "tiny.csv", lines), tmp_path / "out", REGRESSION)
    assert sum(result.rows.values()) == 300


def test_a_parquet_double_beyond_32_bit_floats_is_refused_naming_the_row(tmp_path):
    table = pa.table({"sex": ["M", "F", "I"], "length": [0.4, 1e300, None], "rings": [1, 2, 3]})
    schema = REGRESSION.__class__("rings", ("length",), ("sex",))
    path = tmp_path / "big.parquet"
    pq.write_table(table, path)
    pattern = r"^Column 'length' in .*big\.parquet must be a finite number, but row 2 holds 1e\+300; 1 value.s. "
    expect_error(tmp_path, path, schema, pattern + "in the column that are " + RANGE)


def test_rows_with_one_field_more_than_the_header_are_refused_not_shifted(tmp_path):
    """Every row ending in a comma made pandas take the first column as the index: each value moved one column
    left, and the run failed on an empty target (or, with a value in that field, trained on shifted columns)."""
    for name, rows in {"trailing": [r + "," for r in ROWS], "extra": [r + ",9" for r in ROWS]}.items():
        source = write(tmp_path / f"{name}.csv", [HEADER, *rows])
        pattern = rf"^{tmp_path}/{name}\.csv is not a readable CSV file: .*Expected 9 fields in line 2, saw 10; "
        expect_error(tmp_path, source, REGRESSION, pattern + "every row must have at most the header's number")
    one = write(tmp_path / "one.csv", [HEADER, *ROWS[:8], ROWS[8] + ",9", *ROWS[9:]])
    expect_error(tmp_path, one, REGRESSION, r"Expected 9 fields in line 10, saw 10")


def test_a_header_ending_in_a_comma_still_reads(tmp_path):
    result = preprocess(write(tmp_path / "h.csv", [HEADER + ",", *[r + "," for r in ROWS]]), tmp_path / "o", REGRESSION)
    assert result.ignored_columns == ("Unnamed: 9",) and sum(result.rows.values()) == 300


@pytest.mark.parametrize("duplicate", ["length", " length "])
def test_a_schema_column_named_twice_in_the_header_is_refused(tmp_path, duplicate):
    """An exact duplicate was renamed 'length.1' by pandas and silently ignored; one that differs by spaces at the
    ends failed with a TypeError traceback."""
    source = write(tmp_path / "dup.csv", [HEADER + f",{duplicate}", *[r + ",9" for r in ROWS]])
    pattern = r"^Column 'length' appears 2 times among the columns of .*dup\.csv \(columns 2, 10, names trimmed of "
    expect_error(tmp_path, source, REGRESSION, pattern)


def test_a_parquet_column_named_twice_after_trimming_is_refused(tmp_path):
    """It failed with an AttributeError traceback in the split."""
    names = ["sex", "length", "length ", "rings"]
    table = pa.Table.from_arrays(
        [pa.array(["M", "F"]), pa.array([0.1, 0.2]), pa.array([1.0, 2.0]), pa.array([1, 2])], names
    )
    path = tmp_path / "dup.parquet"
    pq.write_table(table, path)
    schema = REGRESSION.__class__("rings", ("length",), ("sex",))
    expect_error(tmp_path, path, schema, r"^Column 'length' appears 2 times among the columns of .*dup\.parquet")


def test_a_semicolon_separated_file_is_named_as_such(tmp_path):
    source = write(tmp_path / "semi.csv", [line.replace(",", ";") for line in [HEADER, *ROWS]])
    expect_error(tmp_path, source, REGRESSION, r"\(the header is one column holding semicolons: the file must be comma")


def test_a_nested_parquet_column_is_refused(tmp_path):
    """A list column was read as the text '[1 2]', a category no request can ever send."""
    table = pa.table({"sex": [[1, 2], [3]], "length": [0.1, 0.2], "rings": [1, 2]})
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    schema = REGRESSION.__class__("rings", ("length",), ("sex",))
    expect_error(
        tmp_path, path, schema, r"^Column 'sex' in .*nested\.parquet has Parquet type list<.*one value per row"
    )


def test_identical_rows_that_cannot_be_split_are_counted_as_such(tmp_path):
    """50 copies of one row said 'give more rows': they always share a split, whatever their number."""
    source = write(tmp_path / "same.csv", [HEADER, *[ROWS[0]] * 50])
    expect_error(tmp_path, source, REGRESSION, r"^50 data row\(s\) \(1 distinct: identical rows share a split\) cannot")


def test_an_identifier_as_a_categorical_column_is_refused_before_it_is_encoded(tmp_path):
    """One value per row was one-hot encoded: 20,000 rows took 7 minutes, 5 GB of memory and 1 GB of files."""
    rows = [f"{row},id-{i}" for i, row in enumerate(ROWS + [line.rstrip("\r") for line in LINES[300:1800]])]
    source = write(tmp_path / "ids.csv", [HEADER + ",customer", *rows])
    schema = REGRESSION.__class__("rings", REGRESSION.numeric, ("sex", "customer"))
    pattern = (
        r"^Categorical column 'customer' in .*ids\.csv has 1\d{3} distinct values in the 1\d{3} training rows "
        r"\(e\.g\. 'id-\d+', .*\): at most 1000 are one-hot encoded\. An identifier"
    )
    expect_error(tmp_path, source, schema, pattern)


def test_column_names_holding_a_comma_travel_as_a_json_list(tmp_path):
    """``--numeric len,gth`` splits at the comma ('Column 'len' not found'): a JSON list keeps such names whole."""
    from processing.preprocess import main

    header = HEADER.replace("length", "len,gth", 1).replace("len,gth", '"len,gth"', 1)
    source = write(tmp_path / "comma.csv", [header, *ROWS])
    numeric = '["len,gth", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"]'
    argv = ["--input-dir", str(source), "--output-dir", str(tmp_path / "out"), "--failure-file", str(tmp_path / "m")]
    assert main([*argv, "--target", "rings", "--numeric", numeric, "--categorical", "sex"]) == 0
    assert (tmp_path / "out" / "baseline" / "baseline-00.csv").read_text().startswith('sex,"len,gth",diameter')
    with pytest.raises(SystemExit):
        main([*argv, "--target", "rings", "--numeric", '["len,gth", 3]'])
