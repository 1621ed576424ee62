"""Alarm states, their changes and where they are kept: ``AlarmState``, ``Transition`` and ``AlarmStore``
(``<directory>/alarms.sqlite``: current states and the state-change history, as DescribeAlarms and
DescribeAlarmHistory return them). Only state *changes* are transitions."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from monitoring.local.alarm_rule import ALARM, INSUFFICIENT_DATA, OK
from monitoring.local.metrics_store import to_utc

STATES = (OK, ALARM, INSUFFICIENT_DATA)
DB_FILE = "alarms.sqlite"
INITIAL_REASON = "Unchecked: Initial alarm creation"


def utc_now() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(timezone.utc)


def iso_time(moment: datetime) -> str:
    """CloudWatch's timestamp text: ``2024-05-01T12:00:00.000+0000``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


@dataclass(frozen=True)
class AlarmState:
    """An alarm's state with CloudWatch's StateReason / StateReasonData and when it was entered."""

    value: str
    reason: str
    reason_data: dict = field(default_factory=dict)
    timestamp: datetime | None = None


@dataclass(frozen=True)
class Transition:
    """One state change of one alarm (an entry of DescribeAlarmHistory's StateUpdate items)."""

    alarm_name: str
    old_state: str
    new_state: str
    reason: str
    reason_data: dict
    timestamp: datetime

    def to_json(self) -> dict:
        return {
            "alarm_name": self.alarm_name,
            "old_state": self.old_state,
            "new_state": self.new_state,
            "reason": self.reason,
            "reason_data": self.reason_data,
            "timestamp": iso_time(self.timestamp),
        }


# -- persistence --------------------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_state (
    name TEXT PRIMARY KEY, value TEXT NOT NULL, reason TEXT NOT NULL, reason_data TEXT NOT NULL,
    transitioned TEXT NOT NULL, evaluated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alarm_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, timestamp TEXT NOT NULL,
    old_value TEXT NOT NULL, new_value TEXT NOT NULL, reason TEXT NOT NULL, reason_data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_history_name ON alarm_history (name, id);
"""


class AlarmStore:
    """Alarm states and state-change history in ``<directory>/alarms.sqlite``, safe across processes."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def state(self, name: str) -> AlarmState:
        """The alarm's current state; an alarm never evaluated is INSUFFICIENT_DATA, as a new CloudWatch alarm."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT value, reason, reason_data, transitioned FROM alarm_state WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return AlarmState(INSUFFICIENT_DATA, INITIAL_REASON)
        return AlarmState(row[0], row[1], json.loads(row[2]), to_utc(row[3]))

    def record(self, name: str, new: AlarmState) -> Transition | None:
        """Store an evaluation's result; a Transition only when the stored state differs (atomically)."""
        if new.value not in STATES:
            raise ValueError(f"Alarm {name!r}: state must be one of {', '.join(STATES)}, got {new.value!r}")
        moment = to_utc(new.timestamp or utc_now())
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT value FROM alarm_state WHERE name = ?", (name,)).fetchone()
                old = row[0] if row else INSUFFICIENT_DATA
                if row is not None and old == new.value:
                    conn.execute("UPDATE alarm_state SET evaluated = ? WHERE name = ?", (moment.isoformat(), name))
                    conn.execute("COMMIT")
                    return None
                data = json.dumps(new.reason_data)
                conn.execute(
                    "INSERT OR REPLACE INTO alarm_state VALUES (?, ?, ?, ?, ?, ?)",
                    (name, new.value, new.reason, data, moment.isoformat(), moment.isoformat()),
                )
                if old != new.value:
                    conn.execute(
                        "INSERT INTO alarm_history (name, timestamp, old_value, new_value, reason, reason_data) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (name, moment.isoformat(), old, new.value, new.reason, data),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return Transition(name, old, new.value, new.reason, new.reason_data, moment) if old != new.value else None

    def history(self, name: str | None = None, limit: int = 100) -> list[Transition]:
        """State changes, newest first (DescribeAlarmHistory's StateUpdate items)."""
        query = "SELECT name, old_value, new_value, reason, reason_data, timestamp FROM alarm_history"
        args: tuple = ()
        if name is not None:
            query, args = query + " WHERE name = ?", (name,)
        with closing(self._connect()) as conn:
            rows = conn.execute(query + " ORDER BY id DESC LIMIT ?", (*args, int(limit))).fetchall()
        return [Transition(n, old, new, reason, json.loads(data), to_utc(ts)) for n, old, new, reason, data, ts in rows]
