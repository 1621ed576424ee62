"""Preprocess's input as a directory (an S3 prefix on SageMaker) of CSV and Parquet files: the same outputs, byte for
byte, as the one CSV file holding the same rows (the split is by each row's hash, never by its file), and every
kind of bad Parquet file, and an empty directory, refused with the file and the column named and nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from processing.input_data import DataSchema, DataValidationError, input_files, read_checked
from processing.preprocess import preprocess
from tests.conftest import ABALONE
from tests.processing.test_preprocess import HEADER, LINES, expect_error, files_under, write
from tests.training.steps import REGRESSION

CUTS = (0, 1400, 2900, len(LINES))  # three uneven parts of the bundled rows, in order


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, bytes]:
    """Preprocess's outputs for the bundled one-file input."""
    out = tmp_path_factory.mktemp("reference") / "out"
    preprocess(ABALONE, out, REGRESSION)
    return outputs(out)


def outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in files_under(out)}


def part(lines: list[str]) -> pd.DataFrame:
    """Rows of the bundled file as pandas reads them (numbers as int64 / float64), as a Parquet writer gets them."""
    return pd.read_csv(pd.io.common.StringIO("\n".join([HEADER, *lines]) + "\n"))


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def test_a_directory_of_three_csv_files_gives_the_one_files_outputs(tmp_path, reference):
    data = tmp_path / "in"
    data.mkdir()
    for i, name in enumerate(("part-0.csv", "part-1.csv", "part-2.csv")):
        write(data / name, [HEADER, *LINES[CUTS[i] : CUTS[i + 1]]])
    (data / "_SUCCESS").write_text("")  # what Spark leaves next to its parts: not data, skipped
    result = preprocess(data, tmp_path / "out", REGRESSION)
    assert [Path(p).name for p in result.source_files] == ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert outputs(tmp_path / "out") == reference


def test_a_directory_of_two_parquet_files_gives_the_one_files_outputs(tmp_path, reference):
    data = tmp_path / "in"
    data.mkdir()
    write_parquet(data / "a.parquet", part(LINES[:2000]))
    write_parquet(data / "b.pq", part(LINES[2000:]))
    assert pq.read_schema(data / "a.parquet").field("rings").type == pa.int64()  # real number types
    preprocess(data, tmp_path / "out", REGRESSION)
    assert outputs(tmp_path / "out") == reference


def test_csv_and_parquet_files_may_be_mixed(tmp_path, reference):
    data = tmp_path / "in"
    (data / "2024").mkdir(parents=True)
    write(data / "2024" / "a.csv", [HEADER, *LINES[:1000]])
    write_parquet(data / "2024" / "b.parquet", part(LINES[1000:]))
    preprocess(data, tmp_path / "out", REGRESSION)
    assert outputs(tmp_path / "out") == reference


def test_parquet_with_missing_feature_values_is_read(tmp_path):
    frame = part(LINES[:300])
    frame.loc[3, "length"] = None  # float column: NaN -> missing, as an empty CSV field
    frame.loc[4, "sex"] = None
    source = write_parquet(tmp_path / "gaps.parquet", frame)
    result = preprocess(source, tmp_path / "out", REGRESSION)
    assert sum(result.rows.values()) == 300


def test_a_numeric_column_of_a_non_number_parquet_type_names_file_column_and_type(tmp_path):
    frame = part(LINES[:50]).astype({"height": str})
    source = write_parquet(tmp_path / "typed.parquet", frame)
    expect_error(
        tmp_path,
        source,
        REGRESSION,
        rf"Column 'height' in {re.escape(str(source))} has Parquet type string: expected a number type",
    )


