"""The bundled pipeline with ProcessingInstanceCount=2 and TrainingInstanceCount=2 on the local runner, against the
same pipeline on one host of each: the analyzer jobs run on two host processes (Preprocess and Evaluate stay on
one), Train runs two hosts that each train on their ShardedByS3Key share of Preprocess's train objects in one XGBoost
ring, and the registered version's baselines and test metrics equal the one-host run's.

Both runs pass Subsample=1: then the tolerance of the README's "Distributed training" section for the bundled data
is 1e-6 relative (the same quantile cuts on every host, histograms summed across hosts); with the default
subsample 0.8 each host draws its own rows and the metric is another random draw (tolerance 2 %), which two
independently trained models would meet too."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.local.record import list_records
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT

CONFIG = str(ROOT / "mlops.yaml")
EXACT_SKETCH = ("--param", "Subsample=1")
METRIC_RELATIVE = 1e-6  # README "Distributed training": abalone, subsample 1
TRAIN_ROWS = 2884  # the bundled data's train split (tests/processing/test_preprocess.py)
KLL_BUCKET_BOUND = 6  # README "Analyzer across instances": bucket counts within 2(W1 + W2), W1 + W2 <= 3 on abalone


def run(state: Path, *extra: str) -> int:
    return main(["run", "--config", CONFIG, "--state-dir", str(state), "--quiet", *EXACT_SKETCH, *extra])


def registered(state: Path) -> dict[str, dict]:
    (version,) = SQLiteRegistry(state / "registry.db").list_versions("abalone")
    files = {**{f"metrics.{k}": v for k, v in version.metrics.items()}, **version.drift_baselines}
    return {key: json.loads(local_path(uri, state).read_text()) for key, uri in files.items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """One run on one host of each kind, one on two processing and two training hosts (the only two full runs)."""
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    assert run(one) == 0
    assert run(two, "--param", "ProcessingInstanceCount=2", "--param", "TrainingInstanceCount=2") == 0
    return one, two


def flat(document: object, path: str = "") -> dict[str, object]:
    """A JSON document as path -> leaf value."""
    if isinstance(document, dict):
        return {k: v for key, value in document.items() for k, v in flat(value, f"{path}.{key}").items()}
    if isinstance(document, list):
        return {k: v for n, value in enumerate(document) for k, v in flat(value, f"{path}[{n}]").items()}
    return {path: document}


def assert_same_data_statistics(got: dict, expected: dict) -> None:
    """A merged data-quality statistics.json against the one-host one, as the README's "Analyzer across instances"
    table states: counts, min, max, frequencies equal; sums, means, deviations within 1e-12 relative; KLL bucket
    counts within 2(W1 + W2) (abalone: W1 + W2 <= 3); the sketch's own state (its compactors) differs by design."""
    mine, theirs = ({k: v for k, v in flat(doc).items() if ".kll.sketch.data" not in k} for doc in (got, expected))
    assert mine.keys() == theirs.keys()
    for key, value in theirs.items():
        if re.search(r"\.kll\.buckets\[\d+\]\.count$", key):
            assert abs(mine[key] - value) <= KLL_BUCKET_BOUND, (key, mine[key], value)
        elif isinstance(value, float):
            assert math.isclose(mine[key], value, rel_tol=1e-12, abs_tol=0.0), (key, mine[key], value)
        else:
            assert mine[key] == value, (key, mine[key], value)


def floats_close(got: object, expected: object, relative: float, where: str = "") -> None:
    """The same document; floats within ``relative`` (and 1e-12 absolute, for values near zero)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), where
        for key in expected:
            floats_close(got[key], expected[key], relative, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for n, (a, b) in enumerate(zip(got, expected, strict=True)):
            floats_close(a, b, relative, f"{where}[{n}]")
    elif isinstance(expected, float) and not isinstance(got, bool):
        assert math.isclose(got, expected, rel_tol=relative, abs_tol=1e-12), (where, got, expected)
    else:
        assert got == expected, (where, got, expected)


def test_the_record_names_every_host_of_the_multi_instance_steps(runs):
    one, two = runs
    record = list_records(two)[0]
    assert record["status"] == "Succeeded"
    assert record["parameters"]["ProcessingInstanceCount"] == 2 and record["parameters"]["TrainingInstanceCount"] == 2
    for step in ("Preprocess", "Evaluate"):  # one instance whatever ProcessingInstanceCount says
        assert "hosts" not in record["steps"][step], step
    # the data-quality analysis on two hosts: the whole baseline job, or its profile job when a merge job follows
    profile = "DataQualityProfile" if "DataQualityProfile" in record["steps"] else "DataQualityBaseline"
    for step in (profile, "ModelQualityBaseline", "Train"):
        hosts = record["steps"][step]["hosts"]
        assert [(h["host"], h["status"]) for h in hosts] == [("algo-1", "Completed"), ("algo-2", "Completed")], step
        assert all(Path(h["log"]).is_file() for h in hosts)
    assert not any("hosts" in step for step in list_records(one)[0]["steps"].values())


def test_both_training_hosts_train_on_their_shard_of_the_train_objects(runs):
    _, two = runs
    rows = {}
    for host in list_records(two)[0]["steps"]["Train"]["hosts"]:
        log = Path(host["log"]).read_text(encoding="utf-8", errors="replace")
        found = re.findall(rf"{host['host']} trains on (\d+) of the (\d+) train row\(s\)", log)
        assert len(found) == 1, log[-2000:]
        rows[host["host"]] = int(found[0][0])
        assert int(found[0][1]) == TRAIN_ROWS
    assert all(count > 0 for count in rows.values()) and sum(rows.values()) == TRAIN_ROWS, rows


def test_the_registered_data_quality_baseline_is_the_one_host_runs(runs):
    single, double = (registered(state) for state in runs)
    assert set(single) == set(double) and {"statistics", "constraints", "model_statistics"} <= set(single)
    for key in ("constraints", "metrics.model_data_constraints"):
        assert double[key] == single[key], key
    for key in ("statistics", "metrics.model_data_statistics"):
        assert_same_data_statistics(double[key], single[key])


def test_the_registered_test_metric_is_the_one_host_models_within_the_tolerance(runs):
    """The evaluation and the model-quality baseline (statistics, constraints) of the 2-host model: the 1-host
    model's within the training tolerance (measured: 1e-7 relative for the test RMSE, 4e-7 for r2)."""
    single, double = (registered(state) for state in runs)
    for key in ("metrics.evaluation", "model_statistics", "model_constraints", "metrics.model_statistics"):
        floats_close(double[key], single[key], METRIC_RELATIVE, key)
    rmse = single["metrics.evaluation"]["regression_metrics"]["rmse"]["value"]
    assert 2.0 < rmse < 2.3  # a real model (a mean predictor scores ~3.2)


def test_executions_show_lists_each_host_with_its_time_and_memory(runs, capsys):
    two = runs[1]
    record = list_records(two)[0]
    assert main(["executions", "show", record["execution_id"], "--state-dir", str(two)]) == 0
    shown = capsys.readouterr().out
    for host in ("algo-1", "algo-2"):
        assert re.search(rf"host {host}, Completed, [\d.]+ s, CPU [\d.]+ s, peak RSS \d+ MiB \(log: ", shown), shown
