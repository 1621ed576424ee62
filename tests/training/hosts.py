"""A small stand-in for a multi-instance training job: N host processes started as SageMaker starts them.

Each host gets its own base dir (``<root>/<host>/opt/ml``) with the staged ``sourcedir.tar.gz`` unpacked flat in
``code/``, its channels under ``input/data`` (its shard of the train files, the validation and transform channels
whole), ``input/config/resourceconfig.json`` (current_host, hosts, network_interface_name) and the SM_*
environment the training toolkit sets. Hosts are separate processes (never forked: XGBoost hangs in processes
forked after OpenMP started), each in its own session so a test can kill one host with everything it started.
The tracker address comes by environment (``MLOPS_TRACKER_HOST`` = loopback, a free ``MLOPS_TRACKER_PORT``)
since ``algo-N`` does not resolve here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.staging import code_artifacts

SMALL_ENV = {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unpack_sourcedir(code: Path) -> Path:
    """The staged training tarball (pipelines/staging.py), unpacked flat into ``code``."""
    artifact = code_artifacts()["training"]
    (name, data), *_ = artifact.files
    assert name == "sourcedir.tar.gz"
    code.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(code, filter="data")
    return code


@dataclass
class Host:
    """One host process of the job and its base dir."""

    name: str
    base: Path
    process: subprocess.Popen

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def log(self) -> Path:
        return self.base.parents[1] / "host.log"

    def kill(self) -> None:
        """SIGKILL the host's whole session (the host and anything it started)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def lay_out_host(root: Path, host: str, hosts: Sequence[str], train_files: Sequence[Path], data: Path) -> Path:
    """``root/<host>/opt/ml`` with code, channels (``train_files`` as this host's shard) and resourceconfig."""
    base = root / host / "opt" / "ml"
    unpack_sourcedir(base / "code")
    train = base / "input" / "data" / "train"
    train.mkdir(parents=True, exist_ok=True)  # SageMaker creates the channel directory even for an empty shard
    for path in train_files:
        shutil.copyfile(path, train / path.name)
    for channel in ("validation", "transform"):
        shutil.copytree(data / channel, base / "input" / "data" / channel)
    config = base / "input" / "config"
    config.mkdir(parents=True)
    resource = {"current_host": host, "hosts": list(hosts), "network_interface_name": "eth0"}
    (config / "resourceconfig.json").write_text(json.dumps(resource), encoding="utf-8")
    return base


def start_host(base: Path, host: str, hyperparameters: Mapping[str, str], port: int, extra: Mapping[str, str]) -> Host:
    """Run ``python train.py --hp v ...`` in the host's code dir with the toolkit's SM_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_", "MLOPS_"))}
    env.update(SMALL_ENV)
    env.update(
        {
            "SM_MODEL_DIR": str(base / "model"),
            "SM_OUTPUT_DIR": str(base / "output"),
            "SM_OUTPUT_DATA_DIR": str(base / "output" / "data"),
            "SM_INPUT_DIR": str(base / "input"),
            **{
                f"SM_CHANNEL_{c.upper()}": str(base / "input" / "data" / c)
                for c in ("train", "validation", "transform")
            },
            "MLOPS_TRACKER_HOST": "127.0.0.1",
            "MLOPS_TRACKER_PORT": str(port),
            **extra,
        }
    )
    (base / "model").mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "train.py"]
    for key, value in hyperparameters.items():
        command += [f"--{key}", value]
    log = open(base.parents[1] / "host.log", "wb")  # noqa: SIM115 - the child owns it until it exits
    process = subprocess.Popen(
        command, cwd=base / "code", env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    return Host(host, base, process)


def run_job(
    root: Path,
    shards: Mapping[str, Sequence[Path]],
    data: Path,
    hyperparameters: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
) -> list[Host]:
    """Start one process per host of ``shards`` (host name -> its train files); returns the running hosts."""
    hosts = sorted(shards)
    port = free_port()
    started = []
    for host in hosts:
        base = lay_out_host(root, host, hosts, shards[host], data)
        started.append(start_host(base, host, hyperparameters, port, extra or {}))
    return started


def wait_all(hosts: Sequence[Host], timeout: float) -> dict[str, int | None]:
    """Each host's exit code once all exited, or None for those still running after ``timeout`` (then killed)."""
    deadline = time.monotonic() + timeout
    codes: dict[str, int | None] = {}
    for host in hosts:
        try:
            codes[host.name] = host.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            codes[host.name] = None
    for host in hosts:
        if codes[host.name] is None:
            host.kill()
            host.process.wait()
    return codes


def session_alive(host: Host) -> bool:
    """True while any process of the host's session (its process group) still exists."""
    try:
        os.killpg(host.process.pid, 0)
    except ProcessLookupError:
        return False
    return True
