"""Training across SageMaker hosts: who the hosts are, and the XGBoost collective ring they train in.

Script mode sets up nothing for a multi-instance job: every host runs ``train.py`` with its shard of the train
channel (ShardedByS3Key gives each host about 1/N of the objects). As the XGBoost container's algorithm mode does
(sagemaker_xgboost_container/distributed.py at v3.0-5), the first host of ``sorted(hosts)`` starts XGBoost's
RabitTracker on port 9099, every host (the first included) waits until the tracker accepts connections and joins
the ring through ``xgboost.collective`` with its index in ``sorted(hosts)`` as task id (so rank 0 is the first
host), and ``xgb.train`` then builds each tree from the histograms of every host. Only rank 0 writes the model.

Unlike algorithm mode, a host with no train files joins the ring with an empty matrix (XGBoost sums its empty
histograms and metrics as zeros) rather than leaving it: one ring, one port, the same first host always writes.

The validation channel is FullyReplicated, but with a metric XGBoost sums across the ring (``SUMMED_METRICS``) each
host scores only its share of the validation rows (``validation_share``): the allreduced sums are the one-host
metric's, and no host repeats the others' scoring every round (on the bench's 1.5M validation rows, 4.7 s of a
2-host job's 37 s of rounds).

The hosts come from ``SM_HOSTS`` / ``SM_CURRENT_HOST`` (set by the training toolkit), else from SageMaker's
resource config (``resourceconfig.json`` under ``SM_INPUT_CONFIG_DIR``, ``$SM_INPUT_DIR/config``,
``$SM_OPT_ML/input/config`` or ``/opt/ml/input/config``), else one host. Environment for a local runner:

- ``MLOPS_TRACKER_HOST``: an override of the address the tracker listens on and every host connects to. By default
  the first host's name is resolved here, in Python, retried until ``MLOPS_TRACKER_TIMEOUT`` (``algo-1`` resolves
  once the cluster is up, as the container's algorithm mode waits for it with its own retried lookup), and XGBoost
  gets the address, never the name: its C++ side would resolve through libc, which the local runner's loopback hook
  (``pipelines/local/loopback_names.py``: the job's host names resolve to 127.0.0.1 in Python) does not reach;
- ``MLOPS_TRACKER_PORT``: the tracker's port (default 9099, as on SageMaker);
- ``MLOPS_TRACKER_TIMEOUT``: seconds a host waits for the first host's name to resolve and its tracker to come up
  (default 900);
- ``MLOPS_COLLECTIVE_TIMEOUT``: seconds a host waits in one collective operation for the others (default 86400, a
  day, as SageMaker's default MaxRuntimeInSeconds: hosts read shards of different sizes at different speeds, so a
  short wait fails healthy jobs; a host that dies closes its sockets and the others fail at once anyway).

Standard library, numpy and xgboost only; Python 3.10 compatible. Staged flat next to ``train.py`` as
``multihost.py``: a ``distributed.py`` there would shadow dask's ``distributed`` package, which the image carries.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from mlops_errors import MlopsError

logger = logging.getLogger(__name__)

TRACKER_PORT = 9099  # the XGBoost container's algorithm mode (distributed.Rabit's default port)
TRACKER_TIMEOUT = 900.0
ENV_TRACKER_HOST = "MLOPS_TRACKER_HOST"
ENV_TRACKER_PORT = "MLOPS_TRACKER_PORT"
ENV_TRACKER_TIMEOUT = "MLOPS_TRACKER_TIMEOUT"
COLLECTIVE_TIMEOUT = 86400.0
ENV_COLLECTIVE_TIMEOUT = "MLOPS_COLLECTIVE_TIMEOUT"
RESOURCE_CONFIG = "resourceconfig.json"
# The metrics XGBoost reduces across the ring as sums of per-row terms (its element-wise metrics allreduce their
# residue and weight sums), so hosts scoring disjoint shares of the validation rows get the one-host value. auc and
# aucpr it reduces as a weighted mean of every host's own area, an approximation: for those every host scores all rows.
SUMMED_METRICS = frozenset({"rmse", "mae", "mape", "rmsle", "logloss", "error"})


class ClusterError(MlopsError, ValueError):
    """The resource configuration or the tracker settings are unusable; the message names the value."""


@dataclass(frozen=True)
class Cluster:
    """The training job's hosts (sorted) and the one this process runs on."""

    hosts: tuple[str, ...] = ("algo-1",)
    current_host: str = "algo-1"

    @property
    def rank(self) -> int:
        """This host's index in ``sorted(hosts)``: its task id in the ring; 0 is the leader."""
        return self.hosts.index(self.current_host)

    @property
    def is_leader(self) -> bool:
        """True on the first host: it runs the tracker and writes the model."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True with more than one host."""
        return len(self.hosts) > 1


