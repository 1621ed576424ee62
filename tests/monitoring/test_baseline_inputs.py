"""``mlops monitor baseline`` / ``check`` on damaged or unusual input: a clear error naming the file, line, column or
value (exit code 2, nothing written), or the input read as data, never a traceback and never a silent guess."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_errors import MlopsError
from monitoring import analyzer
from monitoring.analyzer import run_baseline, run_check
from monitoring.errors import AnalyzerInputError, AnalyzerOutputError
from monitoring.sources import DatasetFormat
from pipelines.cli import main
from tests.conftest import ABALONE

LONG = "x" * 300_000  # past Python's csv field limit (131072 characters)


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def features(output: Path) -> dict[str, dict]:
    return {f["name"]: f for f in json.loads((output / "statistics.json").read_text())["features"]}


def read_summary(output: Path) -> dict:
    return json.loads((output / "analysis_summary.json").read_text())["read"]


@pytest.fixture(scope="module")
def abalone_baseline(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("abalone-baseline")
    run_baseline(ABALONE, out)
    return out


# -- D3: a long field is data; Parquet columns the profile cannot read are named ------------------------------------
def test_a_field_past_the_csv_field_limit_is_data_when_the_header_is_detected(tmp_path):
    result = run_baseline(write(tmp_path / "long.csv", f'a,b\n1,"{LONG}"\n2,y\n'), tmp_path / "out")
    assert result.item_count == 2
    assert {name: f["inferred_type"] for name, f in features(tmp_path / "out").items()} == {
        "a": "Integral",
        "b": "String",
    }


def test_a_field_past_the_csv_field_limit_in_headerless_data_and_in_the_header_line(tmp_path):
    run_baseline(write(tmp_path / "h.csv", f'1,"{LONG}"\n2,y\n'), tmp_path / "h", DatasetFormat("csv", False))
    assert list(features(tmp_path / "h")) == ["_c0", "_c1"]
    run_baseline(write(tmp_path / "n.csv", f"a,{LONG}\n1,2\n"), tmp_path / "n", DatasetFormat("csv", True))
    assert list(features(tmp_path / "n")) == ["a", LONG]


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pa.array([[1], [2, 3]], type=pa.list_(pa.int64())), "list<element: int64>"),
        (pa.array([{"x": 1}, {"x": 2}], type=pa.struct([("x", pa.int64())])), "struct<x: int64>"),
    ],
)
def test_a_nested_parquet_column_is_refused_naming_it_its_type_and_what_is_supported(tmp_path, column, kind):
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"a": [1, 2], "nested": column}), path)
    with pytest.raises(AnalyzerInputError) as info:
        run_baseline(path, tmp_path / "out")
    message = str(info.value)
    assert f"{path}: column 'nested' has type {kind}, which the analyzer cannot profile" in message
    assert "supported: numbers (integer, floating point, decimal), boolean, text" in message
    assert not (tmp_path / "out").exists()


def test_a_binary_parquet_column_is_text_and_one_not_utf8_is_refused_naming_column_and_row(tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"a": [1, 2], "b": pa.array([b"ok", b"fine"], type=pa.binary())}), good)
    run_baseline(good, tmp_path / "good")
    assert features(tmp_path / "good")["b"]["inferred_type"] == "String"
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3], "b": pa.array([b"ok", None, b"caf\xe9"], type=pa.binary())}), bad)
    with pytest.raises(AnalyzerInputError, match=r"column 'b' \(binary\), row 3: b'caf\\xe9' is not UTF-8"):
        run_baseline(bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_parquet_file_with_a_repeated_column_name_is_refused(tmp_path):
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"]), path)
    with pytest.raises(AnalyzerInputError, match=r"column name 'a' is given twice \(columns 1 and 2\)"):
        run_baseline(path, tmp_path / "out")


# -- D4: an output that cannot be a folder, refused before the work ---------------------------------------------------
@pytest.fixture()
def no_reading(monkeypatch):
    """Fail the test if the dataset is read at all: the output must be refused first."""

    def read(*args, **kwargs):
        raise AssertionError("the dataset was read before the output was checked")

    monkeypatch.setattr(analyzer, "read_dataset", read)


def test_a_baseline_output_that_is_a_file_or_under_one_is_refused_before_reading(tmp_path, no_reading):
    taken = write(tmp_path / "taken", "keep me")
    with pytest.raises(AnalyzerOutputError, match=rf"output {taken} is a file; expected a folder"):
        run_baseline(ABALONE, taken)
    with pytest.raises(AnalyzerOutputError, match=rf"output {taken}/sub is under {taken}, which is a file"):
        run_baseline(ABALONE, taken / "sub")
    assert taken.read_text() == "keep me"


def test_a_result_name_taken_by_a_folder_is_refused(tmp_path, no_reading):
    (tmp_path / "out" / "statistics.json").mkdir(parents=True)
    with pytest.raises(AnalyzerOutputError, match=r"statistics\.json is a folder; expected the file statistics\.json"):
        run_baseline(ABALONE, tmp_path / "out")


def test_a_check_output_that_is_a_file_is_refused_before_reading(abalone_baseline, tmp_path, no_reading):
    taken = write(tmp_path / "taken", "")
    with pytest.raises(AnalyzerOutputError, match=r"is a file; expected a folder"):
        run_check(ABALONE, abalone_baseline / "statistics.json", abalone_baseline / "constraints.json", taken)


@pytest.mark.parametrize("command", ["baseline", "check"])
def test_the_cli_names_the_output_in_one_line_with_exit_code_2(abalone_baseline, tmp_path, capsys, command):
    taken = write(tmp_path / "taken", "")
    argv = ["monitor", command, "--dataset", str(ABALONE), "--output", str(taken / "sub")]
    if command == "check":
        argv += ["--baseline", str(abalone_baseline)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops monitor") and err.endswith(
        f": error: output {taken}/sub is under {taken}, which is a file; expected a folder (new or existing) for the "
        "results\n"
    )
    assert err.count("\n") == 1


# -- D7, D14: header names: each once, none empty --------------------------------------------------------------------
def test_a_repeated_header_name_is_refused_naming_it(tmp_path):
    with pytest.raises(AnalyzerInputError) as info:
        run_baseline(write(tmp_path / "dup.csv", "a,a,b\n1,2,3\n4,5,6\n"), tmp_path / "out")
    assert str(info.value) == (
        f"{tmp_path / 'dup.csv'}: line 1 (the header): column name 'a' is given twice (columns 1 and 2); "
        "expected each name once"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("header", ["a,,b", "a, ,b"])
def test_an_empty_header_name_is_refused_naming_its_position(tmp_path, header):
    with pytest.raises(AnalyzerInputError, match=r"line 1 \(the header\): column 2 has no name"):
        run_baseline(
            write(tmp_path / "e.csv", f"{header}\n1,2,3\n4,5,6\n"), tmp_path / "out", DatasetFormat("csv", True)
        )


# -- D8: a UTF-8 BOM is not part of the first name or value ---------------------------------------------------------
def test_a_bom_is_not_part_of_the_first_feature_name(tmp_path):
    run_baseline(write(tmp_path / "bom.csv", b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4\r\n"), tmp_path / "out")
    assert list(features(tmp_path / "out")) == ["a", "b"]


def test_a_bom_before_headerless_numbers_does_not_make_them_a_header(tmp_path):
    result = run_baseline(write(tmp_path / "bom.csv", b"\xef\xbb\xbf1\r\n3\r\n5\r\n"), tmp_path / "out")
    assert result.item_count == 3
    assert {name: f["inferred_type"] for name, f in features(tmp_path / "out").items()} == {"_c0": "Integral"}


def test_a_check_of_data_with_a_bom_finds_the_baselines_features(abalone_baseline, tmp_path):
    current = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + ABALONE.read_bytes())
    result = run_check(
        current, abalone_baseline / "statistics.json", abalone_baseline / "constraints.json", tmp_path / "out"
    )
    assert result.violations == ()
    assert list(features(tmp_path / "out")) == list(features(abalone_baseline))


# -- D9: not UTF-8: the file, the line, the column -------------------------------------------------------------------
def test_a_csv_that_is_not_utf8_is_refused_naming_line_column_and_value(tmp_path):
    path = write(tmp_path / "latin1.csv", b"a,b\n1,x\n2,y\n3,caf\xe9\n")
    with pytest.raises(AnalyzerInputError) as info:
        run_baseline(path, tmp_path / "out")
    assert str(info.value) == (
        f"{path}: line 4, column 2 ('b'): b'caf\\xe9' is not UTF-8 text; expected a CSV file in UTF-8"
    )


def test_a_header_that_is_not_utf8_is_refused_naming_it(tmp_path):
    path = write(tmp_path / "latin1.csv", b"a,caf\xe9\n1,2\n")
    with pytest.raises(AnalyzerInputError, match=r"line 1 \(the header\), column 2: b'caf\\xe9' is not UTF-8 text"):
        run_baseline(path, tmp_path / "out", DatasetFormat("csv", True))


# -- D14: an unterminated quote is counted, not swallowed -----------------------------------------------------------
def test_a_quote_never_closed_is_skipped_and_counted_with_its_line(tmp_path):
    result = run_baseline(write(tmp_path / "q.csv", 'a,b\n1,x\n2,"y\n3,z\n4,w\n'), tmp_path / "out")
    assert result.item_count == 1
    read = read_summary(tmp_path / "out")
    assert read["malformed_by_reason"] == {"unterminated_quote": 1} and read["records"] == 1
    assert read["malformed_examples"]["unterminated_quote"] == (
        f"{tmp_path / 'q.csv'}: line 3: a quoted value opens here and is never closed; skipped the record and the 2 "
        "line(s) after it, which the value would hold"
    )


def test_a_baseline_left_empty_by_an_open_quote_says_why(tmp_path):
    with pytest.raises(
        AnalyzerInputError, match=r"holds no data rows \(1 malformed records skipped: unterminated_quote"
    ):
        run_baseline(write(tmp_path / "q.csv", 'a,b\n1,"x\n2,y\n'), tmp_path / "out")


@pytest.mark.parametrize("text", ['a,b\n1,"x\n2,y"\n', 'a,b\n1,"x\ny"', 'a,b\n1,"x""\ny"""\n', 'a,b\n1,x"y\n'])
def test_quoted_values_that_are_closed_are_data(tmp_path, text):
    result = run_baseline(write(tmp_path / "q.csv", text), tmp_path / "out")
    assert result.item_count == 1 and read_summary(tmp_path / "out")["malformed_records"] == 0


