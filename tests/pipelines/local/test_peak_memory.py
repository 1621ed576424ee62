"""Each host's peak memory is its own, not the runner's: the kernel's figure for a forked child includes the parent's
peak, so a large runner would make every host look large."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipelines.local.cluster import Host, run_hosts
from pipelines.local.peak_memory import high_water_mib, peak_rss

HOLD = "import time; block = bytearray({mib} * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); time.sleep(1.0)"


def _host(tmp_path: Path, name: str, mib: int) -> Host:
    where = tmp_path / name
    where.mkdir()
    return Host(
        name=name,
        command=[sys.executable, "-c", HOLD.format(mib=mib)],
        env={"PATH": "/usr/bin:/bin"},
        cwd=where,
        log=where / "log.txt",
        failure_file=where / "failure",
    )


def test_a_host_records_its_own_peak_even_under_a_larger_runner(tmp_path):
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # the runner's peak is now above 400 MiB
    assert (high_water_mib() or 0) > 400
    hosts = [_host(tmp_path, "algo-1", 200), _host(tmp_path, "algo-2", 0)]
    run_hosts(hosts, 60, tmp_path, tmp_path / "job.log")
    timings = {t["host"]: t for t in json.loads((tmp_path / "hosts.json").read_text())}
    big, small = timings["algo-1"], timings["algo-2"]
    assert 200 <= big["max_rss_mb"] < 400, big
    assert small["max_rss_mb"] < 100, small
    assert {big["max_rss_source"], small["max_rss_source"]} <= {"polled", "exact"}
    assert not any(key.startswith("_") for t in timings.values() for key in t)
    del ballast


def test_the_kernel_figure_is_taken_when_it_exceeds_what_the_host_inherited():
    assert peak_rss(900 * 1024, 300.0, 850.0) == {"max_rss_mb": 900.0, "max_rss_source": "exact"}
    assert peak_rss(300 * 1024, 300.0, 120.0) == {"max_rss_mb": 120.0, "max_rss_source": "polled"}
    assert peak_rss(300 * 1024, 300.0, None) == {"max_rss_mb": None, "max_rss_source": "unknown"}
