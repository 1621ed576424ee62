"""Preprocess on the bundled abalone data: outputs, split, transform, and each kind of bad input."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inference.feature_transform import FeatureTransform
from processing.preprocess import DataSchema, DataValidationError, main, preprocess
from processing.shards import SHARD_FILES, shard_names
from processing.split import row_fractions, split_indices
from tests.conftest import ABALONE
from tests.training.steps import BINARY, NUMERIC, REGRESSION, binary_abalone

HEADER = ABALONE.read_text().splitlines()[0]
LINES = ABALONE.read_text().splitlines()[1:]
COLUMNS = "sex, length, diameter, height, whole_weight, shucked_weight, viscera_weight, shell_weight, rings"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def with_value(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def files_under(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def sorted_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.lexsort(matrix.T[::-1])]


def split_files(out: Path, name: str) -> list[Path]:
    """A split's files in name order: the train shards, or the one validation / test file."""
    return sorted((out / name).glob("*.csv"))


def split_text(out: Path, name: str) -> str:
    """A split's rows as one text: its files concatenated in name order."""
    return "".join(path.read_text() for path in split_files(out, name))


def split_matrix(out: Path, name: str) -> np.ndarray:
    return np.loadtxt(io.StringIO(split_text(out, name)), delimiter=",", ndmin=2)


def baseline_frame(out: Path, **read: object) -> pd.DataFrame:
    """The baseline dataset: its files (each with the header) read in name order, one after the other."""
    return pd.concat([pd.read_csv(path, **read) for path in split_files(out, "baseline")], ignore_index=True)


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("preprocessed")
    return out, preprocess(ABALONE, out, REGRESSION)


def test_writes_every_output_with_the_configured_split(output):
    out, result = output
    assert files_under(out) == [
        *(f"baseline/{name}" for name in shard_names("baseline")),
        "test/test.csv",
        *(f"train/{name}" for name in shard_names("train")),
        "transform/transform.json",
        "validation/validation.csv",
    ]
    assert SHARD_FILES == 16 and shard_names("train")[:2] == ["train-00.csv", "train-01.csv"]
    assert result.rows == {"train": 2884, "validation": 648, "test": 645}  # by row hash, seed 42
    assert result.input_columns == ("sex", *NUMERIC)
    assert result.feature_names == ("sex=F", "sex=I", "sex=M", *NUMERIC)
    assert result.source_files == (str(ABALONE),) and result.ignored_columns == ()
    for name, rows in result.rows.items():
        data = split_matrix(out, name)  # no header: every field is a number
        assert data.shape == (rows, 11)
        assert np.array_equal(data[:, 0], np.round(data[:, 0])) and data[:, 0].min() >= 1  # rings first


def test_splits_are_a_shuffled_partition_of_the_data(output):
    out, _ = output
    source = pd.read_csv(ABALONE)
    transform = FeatureTransform.from_json((out / "transform" / "transform.json").read_text())
    everything = np.column_stack([source["rings"], transform.apply(source)])
    parts = [split_matrix(out, n) for n in ("train", "validation", "test")]
    combined = np.vstack(parts)
    np.testing.assert_array_equal(sorted_rows(combined), sorted_rows(everything))
    assert not np.array_equal(parts[0][:100], everything[:100])  # shuffled, not the file's first rows


def test_baseline_is_the_raw_training_features_with_a_header(output):
    out, _ = output
    baseline = baseline_frame(out, dtype=str)
    assert list(baseline.columns) == ["sex", *NUMERIC]
    assert len(baseline) == 2884
    assert set(baseline["sex"]) == {"M", "F", "I"}
    # the raw text as in the source file, and the same rows as the train files in the same order
    raw_lines = {line.rsplit(",", 1)[0] for line in LINES}
    assert all(",".join(row) in raw_lines for row in baseline.to_numpy()[:200])
    transform = FeatureTransform.from_json((out / "transform" / "transform.json").read_text())
    train = split_matrix(out, "train")
    np.testing.assert_array_equal(transform.apply(baseline), train[:, 1:])