# -- D14: a damaged baseline is the user's error ----------------------------------------------------------------------
def _damaged_baseline(source: Path, target: Path, edit) -> Path:
    target.mkdir()
    statistics = json.loads((source / "statistics.json").read_text())
    edit(statistics)
    (target / "statistics.json").write_text(json.dumps(statistics))
    (target / "constraints.json").write_text((source / "constraints.json").read_text())
    return target


def _numeric(statistics: dict) -> dict:
    return next(f for f in statistics["features"] if f["name"] == "length")["numerical_statistics"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: _numeric(s).update(mean=math.nan),
            r"features\[1\] \(length\)\.numerical_statistics\.mean: expected a finite number, got nan",
        ),
        (
            lambda s: _numeric(s).update(std_dev=math.inf),
            r"numerical_statistics\.std_dev: expected a finite number, got inf",
        ),
        (lambda s: s["dataset"].update(item_count=math.inf), r"dataset\.item_count: expected a finite number"),
        (lambda s: s["dataset"].update(item_count=-1), r"dataset\.item_count: expected a whole number >= 0, got -1"),
        (
            lambda s: _numeric(s)["common"].update(num_present=2.5),
            r"common\.num_present: expected a whole number >= 0, got 2\.5",
        ),
        (
            lambda s: _numeric(s)["distribution"]["kll"]["sketch"].update(parameters={"c": "a", "k": -1}),
            r"\(length\)\.numerical_statistics\.distribution\.kll\.sketch: invalid KLL sketch",
        ),
        (
            lambda s: _numeric(s)["distribution"]["kll"]["sketch"]["data"][0].append(math.nan),
            r"kll\.sketch\.data: expected finite numbers, got NaN or Infinity",
        ),
        (lambda s: _numeric(s).update(distribution=[]), r"numerical_statistics\.distribution: expected an object"),
        (lambda s: s.update(dataset=3), r"dataset: expected an object, got int"),
    ],
)
def test_a_damaged_baseline_statistics_file_is_a_one_line_error(abalone_baseline, tmp_path, capsys, edit, message):
    bad = _damaged_baseline(abalone_baseline, tmp_path / "bad", edit)
    with pytest.raises(AnalyzerInputError, match=message):
        run_check(ABALONE, bad / "statistics.json", bad / "constraints.json", tmp_path / "out")
    argv = ["monitor", "check", "--dataset", str(ABALONE), "--baseline", str(bad), "--output", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f": error: {bad / 'statistics.json'}: " in err and err.count("\n") == 1


def test_a_damaged_kll_sketch_is_an_mlops_error():
    from monitoring.kll import KLLSketch

    with pytest.raises(MlopsError, match=r"s\.json: invalid KLL sketch \(KLL sketch size must be at least 2"):
        KLLSketch.from_dict({"parameters": {"c": 0.64, "k": -1}, "data": [[1.0]]}, "s.json")
    with pytest.raises(MlopsError, match="invalid KLL sketch"):
        KLLSketch.from_dict({"parameters": {"c": 0.64, "k": math.inf}, "data": [[1.0]]}, "s.json")


def test_a_damaged_constraints_block_is_named(abalone_baseline, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "statistics.json").write_text((abalone_baseline / "statistics.json").read_text())
    constraints = json.loads((abalone_baseline / "constraints.json").read_text())
    constraints["features"][1]["num_constraints"] = 7
    (bad / "constraints.json").write_text(json.dumps(constraints))
    with pytest.raises(AnalyzerInputError, match=r"features\[1\] \(length\)\.num_constraints: expected an object"):
        run_check(ABALONE, bad / "statistics.json", bad / "constraints.json", tmp_path / "out")


def test_a_baseline_of_infinite_numbers_is_refused_as_its_checks_would_refuse_it(tmp_path):
    """A Parquet float column holding inf profiles to an infinite mean and sketch: the baseline says so and writes
    nothing, rather than write a statistics.json that every later check refuses."""
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, math.inf, 4.0], "b": ["x", "y", "z", "w"]}), path)
    with pytest.raises(AnalyzerInputError, match=r"Cannot baseline .*features\[0\] \(a\).*finite number, got inf"):
        run_baseline(path, tmp_path / "out")
    assert not (tmp_path / "out" / "statistics.json").exists()
