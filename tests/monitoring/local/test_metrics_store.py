"""The local metrics store: PutMetricData in, GetMetricStatistics out, as CloudWatch names and aggregates them."""

from __future__ import annotations

import json
import multiprocessing
from datetime import datetime, timedelta, timezone

import pytest

from monitoring.local.metrics_store import MetricsStore
from monitoring.metrics import NAMESPACE
from tests.monitoring.drift_checks import make_baseline, make_check, write_sample

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
DIMS = [{"Name": "Endpoint", "Value": "ep"}, {"Name": "MonitoringSchedule", "Value": "hourly"}]
ALL = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]


def datum(value: float, when: datetime | str, name: str = "m", dims=DIMS, **extra) -> dict:
    return {"MetricName": name, "Timestamp": when, "Dimensions": dims, "Value": value, "Unit": "None", **extra}


def test_values_and_statistic_sets_aggregate_per_period(tmp_path):
    store = MetricsStore(tmp_path)
    stats = {"SampleCount": 4.0, "Sum": 10.0, "Minimum": 0.5, "Maximum": 5.0}
    store.put_metric_data(
        "ns",
        [
            datum(1.0, T0),
            datum(3.0, T0 + timedelta(seconds=59)),
            {"MetricName": "m", "Timestamp": T0 + timedelta(seconds=30), "Dimensions": DIMS, "StatisticValues": stats},
            {"MetricName": "m", "Timestamp": T0 + timedelta(minutes=2), "Dimensions": DIMS, "Values": [2.0, 4.0]},
            {
                "MetricName": "m",
                "Timestamp": T0 + timedelta(minutes=2),
                "Dimensions": DIMS,
                "Values": [1.0],
                "Counts": [3.0],
            },
        ],
    )
    points = store.get_metric_statistics("ns", "m", DIMS, T0, T0 + timedelta(minutes=5), 60, ALL)
    assert [p["Timestamp"] for p in points] == [T0, T0 + timedelta(minutes=2)]  # the empty minute is left out
    first, second = points
    assert (first["SampleCount"], first["Sum"], first["Minimum"], first["Maximum"]) == (6.0, 14.0, 0.5, 5.0)
    assert first["Average"] == pytest.approx(14.0 / 6.0)
    assert (second["SampleCount"], second["Sum"], second["Average"]) == (5.0, 9.0, 1.8)
    assert first["Unit"] == "None"


def test_periods_start_at_start_and_end_is_exclusive(tmp_path):
    store = MetricsStore(tmp_path)
    store.put_metric_data("ns", [datum(float(i), T0 + timedelta(minutes=i)) for i in range(10)])
    points = store.get_metric_statistics(
        "ns", "m", DIMS, T0 + timedelta(minutes=1), T0 + timedelta(minutes=9), 180, "Sum"
    )
    assert [(p["Timestamp"], p["Sum"]) for p in points] == [
        (T0 + timedelta(minutes=1), 1.0 + 2.0 + 3.0),
        (T0 + timedelta(minutes=4), 4.0 + 5.0 + 6.0),
        (T0 + timedelta(minutes=7), 7.0 + 8.0),  # minute 9 is at the (exclusive) end
    ]
    assert set(points[0]) == {"Timestamp", "Sum", "Unit"}


def test_timestamps_as_iso_strings_naive_or_offset_datetimes_are_the_same_instant(tmp_path):
    store = MetricsStore(tmp_path)
    store.put_metric_data(
        "ns",
        [
            datum(1.0, "2024-05-01T10:00:00Z"),
            datum(2.0, datetime(2024, 5, 1, 10, 0, 10)),  # naive = UTC, as boto3 sends it
            datum(4.0, datetime(2024, 5, 1, 12, 0, 20, tzinfo=timezone(timedelta(hours=2)))),
            datum(8.0, "2024-05-01T10:00:30+00:00"),
        ],
    )
    (point,) = store.get_metric_statistics("ns", "m", DIMS, T0, T0 + timedelta(minutes=1), 60, "Sum")
    assert point["Sum"] == 15.0


def test_a_metric_is_its_name_and_its_whole_dimension_set(tmp_path):
    store = MetricsStore(tmp_path)
    other = [{"Name": "Endpoint", "Value": "other"}, {"Name": "MonitoringSchedule", "Value": "hourly"}]
    store.put_metric_data(
        "ns",
        [datum(1.0, T0), datum(10.0, T0, dims=other), datum(100.0, T0, dims=DIMS[:1]), datum(7.0, T0, name="n")],
    )
    store.put_metric_data("other-ns", [datum(1000.0, T0)])

    def total(dims, name="m", namespace="ns"):
        points = store.get_metric_statistics(namespace, name, dims, T0, T0 + timedelta(hours=1), 3600, "Sum")
        return [p["Sum"] for p in points]

    assert total(DIMS) == [1.0]
    assert total(list(reversed(DIMS))) == [1.0]  # order does not matter
    assert total({"MonitoringSchedule": "hourly", "Endpoint": "ep"}) == [1.0]  # nor the spelling
    assert total(other) == [10.0]
    assert total(DIMS[:1]) == [100.0]  # a subset is a different metric, as in CloudWatch
    assert total(None) == []
    assert total(DIMS, name="n") == [7.0]
    assert total(DIMS, namespace="other-ns") == [1000.0]


