"""``mlops models`` on the local registry: list/show JSON fields, approve/reject with history, clear errors."""

from __future__ import annotations

import json

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
    assert "Unknown model package group 'nogroup'" in capsys.readouterr().err
    assert cli(tmp_path, "show", "abalone") == 2
    assert "expected GROUP/VERSION" in capsys.readouterr().err
