"""An interrupt (Ctrl-C or SIGTERM to the runner: ``processes.stop``) while a multi-instance job runs stops every host,
and the record says so: each host Stopped, none Failed, and the job fails as Interrupted (no retry)."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from pipelines.local import processes
from pipelines.local.cluster import HOSTS_FILE, Host, host_names, run_hosts
from pipelines.local.store import StepFailure


@pytest.fixture
def accepting():
    """The process registry accepting processes again after the test's interrupt."""
    yield
    processes.reset()


def test_an_interrupt_records_every_host_as_stopped(tmp_path, accepting):
    started = tmp_path / "started"
    started.mkdir()
    script = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
    hosts = [
        Host(
            name,
            [sys.executable, "-c", script, str(started / name)],
            {},
            tmp_path,
            tmp_path / name / "log.txt",
            tmp_path / name / "failure",
        )
        for name in host_names(2)
    ]

    def interrupt() -> None:
        while len(list(started.iterdir())) < 2:
            threading.Event().wait(0.05)
        processes.stop("interrupted (SIGINT)")

    stopper = threading.Thread(target=interrupt, daemon=True)
    stopper.start()
    with pytest.raises(StepFailure) as info:
        run_hosts(hosts, 120, tmp_path, tmp_path / "log.txt")
    stopper.join()
    assert info.value.kind == processes.INTERRUPTED
    timings = json.loads((tmp_path / HOSTS_FILE).read_text())
    assert [(t["host"], t["status"]) for t in timings] == [("algo-1", "Stopped"), ("algo-2", "Stopped")]