def validation_share(rows: int, metric: str, cluster: Cluster) -> slice:
    """The validation rows this host scores: a contiguous 1/N of ``rows`` (the first hosts get one row fewer when N
    does not divide them, possibly none) for a summed metric on several hosts, else every row."""
    if not cluster.distributed or metric not in SUMMED_METRICS:
        return slice(0, rows)
    hosts = len(cluster.hosts)
    return slice(rows * cluster.rank // hosts, rows * (cluster.rank + 1) // hosts)


def make_cluster(hosts: object, current_host: object, source: str) -> Cluster:
    """A Cluster from the ``hosts`` list and ``current_host``; ClusterError naming ``source`` if they do not fit."""
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise ClusterError(f"{source}: hosts must be a non-empty list of host names, got {hosts!r}")
    if len(set(hosts)) != len(hosts):
        raise ClusterError(f"{source}: hosts has duplicates: {hosts!r}")
    if current_host not in hosts:
        raise ClusterError(f"{source}: current_host {current_host!r} is not one of hosts {hosts!r}")
    return Cluster(tuple(sorted(hosts)), str(current_host))


def resource_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where SageMaker's training resource config is, through the same /opt/ml mapping as the channels."""
    if environ.get("SM_INPUT_CONFIG_DIR"):
        return Path(environ["SM_INPUT_CONFIG_DIR"]) / RESOURCE_CONFIG
    if environ.get("SM_INPUT_DIR"):
        return Path(environ["SM_INPUT_DIR"]) / "config" / RESOURCE_CONFIG
    return Path(environ.get("SM_OPT_ML", "/opt/ml")) / "input" / "config" / RESOURCE_CONFIG


def read_cluster(environ: Mapping[str, str] = os.environ) -> Cluster:
    """The hosts from SM_HOSTS / SM_CURRENT_HOST, else resourceconfig.json, else a single host."""
    if environ.get("SM_HOSTS") and environ.get("SM_CURRENT_HOST"):
        try:
            hosts = json.loads(environ["SM_HOSTS"])
        except json.JSONDecodeError:
            raise ClusterError(f"SM_HOSTS must be a JSON list of host names, got {environ['SM_HOSTS']!r}") from None
        return make_cluster(hosts, environ["SM_CURRENT_HOST"], "SM_HOSTS/SM_CURRENT_HOST")
    path = resource_config_path(environ)
    if not path.is_file():
        return Cluster()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ClusterError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ClusterError(f"{path} must hold a JSON object with current_host and hosts")
    return make_cluster(document.get("hosts"), document.get("current_host"), str(path))


def _setting(environ: Mapping[str, str], name: str, default: float, kind: type, most: float = 1e9) -> float:
    """The environment's ``name`` as a ``kind`` in (0, most] (``default`` when unset); ClusterError naming it when
    it is not a number there (nan and inf included: a nan deadline is never reached)."""
    text = environ.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ClusterError(f"{name} must be a positive {kind.__name__}, got {text!r}") from None
    if not 0 < value <= most:  # False for nan
        raise ClusterError(f"{name} must be a positive {kind.__name__}, got {text!r} (at most {most:g})")
    return value


def _resolve(host: str, deadline: float) -> str:
    """The IP address of ``host``, retried until ``deadline`` (cluster names resolve once every host is up)."""
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"Cannot resolve the first host {host!r}: {exc}") from None
            time.sleep(1.0)


