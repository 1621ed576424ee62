"""A multi-instance job on one machine: one host process per instance (``algo-1`` .. ``algo-N``), each spawned
as a new interpreter (never forked: XGBoost hangs in processes forked after OpenMP started) in its own session,
with its own ``/opt/ml`` directory and the resource config SageMaker writes there.

One failing host fails the job: the others are stopped (their whole process groups), and the reason is that
host's failure file (or exit code) with its log's tail. MaxRuntimeInSeconds bounds the whole job. No host process
outlives the job, whatever ends it. Each host's timing, CPU seconds, peak RSS and log go to ``hosts.json`` in the
job's directory, which the execution record shows.

The job's host names resolve to loopback inside its host processes (``pipelines.local.loopback_names``, put first on
their PYTHONPATH as ``sitecustomize``), as they resolve to the instances inside a SageMaker job.

``MLOPS_LOCAL_PIN_CORES`` (a comma-separated list of CPU numbers, e.g. ``0,1``; unset: no pinning) runs host k of
every multi-instance job on one core, the k-th of the list (cycling), under ``taskset -c`` and with one thread:
``OMP_NUM_THREADS=1`` (XGBoost's default ``nthread`` and Arrow's CPU pool follow it) and ``ARROW_IO_THREADS=1``. It
simulates instances of one core each on a machine with fewer cores than hosts x threads (bench/scale_out.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.local import loopback_names, processes
from pipelines.local.child_exit import until_one_exits
from pipelines.local.peak_memory import high_water_mib, peak_rss
from pipelines.local.record import now
from pipelines.local.store import StepFailure

POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 5.0
HOSTS_FILE = "hosts.json"
ENV_PIN_CORES = "MLOPS_LOCAL_PIN_CORES"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "ARROW_IO_THREADS": "1"}


def host_names(count: int) -> list[str]:
    """``algo-1`` .. ``algo-<count>``, as SageMaker names a job's instances."""
    return [f"algo-{i}" for i in range(1, count + 1)]


def resource_config(host: str, hosts: list[str], extra: dict | None = None) -> str:
    """The resourceconfig.json SageMaker writes for ``host``."""
    return json.dumps({"current_host": host, "hosts": hosts, "network_interface_name": "lo", **(extra or {})})


def free_port() -> int:
    """A TCP port free on the loopback interface now (the training tracker's, chosen per job)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def loopback_hook(directory: Path, hosts: list[str]) -> Path:
    """Write the hook that makes ``hosts`` resolve to 127.0.0.1 (``sitecustomize.py`` and its names file) into
    ``directory``; returns the directory, to put first on the host processes' PYTHONPATH."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(loopback_names.__file__, directory / f"{loopback_names.MODULE_NAME}.py")
    (directory / loopback_names.NAMES_FILE).write_text(json.dumps({"hosts": hosts}), encoding="utf-8")
    return directory


def with_hook(env: dict[str, str], hook: Path) -> dict[str, str]:
    """``env`` with ``hook`` first on its PYTHONPATH (the job's own entries kept after it)."""
    rest = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": f"{hook}{os.pathsep}{rest}" if rest else str(hook)}


def pin_cores(environ: Mapping[str, str] | None = None) -> list[int]:
    """The cores of ``MLOPS_LOCAL_PIN_CORES`` (empty: no pinning); StepFailure when one is not usable here."""
    text = (environ if environ is not None else os.environ).get(ENV_PIN_CORES, "").strip()
    if not text:
        return []
    usable = sorted(os.sched_getaffinity(0))
    try:
        cores = [int(part) for part in text.split(",")]
    except ValueError:
        cores = []
    if not cores or any(c not in usable for c in cores):
        message = f"{ENV_PIN_CORES} must be a comma-separated list of CPU numbers out of {usable}, got {text!r}"
        raise StepFailure(message, "ClientError")
    if shutil.which("taskset") is None:
        raise StepFailure(f"{ENV_PIN_CORES} is set but taskset (util-linux) is not installed", "ClientError")
    return cores


def pinned(command: list[str], env: dict[str, str], index: int, cores: list[int]) -> tuple[list[str], dict[str, str]]:
    """Host ``index``'s command and environment pinned to its core of ``cores`` with one thread (unchanged when
    ``cores`` is empty)."""
    if not cores:
        return command, env
    return ["taskset", "-c", str(cores[index % len(cores)]), *command], {**env, **ONE_THREAD}


