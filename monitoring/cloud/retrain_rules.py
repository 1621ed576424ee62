"""The retraining rule of the drift alarm, as a pure function: the one rule of the retraining Lambda and the local
loop (``pipelines.monitor``).

Disabled -> no data at the retraining location -> cool-down since the last started run -> data unchanged since
the serving version was trained (content hash) -> start. A serving version whose training data hash is unknown
does not block a run: the cool-down still bounds how often one starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

STARTED = "started"
COOLDOWN = "cooldown"
NO_NEW_DATA = "no-new-data"
NO_DATA = "no-data"
DISABLED = "disabled"


@dataclass(frozen=True)
class RetrainDecision:
    """One decision of the drift alarm's retraining rule and why."""

    action: str
    reason: str
    at: str
    data_hash: str = ""
    execution_id: str = ""  # the retraining run, once started

    def to_json(self) -> dict:
        return asdict(self)


def decide(
    now: datetime,
    enabled: bool,
    cooldown: timedelta,
    last_started: datetime | None,
    data_hash: str | None,
    trained_on_hash: str | None,
    data_uri: str = "the retraining location",
) -> RetrainDecision:
    """Whether a drift alarm starts a retraining run, and the reason either way."""
    at = now.isoformat()
    if not enabled:
        return RetrainDecision(DISABLED, "retraining is disabled in the configuration (monitoring.retrain.enabled)", at)
    if data_hash is None:
        return RetrainDecision(NO_DATA, f"{data_uri} holds no data", at)
    if last_started is not None and now - last_started < cooldown:
        left = cooldown - (now - last_started)
        return RetrainDecision(
            COOLDOWN,
            f"a retraining run started at {last_started.isoformat()}; the cool-down of "
            f"{cooldown.total_seconds() / 3600:g} h ends in {left.total_seconds() / 3600:.1f} h",
            at,
            data_hash,
        )
    if trained_on_hash is not None and data_hash == trained_on_hash:
        return RetrainDecision(
            NO_NEW_DATA,
            f"no new data: {data_uri} is unchanged since the serving version was trained (same content hash)",
            at,
            data_hash,
        )
    return RetrainDecision(STARTED, "drift alarm with new data and no retraining within the cool-down", at, data_hash)