def wait_for_tracker(address: str, port: int, deadline: float) -> None:
    """Return once the tracker at ``address:port`` accepts connections; ClusterError after ``deadline``."""
    attempt = 0
    while True:
        try:
            with socket.create_connection((address, port), timeout=5.0):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"The tracker at {address}:{port} did not come up: {exc}") from None
            attempt += 1
            time.sleep(min(0.1 * 2**attempt, 3.0))


@contextmanager
def collective_ring(cluster: Cluster, environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Within the block, this process is a worker of the cluster's XGBoost ring (nothing with one host).

    A collective failure inside (another host died or lost contact) becomes a ClusterError naming the hosts; the
    ring is left without waiting for the hosts that are gone.
    """
    if not cluster.distributed:
        yield
        return
    from xgboost import collective
    from xgboost.core import XGBoostError
    from xgboost.tracker import RabitTracker

    timeout = _setting(environ, ENV_TRACKER_TIMEOUT, TRACKER_TIMEOUT, float)
    operations = int(_setting(environ, ENV_COLLECTIVE_TIMEOUT, COLLECTIVE_TIMEOUT, float))
    port = int(_setting(environ, ENV_TRACKER_PORT, TRACKER_PORT, int, 65535))
    deadline = time.monotonic() + timeout
    address = environ.get(ENV_TRACKER_HOST) or _resolve(cluster.hosts[0], deadline)
    tracker = None
    if cluster.is_leader:
        try:
            tracker = RabitTracker(n_workers=len(cluster.hosts), host_ip=address, port=port, sortby="task")
            tracker.start()
        except XGBoostError as exc:
            raise ClusterError(f"Cannot start the tracker on {address}:{port}: {_first(exc)}") from None
        logger.info("Tracker for %d hosts listening on %s:%d", len(cluster.hosts), address, port)
    wait_for_tracker(address, port, deadline)
    args: dict[str, int | str | None] = {"dmlc_tracker_uri": address, "dmlc_tracker_port": port}
    args["dmlc_task_id"] = str(cluster.rank)
    try:
        collective.init(**args, dmlc_timeout=operations, dmlc_retry=3)
    except XGBoostError as exc:
        _drop(tracker)
        raise ClusterError(
            f"Host {cluster.current_host} could not join the ring at {address}:{port}: {_first(exc)}"
        ) from None
    rank, size = collective.get_rank(), collective.get_world_size()
    logger.info("Host %s joined the ring as rank %d of %d", cluster.current_host, rank, size)
    try:
        yield
    except XGBoostError as exc:
        _leave(collective)
        _drop(tracker)
        hosts = ", ".join(cluster.hosts)
        raise ClusterError(f"Training across {hosts} failed on {cluster.current_host}: {_first(exc)}") from None
    except BaseException:
        _leave(collective)
        _drop(tracker)
        raise
    collective.finalize()
    if tracker is not None:
        tracker.wait_for(operations)
        tracker.free()


def _drop(tracker: object | None) -> None:
    """Free the tracker of a failed job without waiting for hosts that may be gone (its error is only logged)."""
    free = getattr(tracker, "free", None)
    if free is None:
        return
    try:
        free()
    except Exception as exc:  # the training failure being raised matters more
        logger.warning("Stopping the tracker: %s", _first(exc))


def _leave(collective: ModuleType) -> None:
    """Leave a broken ring: finalize's own error (the others may be gone) is logged, not raised over the cause."""
    try:
        collective.finalize()
    except Exception as exc:  # the training failure being raised matters more
        logger.warning("Leaving the ring: %s", _first(exc))


def _first(exc: BaseException) -> str:
    """An XGBoost error's reasons without its stack trace."""
    lines = [line.strip() for line in str(exc).splitlines()]
    reasons = [line.lstrip("- ") for line in lines if line.startswith("- ")]
    return "; ".join(reasons) or (lines[0] if lines else type(exc).__name__)


def global_sum(values: list[float], cluster: Cluster) -> list[float]:
    """The element-wise sum of ``values`` over every host of the ring (the values themselves with one host)."""
    if not cluster.distributed:
        return list(values)
    from xgboost import collective

    total = collective.allreduce(np.asarray(values, dtype=np.float64), collective.Op.SUM)
    return [float(v) for v in total]
