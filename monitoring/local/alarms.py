"""CloudWatch alarm semantics over the local metrics store: metric alarms, composite alarms, state and history.

Evaluation is pure (``evaluate_datapoints``, ``evaluate_rule``, ``evaluate_composite``); ``AlarmStore`` persists
states and transitions in ``<directory>/alarms.sqlite`` and ``evaluate_alarms`` is the thin shell that reads the
metrics, evaluates at the clock's time and records what changed. Only state *changes* are transitions.

A metric alarm reads its evaluation range: ``evaluation_periods + 2`` periods (the AWS examples read 5 for 3),
aligned on multiples of the period since the epoch, the last one holding ``now`` (a partial period counts), and
then, as AWS documents ("Configuring how CloudWatch alarms treat missing data"):

- at least N real datapoints: the N most recent decide; ALARM when at least M of them breach, else OK;
- fewer: every real datapoint plus N - real filled by the treatment: ``breaching`` / ``notBreaching`` fill
  breaching / non-breaching points; with ``missing`` and ``ignore`` the fills stay unknown: ALARM when M real
  points breach, OK when a real point does not breach, otherwise INSUFFICIENT_DATA (``missing``) or the state
  is kept (``ignore``); with no real datapoint at all: INSUFFICIENT_DATA, kept, ALARM or OK respectively.

This reproduces every cell of both AWS tables except one row added to a later version of that page
("X - - - -" with ``missing`` gives ALARM) which contradicts its own "- - - - X" row (INSUFFICIENT_DATA) by
position alone; here both give INSUFFICIENT_DATA. With N = M = 1 (the drift alarms) the two readings agree.
"""

from __future__ import annotations

import json
import math
import operator
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitoring.local.alarm_names import drift_alarm_name, feature_alarm_name, name_prefix
from monitoring.local.alarm_rule import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    atom_true,
    evaluate_rule,
    parse_rule,
    rule_children,
)
from monitoring.local.metrics_store import STATISTICS, MetricsStore, to_utc
from monitoring.metrics import NAMESPACE

STATES = (OK, ALARM, INSUFFICIENT_DATA)
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
DB_FILE = "alarms.sqlite"
INITIAL_REASON = "Unchecked: Initial alarm creation"


def utc_now() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


@dataclass(frozen=True)
class MetricAlarm:
    """PutMetricAlarm's fields for one metric; ``datapoints_to_alarm`` defaults to ``evaluation_periods``."""

    name: str
    metric_name: str
    threshold: float
    comparison_operator: str = "GreaterThanThreshold"
    dimensions: Mapping[str, str] = field(default_factory=dict)
    namespace: str = NAMESPACE
    statistic: str = "Maximum"
    period: int = 3600
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    unit: str | None = None

    def __post_init__(self) -> None:
        where = f"Metric alarm {self.name!r}"
        if not self.name or not self.name.isascii():
            raise ValueError(f"{where}: the name must be non-empty ASCII")
        if self.comparison_operator not in COMPARISONS:
            raise ValueError(f"{where}: comparison_operator must be one of {', '.join(COMPARISONS)}")
        if self.statistic not in STATISTICS:
            raise ValueError(f"{where}: statistic must be one of {', '.join(STATISTICS)}, got {self.statistic!r}")
        if self.treat_missing_data not in TREATMENTS:
            raise ValueError(f"{where}: treat_missing_data must be one of {', '.join(TREATMENTS)}")
        if not isinstance(self.period, int) or self.period <= 0 or (self.period % 60 and self.period not in (10, 30)):
            raise ValueError(f"{where}: period must be 10, 30 or a multiple of 60 seconds, got {self.period!r}")
        if not isinstance(self.evaluation_periods, int) or self.evaluation_periods < 1:
            raise ValueError(f"{where}: evaluation_periods must be a positive integer, got {self.evaluation_periods!r}")
        m = self.evaluation_periods if self.datapoints_to_alarm is None else self.datapoints_to_alarm
        if not isinstance(m, int) or not 1 <= m <= self.evaluation_periods:
            raise ValueError(f"{where}: datapoints_to_alarm must be 1..{self.evaluation_periods}, got {m!r}")
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            raise ValueError(f"{where}: threshold must be a finite number, got {self.threshold!r}")
        object.__setattr__(self, "datapoints_to_alarm", m)
        object.__setattr__(self, "dimensions", dict(self.dimensions))

    @property
    def evaluation_range(self) -> int:
        """How many periods an evaluation reads."""
        return self.evaluation_periods + 2

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison_operator][0](value, self.threshold)


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
            "timestamp": _iso(self.timestamp),
        }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _listed(points: Sequence[tuple[datetime, float]]) -> str:
    return ", ".join(f"{v!r} ({t.astimezone(timezone.utc):%d/%m/%y %H:%M:%S})" for t, v in reversed(points))


