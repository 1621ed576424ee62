"""``mlops monitor baseline`` / ``check`` from the command line, including s3:// URIs and bad arguments."""

from __future__ import annotations

import json
import shutil

import pytest

from pipelines.cli import main
from tests.conftest import ABALONE, QUALITY_BASELINE


def test_baseline_then_check_through_the_object_store(tmp_path, capsys):
    state = tmp_path / "state"
    (state / "s3" / "bucket" / "data").mkdir(parents=True)
    shutil.copy(ABALONE, state / "s3" / "bucket" / "data" / "abalone.csv")
    assert (
        main(
            [
                "monitor",
                "baseline",
                "--dataset",
                "s3://bucket/data/abalone.csv",
                "--output",
                "s3://bucket/baseline",
                "--state-dir",
                str(state),
            ]
        )
        == 0
    )
    assert "Baseline of 4177 rows, 9 features" in capsys.readouterr().out
    assert (state / "s3" / "bucket" / "baseline" / "constraints.json").is_file()
    assert (
        main(
            [
                "monitor",
                "check",
                "--dataset",
                "s3://bucket/data/abalone.csv",
                "--baseline",
                "s3://bucket/baseline",
                "--output",
                str(tmp_path / "check"),
                "--state-dir",
                str(state),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "Completed" and summary["item_count"] == 4177


def test_headerless_csv_gets_container_column_names(tmp_path, capsys):
    assert (
        main(
            [
                "monitor",
                "baseline",
                "--dataset",
                str(QUALITY_BASELINE / "baseline_dataset.csv"),
                "--no-header",
                "--output",
                str(tmp_path),
            ]
        )
        == 0
    )
    stats = json.loads((tmp_path / "statistics.json").read_text())
    assert [f["name"] for f in stats["features"]] == [f"_c{i}" for i in range(6)]


def test_check_exits_zero_with_violations_and_prints_them(tmp_path, capsys):
    main(["monitor", "baseline", "--dataset", str(ABALONE), "--output", str(tmp_path / "b")])
    lines = ABALONE.read_text().splitlines()
    drifted = [lines[0]] + [",".join([r.split(",")[0], "9.9", *r.split(",")[2:]]) for r in lines[1:400]]
    (tmp_path / "cur.csv").write_text("\n".join(drifted) + "\n")
    capsys.readouterr()
    assert (
        main(
            [
                "monitor",
                "check",
                "--dataset",
                str(tmp_path / "cur.csv"),
                "--baseline",
                str(tmp_path / "b"),
                "--output",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "CompletedWithViolations" in out and "baseline_drift_check" in out and "length" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["monitor", "baseline", "--dataset", "nowhere.csv", "--output", "x"], "Dataset not found: nowhere.csv"),
        (
            ["monitor", "check", "--dataset", "d", "--baseline", "nowhere", "--output", "x"],
            "Baseline statistics file not found: nowhere/statistics.json",
        ),
        (
            ["monitor", "check", "--dataset", "d", "--baseline", "b", "--output", "x", "--start", "soon"],
            "--start must be an ISO-8601 time",
        ),
    ],
)
def test_bad_arguments_are_clear_errors(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_empty_dataset_cannot_be_baselined(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    assert main(["monitor", "baseline", "--dataset", str(tmp_path / "empty.csv"), "--output", str(tmp_path / "o")]) == 2
    assert "holds no data rows" in capsys.readouterr().err


def test_a_window_across_a_day_is_printed_with_both_dates():
    from pipelines.commands.monitor_loop import _window_text

    assert _window_text("2026-11-30T01:00:00+00:00", "2026-11-30T02:00:00+00:00") == "2026-11-30T01:00..02:00"
    day = _window_text("2026-11-29T03:00:00+00:00", "2026-11-30T02:00:00+00:00")
    assert day == "2026-11-29T03:00..2026-11-30T02:00"  # a model-quality window: not "03:00..02:00"