def test_transform_json_holds_the_transform_and_the_schema(output):
    out, _ = output
    data = json.loads((out / "transform" / "transform.json").read_text())
    assert data["schema"] == {
        "target": "rings",
        "problem_type": "regression",
        "positive_class": None,
        "input_columns": ["sex", *NUMERIC],
    }
    assert data["categorical"] == {"sex": ["F", "I", "M"]}


def test_the_seed_fixes_the_split(tmp_path, output):
    out, _ = output
    preprocess(ABALONE, tmp_path / "same", REGRESSION, seed=42)
    preprocess(ABALONE, tmp_path / "other", REGRESSION, seed=7, split=(0.5, 0.25, 0.25))
    same = split_text(tmp_path / "same", "train")
    assert same == split_text(out, "train")
    assert split_text(tmp_path / "other", "train") != same


# the hash split keeps each configured fraction within 0.025 of it on abalone's 4177 rows (about 3.5 binomial
# standard deviations of the train fraction: sqrt(0.7 * 0.3 / 4177) = 0.0071)
FRACTION_TOLERANCE = 0.025


@pytest.mark.parametrize("seed", [42, 7, 0, 12345])
@pytest.mark.parametrize("split", [(0.7, 0.15, 0.15), (0.5, 0.25, 0.25), (0.8, 0.1, 0.1)])
def test_the_hash_split_keeps_the_configured_fractions(seed, split):
    data = pd.read_csv(ABALONE, dtype=str)
    places = row_fractions(data, REGRESSION, seed)
    assert places.min() >= 0 and places.max() < 1
    rows = {name: len(part) for name, part in split_indices(places, split).items()}
    assert sum(rows.values()) == 4177
    for fraction, name in zip(split, ("train", "validation", "test"), strict=True):
        assert abs(rows[name] / 4177 - fraction) <= FRACTION_TOLERANCE, (name, rows)


def test_the_split_does_not_depend_on_row_order_files_or_column_order(tmp_path, output):
    out, _ = output
    shuffled = [LINES[i] for i in np.random.default_rng(3).permutation(len(LINES))]
    preprocess(write(tmp_path / "shuffled.csv", [HEADER, *shuffled]), tmp_path / "shuffled", REGRESSION)
    parts = tmp_path / "parts"
    parts.mkdir()
    frame = pd.read_csv(ABALONE, dtype=str).iloc[::-1]
    frame.iloc[:1500].to_csv(parts / "a.csv", index=False)
    frame.iloc[1500:][list(reversed(frame.columns))].to_csv(parts / "b.csv", index=False)
    preprocess(parts, tmp_path / "parts-out", REGRESSION)
    for name in files_under(out):  # every file, each shard included
        assert (tmp_path / "shuffled" / name).read_text() == (out / name).read_text(), name
        assert (tmp_path / "parts-out" / name).read_text() == (out / name).read_text(), name


def test_identical_rows_land_in_the_same_split(tmp_path):
    # abalone has no duplicate rows: repeat 300 of them three times, scattered through the file
    repeated = LINES + LINES[:300] + LINES[:300]
    order = np.random.default_rng(5).permutation(len(repeated))
    source = write(tmp_path / "dup.csv", [HEADER, *(repeated[i] for i in order)])
    result = preprocess(source, tmp_path / "out", REGRESSION)
    raw = pd.read_csv(source, dtype=str)
    places = row_fractions(raw, REGRESSION, 42)
    split_of = {}
    for name, rows in split_indices(places, (0.7, 0.15, 0.15)).items():
        for row in rows:
            key = tuple(raw.iloc[row])
            assert split_of.setdefault(key, name) == name, key
    assert len(split_of) == 4177 and sum(result.rows.values()) == 4177 + 600
    baseline = baseline_frame(tmp_path / "out", dtype=str)
    assert len(baseline) == result.rows["train"]


