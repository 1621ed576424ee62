"""Local checks on several hosts end however their hosts behave: a model-quality check whose hosts hang is stopped at
``sagemaker.max_runtime_seconds`` as the data-quality check is, and a monitor stopped by SIGTERM while its hosts run
leaves no host process behind.

A host hangs through a ``sitecustomize`` put first on the hosts' PYTHONPATH (the hosts inherit the monitor's
environment): it records its pid and sleeps before the analyzer starts, as a stuck read would."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from pipelines.monitor.loop import MonitorEnvironment
from pipelines.monitor.model_quality import check_model_quality, window_at
from tests.conftest import ROOT
from tests.pipelines.monitor.host_hooks import host_hook
from tests.pipelines.monitor.model_quality_state import ENDPOINT, ROWS, T, rings, serve

HOUR = timedelta(hours=1)
HANG_SECONDS = 30  # long past the limits below; bounded so that a defect fails the test instead of hanging it
HOOK = f"""import os, time
pids = os.environ.get("HANG_PIDS")
if pids and os.environ.get("SM_OPT_ML"):  # a host of the job, not the monitor itself
    open(os.path.join(pids, str(os.getpid())), "w").close()
    time.sleep({HANG_SECONDS})
"""


def hanging_hosts(tmp_path: Path, monkeypatch) -> Path:
    """Make every analyzer host started from now on hang; returns the folder where they record their pids."""
    return host_hook(tmp_path, monkeypatch, HOOK, "HANG_PIDS")


def running(pid: int) -> bool:
    """True while ``pid`` is a live process (not gone, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_model_quality_check_on_hanging_hosts_stops_at_max_runtime(tmp_path, monkeypatch):
    served = serve(tmp_path / "served")
    ids = served.traffic(T - 3 * HOUR, ROWS[:30], rings(ROWS[:30]), "a")
    ids += served.traffic(T - 2 * HOUR, ROWS[30:60], rings(ROWS[30:60]), "b")
    served.labels(T - HOUR, ids, list(rings(ROWS[:60])))
    config = served.config.with_overrides(sagemaker={"processing_instance_count": 2, "max_runtime_seconds": 2})
    pids = hanging_hosts(tmp_path, monkeypatch)

    env = MonitorEnvironment(config, served.state, served.clock)
    execution = check_model_quality(env, ENDPOINT, window_at(config, T))

    assert execution.status == "Failed"  # stopped, not waited for
    assert "MaxRuntimeInSeconds (2 s)" in execution.message
    assert len(list(pids.iterdir())) == 2
    assert not [p for p in pids.iterdir() if running(int(p.name))]


SCRIPT = """import sys
from pathlib import Path
from pipelines.monitor.hosts import run_analyzer_hosts
run_analyzer_hosts(Path(sys.argv[1]), 2, [], lambda opt_ml: {})
"""


def test_sigterm_to_the_monitor_stops_its_hosts(tmp_path, monkeypatch):
    pids = hanging_hosts(tmp_path, monkeypatch)
    monitor = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "job")], cwd=ROOT)
    try:
        deadline = time.monotonic() + HANG_SECONDS
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline and monitor.poll() is None:
            time.sleep(0.05)
        hosts = [int(p.name) for p in pids.iterdir()]
        assert len(hosts) == 2
        monitor.send_signal(signal.SIGTERM)
        assert monitor.wait(HANG_SECONDS) == -signal.SIGTERM  # ended as SIGTERM ends it
    finally:
        monitor.kill()
        monitor.wait()
    assert not [pid for pid in hosts if running(pid)]
    timings = json.loads((tmp_path / "job" / "hosts.json").read_text())
    assert [t["status"] for t in timings] == ["Stopped", "Stopped"]
