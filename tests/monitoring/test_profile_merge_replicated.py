"""The profile stage's input copied whole to every host (FullyReplicated instead of ShardedByS3Key) makes every host
profile the same objects: the merge refuses it, naming both hosts and the object, instead of writing a baseline that
counts every row once per host."""

from __future__ import annotations

import json
import shutil

from monitoring.container_entry import run
from tests.conftest import ABALONE

HOSTS = ["algo-1", "algo-2"]
CSV = '{"csv": {"header": true}}'


def profile(tmp_path, objects: dict[str, list[str]]) -> None:
    """Run the profile stage on each host of HOSTS with its objects (names of copies of abalone)."""
    for host in HOSTS:
        opt_ml = tmp_path / host
        (opt_ml / "config").mkdir(parents=True)
        (opt_ml / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": HOSTS}))
        (opt_ml / "input").mkdir()
        for name in objects[host]:
            shutil.copyfile(ABALONE, opt_ml / "input" / name)
        env = {"analysis_stage": "profile", "dataset_source": str(opt_ml / "input"), "dataset_format": CSV}
        code, message = run({**env, "output_path": str(tmp_path / "partials")}, opt_ml)
        assert code == 0, message


def merge(tmp_path) -> tuple[int, str]:
    env = {
        "analysis_stage": "merge",
        "partial_profiles": str(tmp_path / "partials"),
        "output_path": str(tmp_path / "out"),
    }
    return run(env, tmp_path / "merge")


def test_a_replicated_input_is_refused_by_the_merge(tmp_path):
    profile(tmp_path, {"algo-1": ["abalone.csv"], "algo-2": ["abalone.csv"]})
    code, message = merge(tmp_path)
    assert code == 1
    assert "hosts algo-1 and algo-2 both profiled abalone.csv" in message and "ShardedByS3Key" in message
    assert not (tmp_path / "out" / "statistics.json").exists()


def test_objects_with_the_same_rows_under_different_keys_merge(tmp_path):
    profile(tmp_path, {"algo-1": ["a.csv"], "algo-2": ["b.csv"]})  # two objects: counted twice, rightly
    code, message = merge(tmp_path)
    assert code == 0, message
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 2 * (len(ABALONE.read_text().splitlines()) - 1)
