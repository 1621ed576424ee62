"""The runner's wait between two looks at a job's hosts (``until_one_exits``): on Linux it ends the moment a host
exits (the host's pidfd), elsewhere it sleeps its full time. The time limits below are ten times what the behaviour
needs, so they fail only when the wait did not end at the host's exit."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import pytest

from pipelines.local.child_exit import until_one_exits

LONG = 30.0  # the wait's limit: a wait that ran to it did not notice the host's exit


def _host(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


@pytest.fixture
def hosts():
    """A host that ends at once and one that runs for a minute (killed after the test)."""
    made = [_host(0), _host(60)]
    yield made
    for host in made:
        host.kill()
        host.wait()


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux's")
def test_the_wait_ends_when_one_host_exits(hosts):
    started = time.monotonic()
    until_one_exits(hosts, LONG)
    assert time.monotonic() - started < LONG / 10
    assert hosts[0].poll() == 0
    assert hosts[1].poll() is None


def test_without_pidfds_the_wait_sleeps_its_time(hosts, monkeypatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    started = time.monotonic()
    until_one_exits(hosts, 0.3)
    assert time.monotonic() - started >= 0.3


def test_a_kernel_without_pidfds_sleeps_its_time(hosts, monkeypatch):
    def unsupported(pid: int) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", unsupported, raising=False)
    started = time.monotonic()
    until_one_exits(hosts, 0.3)
    assert time.monotonic() - started >= 0.3


def test_with_every_host_ended_the_wait_sleeps_its_time(hosts):
    for host in hosts:
        host.kill()
        host.wait()
    started = time.monotonic()
    until_one_exits(hosts, 0.3)
    assert time.monotonic() - started >= 0.3


def test_the_wait_leaves_no_descriptor_open(hosts):
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(5):
        until_one_exits(hosts, 0.01)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux's")
def test_descriptors_numbered_past_1024_work(hosts):
    """A runner with many files open gets pidfds numbered 1024 and above, which ``select.select`` refuses."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) >= 1024
        started = time.monotonic()
        until_one_exits(hosts, LONG)
        assert time.monotonic() - started < LONG / 10
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
