"""Which host this processing container is and which stage of an analysis it runs (``analysis_stage``: full,
profile or merge), from SageMaker's /opt/ml/config/resourceconfig.json and the job's environment.

Standard library only: the merge job decides its stage without importing the readers (``monitoring.shard``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitoring.errors import AnalyzerInputError

RESOURCE_CONFIG = Path("config") / "resourceconfig.json"
STAGES = ("full", "profile", "merge")
IDLE = "idle"  # full on several hosts, on a host other than the leader
DEFAULT_PARTIALS = "/opt/ml/processing/input/partials"


@dataclass(frozen=True)
class HostRole:
    """This container's host name and the job's hosts."""

    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)

    @property
    def leader(self) -> str:
        """The host that runs a job the others leave to it: the first of the sorted hosts."""
        return min(self.hosts)


def read_resource_config(opt_ml: Path) -> HostRole:
    """The role SageMaker's resourceconfig.json gives this host (one host ``algo-1`` when the file is absent)."""
    path = Path(opt_ml) / RESOURCE_CONFIG
    if not path.is_file():
        return HostRole()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        host, hosts = doc["current_host"], doc["hosts"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise AnalyzerInputError(
            f"{path}: expected JSON with current_host and hosts ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(host, str) or not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise AnalyzerInputError(f"{path}: current_host must be a string and hosts a list of strings, got {doc!r}")
    if host not in hosts or len(set(hosts)) != len(hosts):
        raise AnalyzerInputError(f"{path}: current_host {host!r} must be one of the distinct hosts {hosts}")
    return HostRole(host, tuple(hosts))


def analysis_stage(env: Mapping[str, str], role: HostRole) -> str:
    """The stage this container runs: ``analysis_stage`` if set, else ``full``; ``full`` on a host other than the
    leader of several is ``idle`` (it writes nothing)."""
    stage = env.get("analysis_stage") or "full"
    if stage not in STAGES:
        raise AnalyzerInputError(f"analysis_stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if stage == "merge" and len(role.hosts) > 1:
        raise AnalyzerInputError(
            f"analysis_stage=merge on {len(role.hosts)} hosts ({', '.join(role.hosts)}): every host would write the "
            "same outputs; run analysis_stage=profile on several hosts, then analysis_stage=merge on one"
        )
    if stage == "full" and role.current_host != role.leader:
        return IDLE
    return stage
