"""A local data-quality check with ``sagemaker.processing_instance_count`` 2: the window's capture profiled on two
spawned hosts (ShardedByS3Key by object, both assignments) and merged gives the one-host check's statistics,
violations, drift and metrics within issue 13's bounds; a failing host fails the check with its reason."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from monitoring.capture import capture_files
from monitoring.constraints import read_constraints
from monitoring.sources import DatasetFormat
from pipelines.local.sharding import ENV_ASSIGNMENT
from pipelines.monitor.executions import FAILED, NO_DATA, WITH_VIOLATIONS, ExecutionLog
from pipelines.monitor.loop import MonitorEnvironment, check_window
from pipelines.monitor.sharded_check import job_names
from pipelines.objectstore import local_path
from tests.pipelines.merge_bounds import assert_statistics_within_bounds, error_weights, rel
from tests.pipelines.monitor.model_quality_state import ENDPOINT, ROWS, VARIANT, Served, serve

HOUR = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)
WINDOW = (HOUR, HOUR + timedelta(hours=1))
BATCHES = 5  # one capture writer each: five capture objects in the checked hour


def hosts(served: Served, count: int) -> MonitorEnvironment:
    config = served.config.with_overrides(sagemaker={"processing_instance_count": count})
    return MonitorEnvironment(config, served.state, served.clock)


def capture_root(served: Served) -> Path:
    return local_path(f"{served.config.capture_destination}/{ENDPOINT}/{VARIANT}", served.state)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    """A deployed version and an hour of real capture (the endpoint's capture writer), lengths drifted by 30 %,
    in several objects; traffic in the hours around it that the check must leave out."""
    served = serve(tmp_path_factory.mktemp("served"))
    size = 80
    for batch in range(BATCHES):
        rows = ROWS[batch * size : (batch + 1) * size]
        served.traffic(HOUR + timedelta(minutes=11 * batch), rows, np.full(len(rows), 9.0), f"b{batch}", scale=1.3)
    for hour in (-1, 1):  # outside the window
        served.traffic(HOUR + timedelta(hours=hour), ROWS[:20], np.full(20, 9.0), f"o{hour}")
    assert len(capture_files(capture_root(served), *WINDOW)) >= BATCHES
    return served


@pytest.fixture(scope="module")
def one_host(served):
    execution = check_window(hosts(served, 1), ENDPOINT, *WINDOW, "one-host")
    assert execution.status == WITH_VIOLATIONS and execution.item_count == BATCHES * 80 and execution.hosts == []
    return execution


def report(served: Served, execution) -> dict:
    folder = local_path(execution.report_uri, served.state)
    files = {
        name: json.loads((folder / name).read_text()) for name in ("statistics.json", "constraint_violations.json")
    }
    files["metrics"] = [json.loads(line) for line in (folder / "cloudwatch_metrics.jsonl").read_text().splitlines()]
    return files


@pytest.mark.parametrize("how", ["round-robin", "contiguous"])
def test_two_hosts_check_as_one_host_does(served, one_host, monkeypatch, how):
    monkeypatch.setenv(ENV_ASSIGNMENT, how)
    two = check_window(hosts(served, 2), ENDPOINT, *WINDOW, f"two-hosts-{how}")
    assert [(h["host"], h["status"]) for h in two.hosts] == [("algo-1", "Completed"), ("algo-2", "Completed")]
    assert all(Path(h["log"]).is_file() for h in two.hosts)
    assert ExecutionLog(served.state).get(two.execution_id).hosts == two.hosts  # recorded
    assert (two.status, two.item_count, two.violations) == (one_host.status, one_host.item_count, one_host.violations)

    job = job_names(ENDPOINT, HOUR, two.execution_id)[0]
    assert job.startswith("abalone-endpoint-dq-p-2026112509-")
    partials = served.state / "monitoring" / "jobs" / job / "merged"  # the hosts' outputs
    assert sorted(p.name for p in partials.iterdir()) == ["partial_profile-algo-1.json", "partial_profile-algo-2.json"]
    assert not list(partials.parent.glob("hosts/*/opt_ml"))  # the hosts' input copies are gone, their logs stay
    names = [f.name for f in read_constraints(report_constraints(served, one_host)).features]
    weights = error_weights(
        capture_root(served), partials, DatasetFormat("capture"), names=names, start=WINDOW[0], end=WINDOW[1]
    )
    one, merged = report(served, one_host), report(served, two)
    assert_statistics_within_bounds(one["statistics.json"], merged["statistics.json"], weights)
    bounds = {name: weight / one_host.item_count for name, weight in weights.items()}  # the baseline is shared
    assert_same_drift(one_host.drift, two.drift, bounds)
    assert {
        (v["feature_name"], v["constraint_check_type"]) for v in one["constraint_violations.json"]["violations"]
    } == {(v["feature_name"], v["constraint_check_type"]) for v in merged["constraint_violations.json"]["violations"]}
    assert_same_metrics(one["metrics"], merged["metrics"], bounds)


def report_constraints(served: Served, execution) -> Path:
    return local_path(execution.report_uri, served.state) / "constraints.json"


def assert_same_drift(one: list[dict], two: list[dict], bounds: dict[str, float]) -> None:
    assert [(d["feature"], d["threshold"], d["method"]) for d in one] == [
        (d["feature"], d["threshold"], d["method"]) for d in two
    ]
    for a, b in zip(one, two, strict=True):
        bound = bounds.get(a["feature"], 0.0)  # categorical: exact frequencies
        assert abs(a["distance"] - b["distance"]) <= bound + 1e-12, (a, b, bound)
    assert any(d["distance"] > d["threshold"] for d in two)  # the drifted lengths


def assert_same_metrics(one: list[dict], two: list[dict], bounds: dict[str, float]) -> None:
    assert [(m["MetricName"], m["Dimensions"][0], m["Unit"]) for m in one] == [
        (m["MetricName"], m["Dimensions"][0], m["Unit"]) for m in two
    ]
    for a, b in zip(one, two, strict=True):
        name = a["MetricName"]
        if name.startswith("feature_baseline_drift_"):
            assert abs(a["Value"] - b["Value"]) <= bounds.get(name.removeprefix("feature_baseline_drift_"), 0) + 1e-12
        elif "StatisticValues" in a:
            sa, sb = a["StatisticValues"], b["StatisticValues"]
            assert {k: v for k, v in sa.items() if k != "Sum"} == {k: v for k, v in sb.items() if k != "Sum"}
            assert rel(sa["Sum"], sb["Sum"]) <= 1e-12, name
        else:
            assert a["Value"] == b["Value"], name


def test_a_window_without_capture_starts_no_host(served):
    empty = (HOUR + timedelta(hours=5), HOUR + timedelta(hours=6))
    execution = check_window(hosts(served, 2), ENDPOINT, *empty, "two-hosts-empty")
    assert execution.status == NO_DATA and execution.hosts == []
    assert not list((served.state / "monitoring" / "jobs").glob(f"*-{execution.execution_id[-8:]}"))


def test_a_failing_host_fails_the_check_with_its_reason(tmp_path):
    served = serve(tmp_path)
    served.traffic(HOUR, ROWS[:40], np.full(40, 9.0), "a")
    served.traffic(HOUR + timedelta(minutes=5), ROWS[40:80], np.full(40, 9.0), "b")
    constraints = next(served.state.rglob("executions/exec-1/baseline/constraints.json"))
    constraints.write_text("{not json")
    execution = check_window(hosts(served, 2), ENDPOINT, *WINDOW, "two-hosts-broken")
    assert execution.status == FAILED
    assert "algo-" in execution.message and "constraints.json" in execution.message
    assert execution.alerts and execution.alerts[0]["state"] == "FAILED"