def test_unit_filter_and_missing_timestamp_uses_the_clock(tmp_path):
    store = MetricsStore(tmp_path, clock=lambda: T0 + timedelta(seconds=5))
    store.put_metric_data("ns", [{"MetricName": "m", "Dimensions": DIMS, "Value": 3.0, "Unit": "Count"}])
    store.put_metric_data("ns", [datum(2.0, T0)])
    end = T0 + timedelta(minutes=1)
    assert [p["Sum"] for p in store.get_metric_statistics("ns", "m", DIMS, T0, end, 60, "Sum", unit="Count")] == [3.0]
    both = store.get_metric_statistics("ns", "m", DIMS, T0, end, 60, "Sum")
    assert sorted((p["Unit"], p["Sum"]) for p in both) == [("Count", 3.0), ("None", 2.0)]


def test_data_survive_the_store_object_and_a_failed_batch_stores_nothing(tmp_path):
    MetricsStore(tmp_path).put_metric_data("ns", [datum(1.0, T0)])
    store = MetricsStore(tmp_path)
    with pytest.raises(ValueError, match=r"MetricData\[1\]\.Value: expected a finite number, got nan"):
        store.put_metric_data("ns", [datum(5.0, T0), datum(float("nan"), T0)])
    (point,) = store.get_metric_statistics("ns", "m", DIMS, T0, T0 + timedelta(minutes=1), 60, "SampleCount")
    assert point["SampleCount"] == 1.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"Valeu": 1.0}, r"MetricData\[0\]: unknown field\(s\) \['Valeu'\]"),
        ({"Value": 1.0, "StatisticValues": {}}, "exactly one of Value, StatisticValues or Values"),
        ({}, "exactly one of Value, StatisticValues or Values, got none"),
        ({"Value": "1"}, r"MetricData\[0\]\.Value: expected a finite number, got '1'"),
        ({"Value": 1.0, "Timestamp": "yesterday"}, r"Timestamp: expected an ISO-8601 time .* got 'yesterday'"),
        ({"Value": 1.0, "Unit": "Furlongs"}, r"Unit: expected a CloudWatch unit .* got 'Furlongs'"),
        ({"StatisticValues": {"SampleCount": 1.0, "Sum": 1.0}}, "expected SampleCount, Sum, Minimum and Maximum"),
        (
            {"StatisticValues": {"SampleCount": 0.0, "Sum": 0.0, "Minimum": 0.0, "Maximum": 0.0}},
            "SampleCount > 0",
        ),
        ({"Value": 1.0, "Dimensions": [{"Name": "Endpoint"}]}, r"Dimensions\[0\]: expected \{'Name': str"),
        ({"Value": 1.0, "MetricName": ""}, "MetricName: expected a non-empty string"),
        ({"Value": 1.0, "StorageResolution": 5}, r"StorageResolution: expected 1 or 60, got 5"),
    ],
)
def test_invalid_data_are_rejected_naming_the_field(tmp_path, bad, message):
    base = {"MetricName": "m", "Timestamp": T0, "Dimensions": DIMS}
    with pytest.raises(ValueError, match=message):
        MetricsStore(tmp_path).put_metric_data("ns", [{**base, **bad}])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period_seconds": 90}, "multiple of 60"),
        ({"statistic": "p99"}, "expected one or more of SampleCount, Average, Sum, Minimum, Maximum, got 'p99'"),
        ({"end": T0}, "must be after start"),
        ({"end": T0 + timedelta(days=2)}, "spans 2880 periods; at most 1440"),
    ],
)
def test_invalid_queries_are_rejected(tmp_path, kwargs, message):
    query = {"start": T0, "end": T0 + timedelta(hours=1), "period_seconds": 60, "statistic": "Sum", **kwargs}
    with pytest.raises(ValueError, match=message):
        MetricsStore(tmp_path).get_metric_statistics("ns", "m", DIMS, **query)


def _writer(directory: str, worker: int, batches: int) -> None:
    store = MetricsStore(directory)
    for i in range(batches):
        store.put_metric_data("ns", [datum(1.0, T0 + timedelta(seconds=worker * 100 + i)) for _ in range(5)])


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_writer, args=(str(tmp_path), w, 40)) for w in range(4)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    (point,) = MetricsStore(tmp_path).get_metric_statistics("ns", "m", DIMS, T0, T0 + timedelta(hours=1), 3600, "Sum")
    assert point["Sum"] == 4 * 40 * 5


def test_real_check_metrics_round_trip(tmp_path):
    baseline = make_baseline(tmp_path / "baseline")
    result = make_check(baseline, write_sample(tmp_path / "drift.csv", scale=1.3), tmp_path / "check", now=T0)
    lines = (result.paths["metrics"]).read_text().splitlines()
    store = MetricsStore(tmp_path / "metrics")
    assert store.put_metric_data(NAMESPACE, [json.loads(line) for line in lines]) == len(lines)
    end = T0 + timedelta(hours=1)
    summary = json.loads(result.paths["summary"].read_text())
    for drift in summary["drift"]:
        (point,) = store.get_metric_statistics(
            NAMESPACE, f"feature_baseline_drift_{drift['feature']}", DIMS, T0, end, 3600, "Maximum"
        )
        assert point["Maximum"] == drift["distance"]
    stats = json.loads(result.paths["statistics"].read_text())
    length = next(f for f in stats["features"] if f["name"] == "length")["numerical_statistics"]
    (point,) = store.get_metric_statistics(NAMESPACE, "feature_data_length", DIMS, T0, end, 3600, ALL)
    assert point["Average"] == pytest.approx(length["mean"])
    assert (point["Minimum"], point["Maximum"], point["SampleCount"]) == (length["min"], length["max"], 1500.0)
