"""``mlops models`` on the local registry: list/show JSON fields, approve/reject with history, clear errors."""

from __future__ import annotations

import json
import re

import pytest

from pipelines.cli import main
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT
from tests.pipelines.registry.test_registry_contract import package_request

CONFIG = str(ROOT / "mlops.yaml")


def cli(state, *argv):
    return main(["models", *argv, "--state-dir", str(state), "--config", CONFIG])


def test_list_show_approve_reject(tmp_path, capsys):
    registry = SQLiteRegistry(tmp_path / "registry.db")
    registry.register(package_request(n=1))
    registry.register(package_request(n=2))
    assert cli(tmp_path, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["version"] for m in listed] == [2, 1]
    assert {"group", "version", "status", "created", "metrics", "model_data_url", "arn"} <= set(listed[0])
    assert cli(tmp_path, "reject", "abalone/1", "--note", "worse RMSE", "--by", "alice") == 0
    assert "abalone/1 is now Rejected (by alice: worse RMSE)" in capsys.readouterr().out
    assert cli(tmp_path, "show", "abalone/1", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "Rejected" and shown["history"][0]["note"] == "worse RMSE"
    assert cli(tmp_path, "list", "--status", "Rejected", "--json") == 0
    assert [m["version"] for m in json.loads(capsys.readouterr().out)] == [1]


def test_unknown_versions_and_bad_references_are_clear_errors(tmp_path, capsys):
    SQLiteRegistry(tmp_path / "registry.db").register(package_request())
    assert cli(tmp_path, "approve", "abalone/9", "--note", "x") == 2
    assert "Unknown version abalone/9" in capsys.readouterr().err
    assert cli(tmp_path, "approve", "nogroup/1", "--note", "x") == 2
    err = capsys.readouterr().err
    assert "Unknown model package group 'nogroup'" in err
    assert f"local registry {tmp_path / 'registry.db'}" in err  # which state directory it read
    assert cli(tmp_path, "show", "abalone") == 2
    assert "expected GROUP/VERSION" in capsys.readouterr().err
    assert cli(tmp_path, "approve", "abalone/\u00b2", "--note", "x") == 2  # int() refuses it: was a traceback
    assert "expected GROUP/VERSION" in capsys.readouterr().err


def test_a_note_or_approver_with_control_characters_or_too_long_is_refused(tmp_path, capsys):
    SQLiteRegistry(tmp_path / "registry.db").register(package_request())
    for argv, expected in (
        (("approve", "abalone/1", "--note", "ok\x1b[2J"), "--note: must be one line of printable text, got control"),
        (("reject", "abalone/1", "--note", "x", "--by", "a\nb"), "--by: must be one line of printable text"),
        (("reject", "abalone/1", "--note", "n" * 1025), "--note: must be at most 1024 characters"),
    ):
        with pytest.raises(SystemExit) as refused:
            cli(tmp_path, *argv)
        assert refused.value.code == 2 and expected in capsys.readouterr().err
    assert SQLiteRegistry(tmp_path / "registry.db").history("abalone", 1) == []


def _evaluation(rmse: float, r2: float) -> dict:
    def block(rmse, r2):
        return {
            "regression_metrics": {
                "rmse": {"value": rmse, "standard_deviation": 0.125},
                "r2": {"value": r2, "standard_deviation": 0.03},
            }
        }

    return {**block(rmse, r2), "baseline_predictor": {"description": "mean", **block(3.25, 0.0)}}


def test_list_shows_the_gate_metric_and_show_every_evaluation_metric(tmp_path, capsys):
    from pipelines.objectstore import local_path

    registry = SQLiteRegistry(tmp_path / "registry.db")
    for n, rmse in ((1, 2.5), (2, 2.25)):
        model = registry.register(package_request(n=n))
        report = local_path(model.metrics["evaluation"], tmp_path)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(_evaluation(rmse, 0.5)))
    registry.register(package_request(n=3))  # its evaluation.json is missing: shown as "-"
    assert cli(tmp_path, "list") == 0
    rows = capsys.readouterr().out.splitlines()
    assert "RMSE (GATE: 2.6)" in rows[0]  # the configured gate's metric and threshold
    assert rows[1].startswith("abalone/3") and rows[1].rstrip().endswith(" -")
    assert rows[2].startswith("abalone/2") and rows[2].rstrip().endswith("2.25 ± 0.12")
    assert rows[3].startswith("abalone/1") and rows[3].rstrip().endswith("2.5 ± 0.12")
    assert cli(tmp_path, "show", "abalone/2") == 0
    shown = capsys.readouterr().out
    assert re.search(r"rmse +2\.25 ± 0\.12 +3\.25 ± 0\.12", shown)
    assert re.search(r"r2 +0\.5 ± 0\.03 +0 ± 0\.03", shown)


def test_the_evaluation_is_read_from_its_own_key_not_from_the_model_quality_statistics(tmp_path, capsys):
    from pipelines.objectstore import local_path

    registry = SQLiteRegistry(tmp_path / "registry.db")
    current = registry.register(package_request(n=1))  # model_statistics: the model-quality baseline's
    statistics = local_path(current.metrics["model_statistics"], tmp_path)
    statistics.parent.mkdir(parents=True, exist_ok=True)
    statistics.write_text(json.dumps(_evaluation(9.5, -3.2)))  # Model Monitor's shape: never shown as evaluation
    old = package_request(n=2)  # registered before the model-quality baseline: evaluation.json was model_statistics
    del old["CustomerMetadataProperties"], old["ModelMetrics"]["ModelQuality"]["Constraints"]
    old["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] = "s3://bucket/old/evaluation.json"
    registry.register(old)
    report = local_path("s3://bucket/old/evaluation.json", tmp_path)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(_evaluation(2.75, 0.5)))
    assert cli(tmp_path, "list") == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].startswith("abalone/2") and rows[1].rstrip().endswith("2.75 ± 0.12")
    assert rows[2].startswith("abalone/1") and rows[2].rstrip().endswith(" -")