def test_a_parquet_file_without_a_schema_column_is_named(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    write_parquet(data / "a.parquet", part(LINES[:100]))
    source = write_parquet(data / "b.parquet", part(LINES[100:200]).drop(columns=["shell_weight"]))
    expect_error(tmp_path, data, REGRESSION, rf"^Column 'shell_weight' not found in {re.escape(str(source))}; columns")


def test_a_corrupt_parquet_file_is_named(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    write(data / "a.csv", [HEADER, *LINES[:100]])
    source = data / "b.parquet"
    source.write_bytes(b"PAR1 this is not a parquet file")
    expect_error(tmp_path, data, REGRESSION, rf"^{re.escape(str(source))} is not a readable Parquet file: ")


def test_a_missing_target_in_parquet_names_the_row(tmp_path):
    frame = part(LINES[:40]).astype({"rings": "float64"})
    frame.loc[9, "rings"] = None
    source = write_parquet(tmp_path / "no-target.parquet", frame)
    expect_error(
        tmp_path,
        source,
        REGRESSION,
        rf"Column 'rings' \(the target\) is empty at row 10 of {re.escape(str(source))}; 1 row",
    )


def test_an_empty_parquet_file_is_refused(tmp_path):
    source = write_parquet(tmp_path / "empty.parquet", part([]))
    expect_error(tmp_path, source, REGRESSION, rf"^{re.escape(str(source))} has no rows$")


def test_an_empty_directory_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / ".hidden.csv").write_text(HEADER + "\n")  # hidden files are not data
    expect_error(
        tmp_path, tmp_path / "in", REGRESSION, r"No \.csv, \.parquet or \.pq files in .*in; found: \.hidden\.csv"
    )
    with pytest.raises(ValueError, match=r"does not exist: expected a CSV or Parquet file or a directory of them"):
        input_files(tmp_path / "nowhere")


def _numpy_text(values) -> list[str | None]:
    """The oracle: numpy's shortest round-trip positional text of each float, one at a time; str of anything else."""
    import numpy as np

    if values.dtype.kind == "f":
        return [None if np.isnan(v) else np.format_float_positional(v, unique=True, trim="-") for v in values]
    return [None if v is None else str(v) for v in values]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_parquet_floats_are_written_as_numpy_writes_them_at_every_magnitude(dtype):
    import numpy as np

    from processing.input_data import column_text

    rng = np.random.default_rng(17)
    mantissas = rng.random(20_000) * 10
    exponents = rng.integers(-30, 31, 20_000).astype(float)
    values = (mantissas * 10.0**exponents * rng.choice([-1, 1], 20_000)).astype(dtype)
    special = [0.0, -0.0, 3.0, 0.1, 0.455, 1e15, 1e16, 1e20, 1e-7, 5e-324, 1.7976931348623157e308, np.inf, -np.inf]
    values = np.concatenate([values, np.array(special).astype(dtype), rng.integers(0, 10_000, 2_000).astype(dtype)])
    column = pa.array(values)
    expected = _numpy_text(values)
    assert column_text(column) == expected
    with_missing = pa.array(np.concatenate([values, [np.nan]]).astype(dtype), mask=np.arange(len(values) + 1) % 7 == 0)
    assert column_text(with_missing) == [None if i % 7 == 0 else text for i, text in enumerate([*expected, None])]


def test_parquet_integers_strings_and_booleans_are_written_as_before():
    from processing.input_data import column_text

    assert column_text(pa.array([3, None, -12, 2**62])) == ["3", None, "-12", str(2**62)]
    assert column_text(pa.chunked_array([["M", None], ["I"]])) == ["M", None, "I"]
    assert column_text(pa.array([True, None, False])) == ["True", None, "False"]


def test_a_broken_symbolic_link_among_the_data_files_is_refused_by_name(tmp_path):
    """It was skipped without a word (trained on the other files only); a broken link to no data file still is."""
    data = tmp_path / "in"
    data.mkdir()
    write(data / "a.csv", [HEADER, *LINES[:100]])
    (data / "_SUCCESS").symlink_to(tmp_path / "nowhere" / "_SUCCESS")  # not a data file's name: skipped
    assert input_files(data) == [data / "a.csv"]
    (data / "b.csv").symlink_to(tmp_path / "nowhere" / "x.csv")
    link, target = re.escape(str(data / "b.csv")), re.escape(str(tmp_path / "nowhere" / "x.csv"))
    expect_error(tmp_path, data, REGRESSION, rf"^Input {link} is a broken symbolic link \(to {target}\)")


def test_infinite_numbers_are_refused_naming_file_column_and_row(tmp_path):
    """XGBoost refuses infinite features and labels without naming them: Preprocess names them first, in CSV text
    (``inf``, ``-Infinity``) and in Parquet floats alike; NaN stays a missing value."""
    schema = DataSchema("rings", ("length",), ("sex",), "regression", None)
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("sex,length,rings\nM,0.4,10\nF,inf,9\nI,NaN,8\nM,-Infinity,7\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"Column 'length' .* row 3 \(row 1 is the header\) holds 'inf'; 2 "):
        read_checked(csv_path, schema)
    target = tmp_path / "target.csv"
    target.write_text("sex,length,rings\nM,0.4,10\nF,0.5,inf\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"Column 'rings' .* row 3 .* holds 'inf'"):
        read_checked(target, schema)
    parquet = tmp_path / "data.parquet"
    table = pa.table({"sex": ["M", "F", "I"], "length": [0.4, float("nan"), float("-inf")], "rings": [1, 2, 3]})
    pq.write_table(table, parquet)
    with pytest.raises(DataValidationError, match=r"Column .length. in .* must be a finite number, but row 3 holds -"):
        read_checked(parquet, schema)
    fine = tmp_path / "fine.csv"
    fine.write_text("sex,length,rings\nM,0.4,10\nI,NaN,8\n", encoding="utf-8")
    frame, _ = read_checked(fine, schema)
    assert frame["length"].isna().tolist() == [False, True]
