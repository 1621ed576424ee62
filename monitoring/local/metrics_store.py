"""A local metrics store named as in CloudWatch: PutMetricData in, GetMetricStatistics out.

Metrics live in one SQLite file under a directory chosen by the caller. A metric is identified as in
CloudWatch by namespace, metric name and its full set of dimensions. Each datum is stored as a statistic set
(sample count, sum, minimum, maximum), so ``Value``, ``Values``/``Counts`` and ``StatisticValues`` aggregate
the same way CloudWatch aggregates them. Writers in several processes are safe: WAL journal, a busy timeout,
one transaction per call.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitoring.local.errors import MetricsStoreError

DB_FILE = "metrics.sqlite"
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
MAX_DATAPOINTS = 1440  # GetMetricStatistics' limit per call
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
_AMOUNTS: tuple[str, ...] = ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes")
_AMOUNTS += ("Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Count")  # each also as a rate: "<unit>/Second"
UNITS = frozenset(
    (*_AMOUNTS, *(f"{unit}/Second" for unit in _AMOUNTS), "Seconds", "Microseconds", "Milliseconds", "Percent", "None")
)
DATUM_KEYS = frozenset(("MetricName", "Dimensions", "Timestamp", "Value", "StatisticValues", "Values", "Counts"))
DATUM_KEYS |= {"Unit", "StorageResolution"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS datapoints (
    namespace TEXT NOT NULL,
    metric_name TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    unit TEXT NOT NULL,
    sample_count REAL NOT NULL,
    total REAL NOT NULL,
    minimum REAL NOT NULL,
    maximum REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS datapoints_metric ON datapoints (namespace, metric_name, dimensions, ts_ms);
"""


def to_utc(value: datetime | str, where: str = "Timestamp") -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive means UTC) or an ISO-8601 string ('...Z' allowed)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError as exc:
            raise MetricsStoreError(
                f"{where}: expected an ISO-8601 time such as 2024-05-01T10:00:00Z, got {text!r}"
            ) from exc
    if not isinstance(value, datetime):
        raise MetricsStoreError(f"{where}: expected a datetime or an ISO-8601 string, got {value!r}")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def dimensions_key(
    dimensions: Sequence[Mapping[str, str]] | Mapping[str, str] | None, where: str = "Dimensions"
) -> str:
    """Canonical text of a dimension set ([{Name, Value}] or {name: value}): the metric's identity with its name."""
    if dimensions is None:
        pairs: list[tuple[str, str]] = []
    elif isinstance(dimensions, Mapping):
        pairs = [(str(k), str(v)) for k, v in dimensions.items()]
    else:
        pairs = []
        for i, dim in enumerate(dimensions):
            if not isinstance(dim, Mapping) or not isinstance(dim.get("Name"), str) or "Value" not in dim:
                raise MetricsStoreError(f"{where}[{i}]: expected {{'Name': str, 'Value': str}}, got {dim!r}")
            pairs.append((dim["Name"], str(dim["Value"])))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise MetricsStoreError(f"{where}: dimension names must be unique, got {names}")
    if len(pairs) > 30:
        raise MetricsStoreError(f"{where}: at most 30 dimensions, got {len(pairs)}")
    return json.dumps(sorted(pairs), separators=(",", ":"))


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MetricsStoreError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def datum_to_row(
    datum: Mapping, where: str, received: datetime
) -> tuple[str, str, int, str, float, float, float, float]:
    """Validate one PutMetricData datum and reduce it to (name, dimensions, ms, unit, count, sum, min, max)."""
    if not isinstance(datum, Mapping):
        raise MetricsStoreError(f"{where}: expected a PutMetricData datum (a mapping), got {type(datum).__name__}")
    unknown = set(datum) - DATUM_KEYS
    if unknown:
        raise MetricsStoreError(f"{where}: unknown field(s) {sorted(unknown)}; a datum has {sorted(DATUM_KEYS)}")
    name = datum.get("MetricName")
    if not isinstance(name, str) or not name or len(name) > 255:
        raise MetricsStoreError(
            f"{where}.MetricName: expected a non-empty string of at most 255 characters, got {name!r}"
        )
    unit = datum.get("Unit", "None")
    if unit not in UNITS:
        raise MetricsStoreError(
            f"{where}.Unit: expected a CloudWatch unit such as Count, Percent or None, got {unit!r}"
        )
    kinds = [key for key in ("Value", "StatisticValues", "Values") if key in datum]
    if len(kinds) != 1:
        raise MetricsStoreError(
            f"{where}: expected exactly one of Value, StatisticValues or Values, got {kinds or 'none'}"
        )
    if "Value" in datum:
        value = _number(datum["Value"], f"{where}.Value")
        count, total, low, high = 1.0, value, value, value
    elif "StatisticValues" in datum:
        stats = datum["StatisticValues"]
        if not isinstance(stats, Mapping) or set(stats) != {"SampleCount", "Sum", "Minimum", "Maximum"}:
            raise MetricsStoreError(
                f"{where}.StatisticValues: expected SampleCount, Sum, Minimum and Maximum, got {stats!r}"
            )
        count, total, low, high = (
            _number(stats[key], f"{where}.StatisticValues.{key}")
            for key in ("SampleCount", "Sum", "Minimum", "Maximum")
        )
        if count <= 0 or low > high:
            raise MetricsStoreError(
                f"{where}.StatisticValues: need SampleCount > 0 and Minimum <= Maximum, got {dict(stats)}"
            )
    else:
        values = [_number(v, f"{where}.Values[{i}]") for i, v in enumerate(datum["Values"])]
        counts = [_number(c, f"{where}.Counts[{i}]") for i, c in enumerate(datum.get("Counts", [1.0] * len(values)))]
        if not values or len(counts) != len(values) or min(counts) <= 0:
            raise MetricsStoreError(
                f"{where}: Values must be non-empty and Counts (if given) positive and as many as Values"
            )
        count = sum(counts)
        total = sum(v * c for v, c in zip(values, counts, strict=True))
        low, high = min(values), max(values)
    if datum.get("StorageResolution", 60) not in (1, 60):
        raise MetricsStoreError(f"{where}.StorageResolution: expected 1 or 60, got {datum['StorageResolution']!r}")
    stamp = to_utc(datum["Timestamp"], f"{where}.Timestamp") if "Timestamp" in datum else received
    dims = dimensions_key(datum.get("Dimensions"), f"{where}.Dimensions")
    return name, dims, _millis(stamp), unit, count, total, low, high


