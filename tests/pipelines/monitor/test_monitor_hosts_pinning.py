"""The hosts of a local check follow ``MLOPS_LOCAL_PIN_CORES`` as the runner's own multi-instance jobs do: host k runs
on the k-th listed core (cycling). Each host records the cores it may run on through a ``sitecustomize`` first on its
PYTHONPATH, then profiles its share of abalone."""

from __future__ import annotations

import json
import os

from pipelines.local.cluster import ENV_PIN_CORES
from pipelines.monitor.hosts import INPUT, OUTPUT, HostInput, run_analyzer_hosts
from tests.conftest import ABALONE
from tests.pipelines.monitor.host_hooks import host_hook

HOOK = """import json, os
if os.environ.get("SM_OPT_ML") and os.environ.get("AFFINITY_DIR"):
    path = os.path.join(os.environ["AFFINITY_DIR"], str(os.getpid()))
    with open(path, "w") as out:
        json.dump(sorted(os.sched_getaffinity(0)), out)
"""


def test_pinned_check_hosts_run_on_their_core(tmp_path, monkeypatch):
    seen = host_hook(tmp_path, monkeypatch, HOOK, "AFFINITY_DIR")
    core = max(os.sched_getaffinity(0))
    monkeypatch.setenv(ENV_PIN_CORES, str(core))
    data = tmp_path / "data"
    data.mkdir()
    lines = ABALONE.read_text().splitlines()
    for i in range(2):
        (data / f"part-{i}.csv").write_text("\n".join([lines[0], *lines[1 + i :: 2]]) + "\n")

    def environment(opt_ml):
        return {
            "analysis_stage": "profile",
            "dataset_source": str(opt_ml / INPUT / "data"),
            "output_path": str(opt_ml / OUTPUT),
            "dataset_format": '{"csv": {"header": true}}',
        }

    inputs = [HostInput("data", data, tuple(sorted(data.iterdir())), sharded=True)]
    merged, timings = run_analyzer_hosts(tmp_path / "job", 2, inputs, environment)

    assert [t["status"] for t in timings] == ["Completed", "Completed"]
    assert sorted(p.name for p in merged.iterdir()) == ["partial_profile-algo-1.json", "partial_profile-algo-2.json"]
    affinities = [json.loads(p.read_text()) for p in seen.iterdir()]
    assert affinities == [[core], [core]]
