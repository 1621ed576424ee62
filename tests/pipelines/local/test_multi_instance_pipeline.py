"""The bundled pipeline with ProcessingInstanceCount=2 on the local runner: the analyzer jobs run on two host
processes (Preprocess and Evaluate stay on one), and the registered version's baselines equal the one-host run's."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.cli import main
from pipelines.local.record import list_records
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT

CONFIG = str(ROOT / "mlops.yaml")


def run(state: Path, *extra: str) -> int:
    return main(["run", "--config", CONFIG, "--state-dir", str(state), "--quiet", *extra])


def registered(state: Path) -> dict[str, dict]:
    (version,) = SQLiteRegistry(state / "registry.db").list_versions("abalone")
    files = {**{f"metrics.{k}": v for k, v in version.metrics.items()}, **version.drift_baselines}
    return {key: json.loads(local_path(uri, state).read_text()) for key, uri in files.items()}


def test_two_processing_hosts_register_the_one_host_baselines(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(one) == 0
    assert run(two, "--param", "ProcessingInstanceCount=2") == 0
    record = list_records(two)[0]
    assert record["status"] == "Succeeded" and record["parameters"]["ProcessingInstanceCount"] == 2
    for step in ("Preprocess", "Evaluate", "Train"):  # one instance whatever ProcessingInstanceCount says
        assert "hosts" not in record["steps"][step], step
    for step in ("DataQualityBaseline", "ModelQualityBaseline"):
        hosts = record["steps"][step]["hosts"]
        assert [(h["host"], h["status"]) for h in hosts] == [("algo-1", "Completed"), ("algo-2", "Completed")], step
        assert all(Path(h["log"]).is_file() for h in hosts)
    assert "hosts" not in list_records(one)[0]["steps"]["Preprocess"]
    single, double = registered(one), registered(two)
    assert set(single) == set(double) and {"statistics", "constraints", "model_statistics"} <= set(single)
    assert double == single
