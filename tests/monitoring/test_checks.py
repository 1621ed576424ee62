"""Each kind of bad current data raises exactly its violation; clean data raises none."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from monitoring.analyzer import COMPLETED, WITH_VIOLATIONS, run_baseline, run_check
from tests.conftest import ABALONE


def read_rows() -> tuple[list[str], list[list[str]]]:
    with open(ABALONE, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("abalone-baseline")
    run_baseline(ABALONE, out)
    return out


@pytest.fixture()
def sample() -> tuple[list[str], list[list[str]]]:
    header, rows = read_rows()
    return header, random.Random(7).sample(rows, 1500)


def run(baseline: Path, current: Path, tmp_path: Path, **kwargs):
    return run_check(current, baseline / "statistics.json", baseline / "constraints.json", tmp_path / "out", **kwargs)


def kinds(result) -> set[tuple[str, str]]:
    return {(v.constraint_check_type, v.feature_name) for v in result.violations}


def test_clean_data_raises_no_violation(baseline, sample, tmp_path):
    result = run(baseline, write_csv(tmp_path / "clean.csv", *sample), tmp_path)
    assert result.status == COMPLETED and result.violations == ()
    assert {d.feature_name for d in result.drifts} == set(sample[0])
    assert json.loads((tmp_path / "out" / "constraint_violations.json").read_text()) == {"violations": []}


def test_drifted_sizes_raise_baseline_drift_only_for_them(baseline, sample, tmp_path):
    header, rows = sample
    for row in rows:
        for name in ("length", "diameter"):
            i = header.index(name)
            row[i] = repr(round(float(row[i]) * 1.3, 4))
    result = run(baseline, write_csv(tmp_path / "drift.csv", header, rows), tmp_path)
    assert result.status == WITH_VIOLATIONS
    assert kinds(result) == {("baseline_drift_check", "length"), ("baseline_drift_check", "diameter")}
    assert result.message == "CompletedWithViolations: Job completed successfully with 2 violations."
    drift = {d.feature_name: d for d in result.drifts}
    assert drift["length"].distance > drift["length"].threshold > drift["height"].distance


def test_incomplete_feature_raises_completeness(baseline, sample, tmp_path):
    header, rows = sample
    i = header.index("height")
    for row in rows[::10]:
        row[i] = ""
    result = run(baseline, write_csv(tmp_path / "incomplete.csv", header, rows), tmp_path)
    assert kinds(result) == {("completeness_check", "height")}
    (violation,) = result.violations
    assert violation.description.startswith("Data completeness requirement is not met. Expected completeness: 100.0%.")


def test_mistyped_values_raise_data_type_with_the_containers_wording(baseline, sample, tmp_path):
    header, rows = sample
    i = header.index("whole_weight")
    for row in rows[::20]:
        row[i] = "heavy"
    result = run(baseline, write_csv(tmp_path / "mistyped.csv", header, rows), tmp_path)
    assert kinds(result) == {("data_type_check", "whole_weight")}
    (violation,) = result.violations
    observed = 100 * (1 - 75 / 1500)
    assert violation.description == (
        "Data type match requirement is not met. Expected data type: Fractional, Expected match: 100.0%. "
        f"Observed: Only {observed!r}% of data is Fractional."
    )


def test_integral_feature_with_fractions_raises_data_type(baseline, sample, tmp_path):
    header, rows = sample
    i = header.index("rings")
    for row in rows[::50]:
        row[i] = row[i] + ".5"
    result = run(baseline, write_csv(tmp_path / "fractions.csv", header, rows), tmp_path)
    assert kinds(result) == {("data_type_check", "rings")}
    assert "Expected data type: Integral" in result.violations[0].description


def test_extra_column_raises_extra_column(baseline, sample, tmp_path):
    header, rows = sample
    result = run(
        baseline, write_csv(tmp_path / "extra.csv", [*header, "colour"], [[*r, "red"] for r in rows]), tmp_path
    )
    assert kinds(result) == {("extra_column_check", "colour")}


def test_missing_column_raises_missing_column(baseline, sample, tmp_path):
    header, rows = sample
    i = header.index("shell_weight")
    result = run(
        baseline,
        write_csv(tmp_path / "missing.csv", header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]),
        tmp_path,
    )
    assert kinds(result) == {("missing_column_check", "shell_weight")}


def test_unknown_categories_raise_categorical_values(baseline, sample, tmp_path):
    header, rows = sample
    i = header.index("sex")
    for row in rows[::10]:
        row[i] = "X"
    result = run(baseline, write_csv(tmp_path / "category.csv", header, rows), tmp_path)
    assert kinds(result) == {("categorical_values_check", "sex")}
    assert "'X'" in result.violations[0].description


def test_changed_category_mix_raises_drift_for_both_categorical_methods(baseline, sample, tmp_path):
    header, rows = sample
    i = header.index("sex")
    for n, row in enumerate(rows):
        row[i] = "M" if n % 4 else "F"
    current = write_csv(tmp_path / "mix.csv", header, rows)
    assert kinds(run(baseline, current, tmp_path)) == {("baseline_drift_check", "sex")}
    constraints = json.loads((baseline / "constraints.json").read_text())
    constraints["monitoring_config"]["distribution_constraints"]["categorical_drift_method"] = "ChiSquared"
    chi = tmp_path / "chi"
    chi.mkdir()
    (chi / "constraints.json").write_text(json.dumps(constraints))
    (chi / "statistics.json").write_text((baseline / "statistics.json").read_text())
    result = run(chi, current, tmp_path)
    assert kinds(result) == {("baseline_drift_check", "sex")}
    assert next(d for d in result.drifts if d.feature_name == "sex").method == "ChiSquared"


def test_feature_override_disables_its_checks(baseline, sample, tmp_path):
    header, rows = sample
    i = header.index("height")
    for row in rows[::10]:
        row[i] = ""
    constraints = json.loads((baseline / "constraints.json").read_text())
    for feature in constraints["features"]:
        if feature["name"] == "height":
            feature["monitoring_config_overrides"] = {"evaluate_constraints": "Disabled"}
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "constraints.json").write_text(json.dumps(constraints))
    (custom / "statistics.json").write_text((baseline / "statistics.json").read_text())
    result = run(custom, write_csv(tmp_path / "incomplete.csv", header, rows), tmp_path)
    assert result.violations == ()


def test_metrics_are_named_as_in_cloudwatch(baseline, sample, tmp_path):
    result = run(baseline, write_csv(tmp_path / "clean.csv", *sample), tmp_path, endpoint="ep", schedule="sched")
    names = {m["MetricName"] for m in result.metrics}
    assert {
        "feature_baseline_drift_length",
        "feature_non_null_length",
        "feature_data_length",
        "feature_fractional_length",
        "feature_baseline_drift_sex",
    } <= names
    datum = next(m for m in result.metrics if m["MetricName"] == "feature_data_rings")
    assert datum["StatisticValues"]["SampleCount"] == 1500.0
    assert datum["Dimensions"] == [
        {"Name": "Endpoint", "Value": "ep"},
        {"Name": "MonitoringSchedule", "Value": "sched"},
    ]
    lines = (tmp_path / "out" / "cloudwatch_metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(result.metrics)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["monitoring_config"].update(datatype_check_threshold=2),
            "datatype_check_threshold: must be a number between 0 and 1",
        ),
        (
            lambda c: c["monitoring_config"]["distribution_constraints"].update(comparison_method="Fancy"),
            "comparison_method: must be one of Robust, Simple",
        ),
        (lambda c: c["features"][0].update(inferred_type="Float"), "inferred_type: must be one of"),
        (lambda c: c.pop("features"), "not a constraints file"),
    ],
)
def test_invalid_constraints_name_the_file_and_field(baseline, sample, tmp_path, edit, message):
    constraints = json.loads((baseline / "constraints.json").read_text())
    edit(constraints)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "constraints.json").write_text(json.dumps(constraints))
    (bad / "statistics.json").write_text((baseline / "statistics.json").read_text())
    with pytest.raises(ValueError, match=message) as info:
        run(bad, write_csv(tmp_path / "clean.csv", *sample), tmp_path)
    assert str(bad / "constraints.json") in str(info.value)


def test_missing_or_broken_baseline_is_a_clear_error(baseline, sample, tmp_path):
    current = write_csv(tmp_path / "clean.csv", *sample)
    with pytest.raises(FileNotFoundError, match=r"Baseline statistics file not found: .*nowhere/statistics\.json"):
        run_check(current, tmp_path / "nowhere" / "statistics.json", baseline / "constraints.json", tmp_path / "o")
    broken = tmp_path / "broken.json"
    broken.write_text('{"features": [')
    with pytest.raises(ValueError, match=r"Baseline constraints file .*broken\.json is not valid JSON"):
        run_check(current, baseline / "statistics.json", broken, tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_parquet_and_json_lines_read_like_the_csv(baseline, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    header, rows = read_rows()
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    typed = {
        name: pa.array(values if name == "sex" else [float(v) for v in values], type=None)
        for name, values in columns.items()
    }
    typed["rings"] = pa.array([int(v) for v in columns["rings"]])
    pq.write_table(pa.table(typed), tmp_path / "abalone.parquet")
    with open(tmp_path / "abalone.jsonl", "w") as handle:
        for row in rows:
            record = {
                n: (v if n == "sex" else (int(v) if n == "rings" else float(v)))
                for n, v in zip(header, row, strict=True)
            }
            handle.write(json.dumps(record) + "\n")
        handle.write('{"sex": "M", "length": 0.4\n')  # a truncated line: counted, skipped
    for name in ("abalone.parquet", "abalone.jsonl"):
        result = run(baseline, tmp_path / name, tmp_path / name.replace(".", "-"))
        assert result.item_count == 4177 and result.violations == (), name
        assert {d.feature_name for d in result.drifts} == set(header)
    assert result.read["malformed_by_reason"] == {"invalid_json": 1}