def evaluate_datapoints(
    alarm: MetricAlarm, datapoints: Sequence[tuple[datetime, float | None]], previous: str, now: datetime
) -> AlarmState | None:
    """The state the datapoints of the evaluation range (oldest first, None = missing) put the alarm in.

    Returns None when the alarm keeps its state (``ignore`` without enough data).
    """
    n, m = alarm.evaluation_periods, int(alarm.datapoints_to_alarm or 0)
    real = [(t, float(v)) for t, v in datapoints if v is not None]
    evaluated = real[-n:]
    fills = n - len(evaluated)
    hits = [p for p in evaluated if alarm.breaches(p[1])]
    fine = [p for p in evaluated if not alarm.breaches(p[1])]
    breaching, calm = len(hits), len(fine)
    treatment = alarm.treat_missing_data
    filled = ""
    if fills and treatment in ("breaching", "notBreaching"):
        breaching += fills if treatment == "breaching" else 0
        calm += fills if treatment == "notBreaching" else 0
        label = "Breaching" if treatment == "breaching" else "NonBreaching"
        filled = f"{_plural(fills, 'missing datapoint')} {'was' if fills == 1 else 'were'} treated as [{label}]"
    elif fills and breaching < m and not calm:
        if treatment == "ignore":
            return None
        reason = f"Insufficient Data: {_plural(fills, 'datapoint')} {'was' if fills == 1 else 'were'} unknown."
        return AlarmState(INSUFFICIENT_DATA, reason, _reason_data(alarm, datapoints, evaluated, now), now)
    value = ALARM if breaching >= m else OK
    shown, count = (hits, breaching) if value == ALARM else (fine, calm)
    words = COMPARISONS[alarm.comparison_operator][1]
    words = words if value == ALARM else f"not {words}"
    need = m if value == ALARM else n - m + 1
    minimum = f"(minimum {_plural(need, 'datapoint')} for {previous} -> {value} transition)"
    if not evaluated:
        head = f"no datapoints were received for {_plural(alarm.evaluation_range, 'period')} and {filled}"
        reason = f"Threshold Crossed: {head} {minimum}."
    else:
        verb = "was" if count == 1 else "were"
        head = f"{count} out of the last {n} datapoints [{_listed(shown)}] {verb} {words} the threshold"
        tail = f" and {filled}" if filled else ""
        reason = f"Threshold Crossed: {head} ({alarm.threshold!r}){tail} {minimum}."
    return AlarmState(value, reason, _reason_data(alarm, datapoints, evaluated, now), now)


def _reason_data(alarm: MetricAlarm, datapoints: Sequence, evaluated: Sequence, now: datetime) -> dict:
    return {
        "version": "1.0",
        "queryDate": _iso(now),
        "startDate": _iso(datapoints[0][0]) if datapoints else _iso(now),
        "statistic": alarm.statistic,
        "period": alarm.period,
        "recentDatapoints": [v for _, v in datapoints if v is not None],
        "threshold": alarm.threshold,
        "evaluatedDatapoints": [{"timestamp": _iso(t), "value": v} for t, v in reversed(evaluated)],
    }


def read_datapoints(alarm: MetricAlarm, metrics: MetricsStore, now: datetime) -> list[tuple[datetime, float | None]]:
    """The alarm's evaluation range at ``now``: (period start, statistic or None), oldest first."""
    now = to_utc(now, "now")
    period = alarm.period
    current = datetime.fromtimestamp(math.floor(now.timestamp() / period) * period, timezone.utc)
    starts = [current - timedelta(seconds=period * i) for i in range(alarm.evaluation_range - 1, -1, -1)]
    points = metrics.get_metric_statistics(
        alarm.namespace,
        alarm.metric_name,
        alarm.dimensions,
        starts[0],
        now + timedelta(milliseconds=1),  # data stamped at `now` count; the store keeps milliseconds
        period,
        alarm.statistic,
        alarm.unit,
    )
    values = {p["Timestamp"]: p[alarm.statistic] for p in points}
    return [(start, values.get(start)) for start in starts]


# -- composite alarms ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompositeAlarm:
    """PutCompositeAlarm's name and AlarmRule (validated when created)."""

    name: str
    rule: str
    tree: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.isascii():
            raise ValueError(f"Composite alarm {self.name!r}: the name must be non-empty ASCII")
        object.__setattr__(self, "tree", parse_rule(self.rule))

    @property
    def children(self) -> list[str]:
        return rule_children(self.tree)


