"""The analyzer's container entry on N simulated hosts, for local scheduled checks with
``sagemaker.processing_instance_count`` > 1: the profile stage of a multi-instance Processing job, run the way the local
runner runs one (``pipelines.local.cluster``: spawned host processes ``algo-1`` .. ``algo-N``, each in its own
session with its own ``/opt/ml`` and SageMaker's resourceconfig.json; one failing host stops the others, no
process outlives the job, MaxRuntimeInSeconds as ``timeout``).

Inputs are lists of files under a root, placed in each host's ``/opt/ml/processing/input/<name>`` at their path
relative to the root: a sharded input gives each host its share of the files in path order
(``pipelines.local.sharding.shard``, round-robin or contiguous by ``MLOPS_LOCAL_SHARD_ASSIGNMENT``), a replicated
one gives every host all of them. The hosts' output directories are merged into one (a name two hosts wrote with
different bytes is refused). The merge stage then runs in the calling process on that directory. With
``MLOPS_LOCAL_PIN_CORES`` host k runs on the k-th listed core, as in the runner's own multi-instance jobs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.local.cluster import HOSTS_FILE, Host, host_names, pin_cores, pinned, resource_config, run_hosts
from pipelines.local.sharding import assignment, merge_outputs, shard
from pipelines.local.store import link_or_copy

INPUT = Path("processing") / "input"
OUTPUT = Path("processing") / "resultdata"


@dataclass(frozen=True)
class HostInput:
    """Files of one input under ``root`` and how they are shared out (``sharded``: by file, else to every host)."""

    name: str  # the host's /opt/ml/processing/input/<name>
    root: Path
    files: tuple[Path, ...]
    sharded: bool


def instance_count(config) -> int:
    """The instances of a scheduled check: ``sagemaker.processing_instance_count``, the value the AWS monitoring stack
    passes to its check jobs (stack parameter ProcessingInstanceCount), so both places size checks alike."""
    return int(config.sagemaker.processing_instance_count)


def _place(item: HostInput, target: Path, index: int, count: int, how: str) -> None:
    files = sorted(item.files, key=lambda p: Path(p).relative_to(item.root).parts)
    chosen = [files[i] for i in shard(len(files), count, index, how)] if item.sharded else files
    target.mkdir(parents=True, exist_ok=True)
    for path in chosen:
        placed = target / Path(path).relative_to(item.root)
        placed.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(Path(path), placed)


def _environment(opt_ml: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SM_", "SAGEMAKER_"))}
    env.update(extra)
    env.update(SM_OPT_ML=str(opt_ml), OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    return env


def run_analyzer_hosts(
    job_dir: Path,
    count: int,
    inputs: Sequence[HostInput],
    environment: Callable[[Path], dict[str, str]],
    timeout: float | None = None,
) -> tuple[Path, list[dict]]:
    """Run ``monitoring.container_entry`` on ``count`` hosts under ``job_dir``; ``environment(opt_ml)`` gives a
    host's analyzer environment (its paths under that host's ``opt_ml``; outputs into ``opt_ml/processing/
    resultdata``). Returns (the merged output directory, each host's timing and log). StepFailure when a host
    fails, naming it and its reason."""
    job_dir = Path(job_dir)
    names, how, cores = host_names(count), assignment(), pin_cores()
    hosts, outputs = [], []
    for index, name in enumerate(names):
        opt_ml = job_dir / "hosts" / name / "opt_ml"
        for item in inputs:
            _place(item, opt_ml / INPUT / item.name, index, count, how)
        (opt_ml / OUTPUT).mkdir(parents=True, exist_ok=True)
        (opt_ml / "output").mkdir(parents=True, exist_ok=True)
        (opt_ml / "config").mkdir(parents=True, exist_ok=True)
        (opt_ml / "config" / "resourceconfig.json").write_text(resource_config(name, names), encoding="utf-8")
        entry = [sys.executable, "-m", "monitoring.container_entry"]
        command, env = pinned(entry, _environment(opt_ml, environment(opt_ml)), index, cores)  # MLOPS_LOCAL_PIN_CORES
        log = job_dir / "hosts" / name / "log.txt"
        failure = opt_ml / "output" / "message"
        hosts.append(Host(name=name, command=command, env=env, cwd=opt_ml, log=log, failure_file=failure))
        outputs.append((name, opt_ml / OUTPUT))
    with _hosts_stopped_on_sigterm():
        run_hosts(hosts, timeout, job_dir, job_dir / "log.txt")
    merged = job_dir / "merged"
    merge_outputs(outputs, merged, "analyzer output")
    return merged, _timings(job_dir)


class _Terminated(BaseException):
    """SIGTERM arrived while the hosts ran (a BaseException: no check's error handling may swallow it)."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


@contextmanager
def _hosts_stopped_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM stops the hosts (``run_hosts``' cleanup) before this process ends as SIGTERM ends
    it: the hosts run in sessions of their own, so the signal's default action would leave them running. Nothing
    changes off the main thread or where a SIGTERM handler is already set (``mlops run`` stops its own hosts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # the default action: this process ends here, as it would have
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _timings(job_dir: Path) -> list[dict]:
    return list(json.loads((job_dir / HOSTS_FILE).read_text(encoding="utf-8")))