def _check_period(period_seconds: int) -> int:
    if isinstance(period_seconds, bool) or not isinstance(period_seconds, int) or period_seconds <= 0:
        raise MetricsStoreError(f"period_seconds: expected a positive integer, got {period_seconds!r}")
    if period_seconds not in HIGH_RESOLUTION_PERIODS and period_seconds % 60:
        raise MetricsStoreError(
            f"period_seconds: expected 1, 5, 10, 30 or a multiple of 60 (as CloudWatch), got {period_seconds}"
        )
    return period_seconds


class MetricsStore:
    """CloudWatch-named metrics in ``<directory>/metrics.sqlite``."""

    def __init__(self, directory: str | Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(directory) / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def put_metric_data(self, namespace: str, data: Iterable[Mapping]) -> int:
        """Store PutMetricData data (all or nothing); returns how many data were stored."""
        if not isinstance(namespace, str) or not namespace or len(namespace) > 255:
            raise MetricsStoreError(
                f"Namespace: expected a non-empty string of at most 255 characters, got {namespace!r}"
            )
        received = to_utc(self._clock(), "clock")
        rows = [(namespace, *datum_to_row(d, f"MetricData[{i}]", received)) for i, d in enumerate(data)]
        with closing(self._connect()) as conn, conn:
            conn.executemany("INSERT INTO datapoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def get_metric_statistics(
        self,
        namespace: str,
        metric_name: str,
        dimensions: Sequence[Mapping[str, str]] | Mapping[str, str] | None,
        start: datetime | str,
        end: datetime | str,
        period_seconds: int,
        statistic: str | Sequence[str],
        unit: str | None = None,
    ) -> list[dict]:
        """Datapoints per period in [start, end), oldest first, as CloudWatch's GetMetricStatistics returns them.

        Periods begin at ``start``; a datapoint's ``Timestamp`` is its period's start. Data with different units
        are aggregated separately unless ``unit`` selects one.
        """
        wanted = [statistic] if isinstance(statistic, str) else list(statistic)
        bad = [s for s in wanted if s not in STATISTICS]
        if not wanted or bad:
            raise MetricsStoreError(f"statistic: expected one or more of {', '.join(STATISTICS)}, got {statistic!r}")
        period = _check_period(period_seconds)
        begin, finish = to_utc(start, "start"), to_utc(end, "end")
        if finish <= begin:
            raise MetricsStoreError(f"end ({finish.isoformat()}) must be after start ({begin.isoformat()})")
        periods = math.ceil((finish - begin).total_seconds() / period)
        if periods > MAX_DATAPOINTS:
            raise MetricsStoreError(
                f"[start, end) at period {period} s spans {periods} periods; at most {MAX_DATAPOINTS} per request"
            )
        query = (
            "SELECT (ts_ms - ?) / ? AS bucket, unit, SUM(sample_count), SUM(total), MIN(minimum), MAX(maximum) "
            "FROM datapoints WHERE namespace = ? AND metric_name = ? AND dimensions = ? AND ts_ms >= ? AND ts_ms < ?"
        )
        begin_ms = _millis(begin)
        args: list = [begin_ms, period * 1000, namespace, metric_name, dimensions_key(dimensions), begin_ms]
        args.append(_millis(finish))
        if unit is not None:
            query += " AND unit = ?"
            args.append(unit)
        query += " GROUP BY bucket, unit ORDER BY bucket, unit"
        with closing(self._connect()) as conn:
            groups = conn.execute(query, args).fetchall()
        points = []
        for bucket, data_unit, count, total, low, high in groups:
            values = {"SampleCount": count, "Sum": total, "Minimum": low, "Maximum": high, "Average": total / count}
            point: dict = {"Timestamp": begin + timedelta(seconds=bucket * period)}
            point.update({name: values[name] for name in wanted})
            point["Unit"] = data_unit
            points.append(point)
        return points