def evaluate_composite(alarm: CompositeAlarm, children: Mapping[str, AlarmState], now: datetime) -> AlarmState:
    """ALARM when the rule is TRUE, else OK; the reason names the child alarms that decided it."""
    result = evaluate_rule(alarm.tree, {name: state.value for name, state in children.items()})
    deciding = alarm.children
    if result:
        deciding = [n for n in deciding if atom_true(alarm.tree, n, children[n].value)] or deciding
    listed = ", ".join(f"{n} is {children[n].value}" for n in deciding[:10])
    more = f" and {len(deciding) - 10} more" if len(deciding) > 10 else ""
    reason = f"Alarm rule {alarm.rule} is {'TRUE' if result else 'FALSE'}: {listed}{more}"
    triggering = [
        {
            "name": n,
            "state": {"value": children[n].value, "timestamp": _iso(children[n].timestamp or now)},
            "reason": children[n].reason,
        }
        for n in deciding
    ]
    return AlarmState(ALARM if result else OK, reason, {"triggeringAlarms": triggering}, now)


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


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation round saw: every alarm's state after it and the transitions it caused."""

    states: dict[str, AlarmState]
    transitions: tuple[Transition, ...]

    def transition_of(self, name: str) -> Transition | None:
        return next((t for t in self.transitions if t.alarm_name == name), None)


def _composite_order(composites: Sequence[CompositeAlarm], known: set[str]) -> list[CompositeAlarm]:
    by_name = {c.name: c for c in composites}
    ordered: list[CompositeAlarm] = []
    visiting: set[str] = set()

    def visit(alarm: CompositeAlarm) -> None:
        if alarm in ordered:
            return
        if alarm.name in visiting:
            raise ValueError(f"Composite alarm {alarm.name!r}: its AlarmRule refers back to itself (a cycle)")
        visiting.add(alarm.name)
        for child in alarm.children:
            if child not in known:
                raise ValueError(
                    f"Composite alarm {alarm.name!r} refers to alarm {child!r}, which is not defined; "
                    f"defined alarms are: {', '.join(sorted(known))}"
                )
            if child in by_name:
                visit(by_name[child])
        ordered.append(alarm)

    for alarm in composites:
        visit(alarm)
    return ordered


def evaluate_alarms(
    metric_alarms: Sequence[MetricAlarm],
    composite_alarms: Sequence[CompositeAlarm],
    metrics: MetricsStore,
    store: AlarmStore,
    clock: Callable[[], datetime] = utc_now,
) -> Evaluation:
    """Evaluate every metric alarm, then the composite alarms over them, at ``clock()``; record the results."""
    now = to_utc(clock(), "clock")
    names = [a.name for a in metric_alarms] + [c.name for c in composite_alarms]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"Alarm names must be unique; repeated: {', '.join(duplicates)}")
    ordered = _composite_order(composite_alarms, set(names))
    states: dict[str, AlarmState] = {}
    transitions: list[Transition] = []
    for alarm in metric_alarms:
        previous = store.state(alarm.name)
        new = evaluate_datapoints(alarm, read_datapoints(alarm, metrics, now), previous.value, now)
        states[alarm.name] = _apply(store, alarm.name, new, transitions)
    for composite in ordered:
        new = evaluate_composite(composite, {n: states[n] for n in composite.children}, now)
        states[composite.name] = _apply(store, composite.name, new, transitions)
    return Evaluation(states, tuple(transitions))


def _apply(store: AlarmStore, name: str, new: AlarmState | None, transitions: list[Transition]) -> AlarmState:
    if new is not None:
        change = store.record(name, new)
        if change is not None:
            transitions.append(change)
    return store.state(name)


def feature_drift_alarms(
    thresholds: Mapping[str, float],
    endpoint: str,
    schedule: str,
    period: int = 3600,
    evaluation_periods: int = 1,
    datapoints_to_alarm: int = 1,
    treat_missing_data: str = "ignore",
) -> tuple[list[MetricAlarm], CompositeAlarm]:
    """One alarm per feature on ``feature_baseline_drift_<f>`` (Maximum > the feature's drift threshold) and the
    composite ``ALARM(f1) OR ALARM(f2) ...`` over them: the one alarm that alerts and retrains. The names are
    CloudWatch's (``alarm_names``: ``<prefix>-drift-<part>`` and ``<prefix>-drift``), so one endpoint has one
    drift alarm whatever the schedule; the schedule is the metrics' ``MonitoringSchedule`` dimension."""
    dims = {"Endpoint": endpoint, "MonitoringSchedule": schedule}
    prefix = name_prefix(endpoint)
    alarms = [
        MetricAlarm(
            name=feature_alarm_name(prefix, feature),
            metric_name=f"feature_baseline_drift_{feature}",
            threshold=float(threshold),
            comparison_operator="GreaterThanThreshold",
            dimensions=dims,
            statistic="Maximum",
            period=period,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=treat_missing_data,
        )
        for feature, threshold in thresholds.items()
    ]
    if not alarms:
        raise ValueError("feature_drift_alarms: no features given (expected {feature: drift threshold})")
    rule = " OR ".join(f'ALARM("{a.name}")' for a in alarms)
    return alarms, CompositeAlarm(drift_alarm_name(prefix), rule)