@dataclass
class Host:
    """One host process of a job: what it runs and where its failure file and log are."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    failure_file: Path
    process: subprocess.Popen | None = None
    timing: dict = field(default_factory=dict)


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _start(host: Host) -> None:
    host.log.parent.mkdir(parents=True, exist_ok=True)
    with open(host.log, "ab") as out:
        out.write(f"$ {' '.join(host.command)}\n".encode())
        out.flush()
        try:
            host.process = processes.start(  # in its own session, registered (an interrupt stops it)
                host.command, env=host.env, cwd=host.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            message = f"{host.name}: cannot start {host.command[0]}: {exc}"
            raise StepFailure(message, "SageMaker.JOB_INTERNAL_ERROR") from exc
    host.timing = {"host": host.name, "started": now(), "log": str(host.log), "_t0": time.monotonic()}
    host.timing.update(_inherited=high_water_mib(), _polled=None)


def _finish(host: Host, status: str) -> None:
    if "_t0" not in host.timing:
        return
    code = host.process.returncode if host.process is not None else None
    started = host.timing.pop("_t0")
    for scratch in ("_inherited", "_polled"):
        host.timing.pop(scratch, None)
    host.timing.update(status=status, ended=now(), duration_s=round(time.monotonic() - started, 3), exit_code=code)


def _stop(hosts: list[Host]) -> None:
    """Stop every host still running, with its process group: SIGTERM, then SIGKILL after a grace period."""
    alive = [h for h in hosts if h.process is not None and h.process.poll() is None]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for host in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(host.process.pid, sig)  # type: ignore[union-attr]
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for host in alive:
            try:
                host.process.wait(max(0.0, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                continue
        alive = [h for h in alive if h.process.poll() is None]  # type: ignore[union-attr]
        if not alive:
            break
    for host in hosts:  # grandchildren a finished host left behind in its session
        if host.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(host.process.pid, signal.SIGKILL)


def _failure(host: Host) -> StepFailure:
    code = host.process.returncode if host.process is not None else None
    if code is not None and code < 0:
        return StepFailure(f"{host.name}: killed by signal {-code}; log: {host.log}", "SageMaker.JOB_INTERNAL_ERROR")
    file = host.failure_file
    reason = file.read_text(encoding="utf-8", errors="replace").strip() if file.is_file() else ""
    return StepFailure(
        f"{host.name}: {reason or f'exit code {code}'}\n--- last lines of {host.log} ---\n{_tail(host.log)}"
    )


def _reap(host: Host) -> int | None:
    """The host's exit code once it has ended (None while it runs), reaped with its CPU time and peak RSS
    (``pipelines.local.peak_memory``: the kernel's figure includes the runner's own peak, so it is checked)."""
    process = host.process
    assert process is not None
    if process.returncode is not None:
        return process.returncode
    try:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere: no usage to record
        return process.poll()
    if pid == 0:
        polled = high_water_mib(process.pid)
        if polled is not None:
            host.timing["_polled"] = max(polled, host.timing.get("_polled") or 0.0)
        return None
    process.returncode = os.waitstatus_to_exitcode(status)
    host.timing.update(
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        **peak_rss(usage.ru_maxrss, host.timing.get("_inherited"), host.timing.get("_polled")),
    )
    return process.returncode


def _ended_badly(host: Host) -> None:
    """Record a host that exited non-zero and raise why: Stopped when an interrupt stopped it (that is the reason, and
    no retry), else Failed with its failure file or exit code."""
    try:
        processes.check()
    except StepFailure:
        _finish(host, "Stopped")
        raise
    _finish(host, "Failed")
    raise _failure(host)


def _wait(hosts: list[Host], timeout: float | None) -> None:
    """Until every host succeeded; StepFailure at the first failure or past ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    while True:
        running = 0
        for host in hosts:
            code = _reap(host)
            if code is None:
                running += 1
            elif host.timing.get("status") is None:
                if code != 0:
                    _ended_badly(host)
                _finish(host, "Completed")
        if not running:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise StepFailure(
                f"job exceeded MaxRuntimeInSeconds ({float(timeout or 0):.0f} s) on {len(hosts)} hosts; "
                f"logs: {', '.join(str(h.log) for h in hosts)}",
                "ClientError",
            )
        until_one_exits([h.process for h in hosts if h.process is not None], POLL_SECONDS)


def run_hosts(hosts: list[Host], timeout: float | None, job_dir: Path, job_log: Path) -> None:
    """Run the hosts side by side until all succeed; the first failure (or the time limit) stops the others."""
    try:
        for host in hosts:
            _start(host)
        _wait(hosts, timeout)
    finally:
        _stop(hosts)
        for host in hosts:
            _finish(host, "Stopped")
            if host.process is not None:
                processes.ended(host.process)
        timings = [host.timing for host in hosts if host.timing]
        (job_dir / HOSTS_FILE).write_text(json.dumps(timings, indent=2), encoding="utf-8")
        with open(job_log, "a", encoding="utf-8") as out:
            for t in timings:
                out.write(
                    f"{t['host']}: {t['status']} (exit {t['exit_code']}) in {t['duration_s']} s; log {t['log']}\n"
                )


def hosts_of(step_dir: Path) -> list[dict]:
    """Every host of the step's multi-instance jobs (job, host, status, timing, log), from their hosts.json."""
    found = []
    for path in sorted([*step_dir.glob(HOSTS_FILE), *step_dir.glob(f"*/{HOSTS_FILE}")]):  # a step's jobs
        try:
            timings = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        job = path.parent.relative_to(step_dir).as_posix()
        found += [{"job": job, **t} for t in timings]
    return found
