"""The runner's wait between two looks at a job's hosts (``until_one_ends``): on Linux it ends the moment a host exits
(the host's pidfd), elsewhere it sleeps its full time. The time limits below are ten times what the behaviour needs,
so they fail only when the wait did not end at the host's exit."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.local.cluster import Host, until_one_ends

LONG = 30.0  # the wait's limit: a wait that ran to it did not notice the host's exit


def _host(tmp_path: Path, name: str, seconds: float) -> Host:
    command = [sys.executable, "-c", f"import time; time.sleep({seconds})"]
    host = Host(name, command, {}, tmp_path, tmp_path / f"{name}.log", tmp_path / f"{name}.failure")
    host.process = subprocess.Popen(command)
    return host


@pytest.fixture
def hosts(tmp_path):
    """A host that ends at once and one that runs for a minute (killed after the test)."""
    made = [_host(tmp_path, "algo-1", 0), _host(tmp_path, "algo-2", 60)]
    yield made
    for host in made:
        assert host.process is not None
        host.process.kill()
        host.process.wait()


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux's")
def test_the_wait_ends_when_one_host_exits(hosts):
    started = time.monotonic()
    until_one_ends(hosts, LONG)
    assert time.monotonic() - started < LONG / 10
    assert hosts[0].process is not None and hosts[0].process.poll() == 0
    assert hosts[1].process is not None and hosts[1].process.poll() is None


def test_without_pidfds_the_wait_sleeps_its_time(hosts, monkeypatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    started = time.monotonic()
    until_one_ends(hosts, 0.3)
    assert time.monotonic() - started >= 0.3


def test_a_kernel_without_pidfds_sleeps_its_time(hosts, monkeypatch):
    def unsupported(pid: int) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", unsupported, raising=False)
    started = time.monotonic()
    until_one_ends(hosts, 0.3)
    assert time.monotonic() - started >= 0.3


def test_with_every_host_ended_the_wait_sleeps_its_time(hosts):
    for host in hosts:
        assert host.process is not None
        host.process.kill()
        host.process.wait()
    started = time.monotonic()
    until_one_ends(hosts, 0.3)
    assert time.monotonic() - started >= 0.3


def test_the_wait_leaves_no_descriptor_open(hosts):
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(5):
        until_one_ends(hosts, 0.01)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before