def test_a_directory_of_files_with_other_column_orders_and_extra_columns(tmp_path, caplog):
    data = tmp_path / "in"
    data.mkdir()
    write(data / "part-1.csv", [HEADER, *LINES[:2000]])
    frame = pd.read_csv(ABALONE).iloc[2000:]
    frame.assign(batch="b2")[["rings", "batch", *reversed(frame.columns[:-1])]].to_csv(data / "part-2.csv", index=False)
    (data / "notes.txt").write_text("not data")
    with caplog.at_level(logging.WARNING):
        result = preprocess(data, tmp_path / "out", REGRESSION)
    assert result.ignored_columns == ("batch",)
    assert "Ignoring column(s) not in the schema" in caplog.text and "batch" in caplog.text
    assert sum(result.rows.values()) == 4177 and len(result.source_files) == 2
    assert result.input_columns == ("sex", *NUMERIC)  # the first file's order
    baseline = baseline_frame(tmp_path / "out")
    assert list(baseline.columns) == ["sex", *NUMERIC]


def test_binary_target_maps_the_positive_class_to_one(tmp_path):
    source = binary_abalone(tmp_path / "age.csv")
    result = preprocess(source, tmp_path / "out", BINARY)
    train = split_matrix(tmp_path / "out", "train")
    assert set(np.unique(train[:, 0])) == {0.0, 1.0}
    expected = (pd.read_csv(ABALONE)["rings"] >= 10).mean()
    assert abs(train[:, 0].mean() - expected) < 0.03 and result.rows["train"] == len(train)
    schema = json.loads((tmp_path / "out" / "transform" / "transform.json").read_text())["schema"]
    assert schema["problem_type"] == "binary" and schema["positive_class"] == "old"


# -- bad input: each message names the file, the column and an example ------------------------------------


