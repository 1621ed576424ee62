"""CloudWatch metric alarms over the local metrics store: the alarm's definition (PutMetricAlarm's fields), the
datapoints of its evaluation range and the state they put it in. Evaluation is pure (``evaluate_datapoints``).

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

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from monitoring.local.alarm_rule import ALARM, INSUFFICIENT_DATA, OK
from monitoring.local.alarm_state import AlarmState, iso_time
from monitoring.local.errors import AlarmError
from monitoring.local.metrics_store import STATISTICS, MetricsStore, to_utc
from monitoring.metrics import NAMESPACE

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")


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
            raise AlarmError(f"{where}: the name must be non-empty ASCII")
        if self.comparison_operator not in COMPARISONS:
            raise AlarmError(f"{where}: comparison_operator must be one of {', '.join(COMPARISONS)}")
        if self.statistic not in STATISTICS:
            raise AlarmError(f"{where}: statistic must be one of {', '.join(STATISTICS)}, got {self.statistic!r}")
        if self.treat_missing_data not in TREATMENTS:
            raise AlarmError(f"{where}: treat_missing_data must be one of {', '.join(TREATMENTS)}")
        if not isinstance(self.period, int) or self.period <= 0 or (self.period % 60 and self.period not in (10, 30)):
            raise AlarmError(f"{where}: period must be 10, 30 or a multiple of 60 seconds, got {self.period!r}")
        if not isinstance(self.evaluation_periods, int) or self.evaluation_periods < 1:
            raise AlarmError(f"{where}: evaluation_periods must be a positive integer, got {self.evaluation_periods!r}")
        m = self.evaluation_periods if self.datapoints_to_alarm is None else self.datapoints_to_alarm
        if not isinstance(m, int) or not 1 <= m <= self.evaluation_periods:
            raise AlarmError(f"{where}: datapoints_to_alarm must be 1..{self.evaluation_periods}, got {m!r}")
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            raise AlarmError(f"{where}: threshold must be a finite number, got {self.threshold!r}")
        object.__setattr__(self, "datapoints_to_alarm", m)
        object.__setattr__(self, "dimensions", dict(self.dimensions))

    @property
    def evaluation_range(self) -> int:
        """How many periods an evaluation reads."""
        return self.evaluation_periods + 2

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison_operator][0](value, self.threshold)


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
        "queryDate": iso_time(now),
        "startDate": iso_time(datapoints[0][0]) if datapoints else iso_time(now),
        "statistic": alarm.statistic,
        "period": alarm.period,
        "recentDatapoints": [v for _, v in datapoints if v is not None],
        "threshold": alarm.threshold,
        "evaluatedDatapoints": [{"timestamp": iso_time(t), "value": v} for t, v in reversed(evaluated)],
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