def expect_error(tmp_path: Path, source: Path, schema: DataSchema, pattern: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(DataValidationError, match=pattern):
        preprocess(source, out, schema)
    assert not out.exists() or files_under(out) == []  # nothing half-written


def test_missing_column(tmp_path):
    source = write(tmp_path / "no-rings.csv", [h.rsplit(",", 1)[0] for h in [HEADER, *LINES[:20]]])
    expect_error(
        tmp_path,
        source,
        REGRESSION,
        rf"^Column 'rings' not found in {source}; columns are: {COLUMNS.rsplit(', ', 1)[0]}$",
    )


def test_non_numeric_value_names_file_column_row_and_value(tmp_path):
    lines = [HEADER, *LINES[:30]]
    lines[5] = with_value(lines[5], 3, "heavy")  # height of data row 5, row 6 of the file
    source = write(tmp_path / "broken.csv", lines)
    expect_error(
        tmp_path,
        source,
        REGRESSION,
        rf"Column 'height' in {source} must be numeric, but row 6 \(row 1 is the header\) holds 'heavy'",
    )


def test_empty_file(tmp_path):
    expect_error(tmp_path, write(tmp_path / "empty.csv", []), REGRESSION, r"empty\.csv is empty: expected a header")


def test_header_only(tmp_path):
    source = write(tmp_path / "header.csv", [HEADER])
    expect_error(tmp_path, source, REGRESSION, rf"^{source} has a header row but no data rows$")


def test_missing_target_value(tmp_path):
    lines = [HEADER, *LINES[:30]]
    lines[10] = lines[10].rsplit(",", 1)[0] + ","
    source = write(tmp_path / "no-target.csv", lines)
    expect_error(
        tmp_path, source, REGRESSION, rf"Column 'rings' \(the target\) is empty at row 11 of {source} .*1 row\(s\)"
    )


def test_binary_target_with_three_classes(tmp_path):
    lines = [HEADER.replace("rings", "age")] + [
        line.rsplit(",", 1)[0] + "," + ("old" if int(line.rsplit(",", 1)[1]) >= 10 else "young") for line in LINES
    ]
    lines[7] = lines[7].rsplit(",", 1)[0] + ",middle"
    source = write(tmp_path / "three.csv", lines)
    expect_error(
        tmp_path,
        source,
        BINARY,
        rf"Column 'age' in {source} must have exactly two distinct values for problem_type binary, found 3: "
        r"'young' \(\d+\), 'old' \(\d+\), 'middle' \(1\)",
    )


def test_binary_positive_class_must_be_a_target_value(tmp_path):
    source = binary_abalone(tmp_path / "age.csv")
    schema = DataSchema("age", NUMERIC, ("sex",), "binary", positive_class="ancient")
    expect_error(tmp_path, source, schema, r"positive_class 'ancient' is not a value of column 'age'.*'young'")


def test_schema_and_input_errors(tmp_path):
    with pytest.raises(DataValidationError, match=r"problem_type binary needs positive_class"):
        preprocess(ABALONE, tmp_path / "a", DataSchema("rings", NUMERIC, ("sex",), "binary"))
    with pytest.raises(DataValidationError, match=r"Column 'rings' is the target and cannot also be a feature"):
        preprocess(ABALONE, tmp_path / "a", DataSchema("rings", (*NUMERIC, "rings")))
    with pytest.raises(DataValidationError, match=r"split must be three positive fractions summing to 1"):
        preprocess(ABALONE, tmp_path / "a", REGRESSION, split=(0.8, 0.3, 0.1))
    with pytest.raises(DataValidationError, match=r"No \.csv, \.parquet or \.pq files in .*; found: notes\.txt"):
        (tmp_path / "dir").mkdir()
        (tmp_path / "dir" / "notes.txt").write_text("x")
        preprocess(tmp_path / "dir", tmp_path / "a", REGRESSION)
    with pytest.raises(DataValidationError, match=r"cannot be split"):
        preprocess(write(tmp_path / "two.csv", [HEADER, *LINES[:2]]), tmp_path / "a", REGRESSION)
    assert not (tmp_path / "a").exists()


def test_one_bad_file_in_a_directory_writes_nothing(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    write(data / "a.csv", [HEADER, *LINES[:100]])
    write(data / "b.csv", [HEADER, *LINES[100:200], with_value(LINES[200], 1, "short")])
    expect_error(
        tmp_path, data, REGRESSION, rf"Column 'length' in {data / 'b.csv'} must be numeric, but row 102 .* 'short'"
    )


# -- main ----------------------------------------------------------------------------------------------


def args(source: Path, out: Path, failure: Path, *extra: str) -> list[str]:
    return [
        "--input-dir",
        str(source),
        "--output-dir",
        str(out),
        "--failure-file",
        str(failure),
        "--target",
        "rings",
        "--numeric",
        ",".join(NUMERIC),
        "--categorical",
        "sex",
        "--problem-type",
        "regression",
        "--split",
        "0.7,0.15,0.15",
        "--seed",
        "42",
        *extra,
    ]


def test_main_runs_the_step(tmp_path, output):
    out, _ = output
    assert main(args(ABALONE, tmp_path / "out", tmp_path / "message")) == 0
    assert (tmp_path / "out" / "test" / "test.csv").read_text() == (out / "test" / "test.csv").read_text()
    assert not (tmp_path / "message").exists()


def test_main_reports_bad_data_with_exit_code_1_and_the_failure_file(tmp_path, capsys):
    lines = [HEADER, *LINES[:20]]
    lines[3] = with_value(lines[3], 1, "heavy")
    source = write(tmp_path / "broken.csv", lines)
    failure = tmp_path / "deep" / "output" / "message"
    assert main(args(source, tmp_path / "out", failure)) == 1
    message = failure.read_text()
    assert "Column 'length'" in message and "'heavy'" in message and str(source) in message
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
