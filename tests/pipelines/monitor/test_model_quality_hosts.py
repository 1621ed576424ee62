"""A local model-quality check on 2 simulated hosts (the analyzer's profile stage on spawned host processes, the
merge in process) writes what the one-host check writes: counts and integers equal, floats within 1e-12 relative."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np

from pipelines.monitor import hosts
from pipelines.monitor.model_quality import check_model_quality, window_at
from pipelines.objectstore import local_path
from tests.monitoring.model_quality_hosts_data import assert_close
from tests.pipelines.monitor.model_quality_state import ENDPOINT, ROWS, T, rings, serve

HOUR = timedelta(hours=1)


def _statistics(served, execution) -> dict:
    statistics = json.loads((local_path(execution.report_uri, served.state) / "statistics.json").read_text())
    statistics["dataset"].pop("evaluation_time")
    return statistics


def test_two_hosts_check_equals_one_host(tmp_path, monkeypatch):
    served = serve(tmp_path)
    ids = []
    for hour, first in ((5, 0), (4, 80), (3, 160)):  # three hour folders: three capture files to share out
        rows = ROWS[first : first + 80]
        noise = np.random.default_rng(first).normal(0, 1, len(rows))
        ids += served.traffic(T - hour * HOUR, rows, rings(rows) + noise, f"h{hour}")
    ids += served.traffic(T - 2 * HOUR, ROWS[:5], rings(ROWS[:5]), "h5")  # "h5-0".."h5-4" captured again
    served.labels(T - HOUR, ids[:200], list(rings(ROWS[:240]))[:200])
    window = window_at(served.config, T)
    one = check_model_quality(served.env, ENDPOINT, window)
    single = _statistics(served, one)

    monkeypatch.setattr(hosts, "instance_count", lambda config: 2)
    two = check_model_quality(served.env, ENDPOINT, window)

    assert two.status == one.status and two.message == one.message and two.item_count == one.item_count == 205
    assert two.model_quality["counts"] == one.model_quality["counts"]
    assert one.model_quality["counts"]["duplicate_capture_keys"] == 5
    assert_close(_statistics(served, two), single, "statistics")
    assert_close(two.model_quality["metrics"], one.model_quality["metrics"], "metrics")
    assert [h["host"] for h in two.model_quality["hosts"]] == ["algo-1", "algo-2"]
    assert all(h["status"] == "Completed" for h in two.model_quality["hosts"])
    assert "hosts" not in one.model_quality
    (job,) = (served.env.directory / "jobs").iterdir()
    logs = [h["log"] for h in two.model_quality["hosts"]]
    assert logs == [str(job / "hosts" / name / "log.txt") for name in ("algo-1", "algo-2")]
    assert "joined" in (job / "hosts" / "algo-2" / "log.txt").read_text()
    assert not list(job.rglob("*.parquet")) and not list(job.rglob("*.jsonl"))  # copies and partials removed


def test_instance_count_is_the_processing_instance_count(tmp_path):
    """Local checks are sized like the AWS stack's check jobs: by sagemaker.processing_instance_count."""
    import dataclasses

    config = serve(tmp_path).config
    assert hosts.instance_count(config) == 1
    two = dataclasses.replace(config, sagemaker=dataclasses.replace(config.sagemaker, processing_instance_count=2))
    assert hosts.instance_count(two) == 2


def test_a_failing_host_fails_the_check_with_its_reason(tmp_path, monkeypatch):
    from pipelines.monitor import model_quality_hosts

    served = serve(tmp_path)
    ids = served.traffic(T - 3 * HOUR, ROWS[:30], rings(ROWS[:30]), "a")
    ids += served.traffic(T - 2 * HOUR, ROWS[30:60], rings(ROWS[30:60]), "b")
    served.labels(T - HOUR, ids, list(rings(ROWS[:60])))
    monkeypatch.setattr(hosts, "instance_count", lambda config: 2)
    settings = model_quality_hosts._environment
    monkeypatch.setattr(
        model_quality_hosts, "_environment", lambda config, window: {**settings(config, window), "problem_type": "x"}
    )
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert execution.status == "Failed"
    assert "algo-" in execution.message and "problem type must be regression or binary" in execution.message


def test_a_window_without_capture_or_labels_starts_no_host(tmp_path, monkeypatch):
    """Nothing to share out: NoData from this process, as the AWS check function answers NoData without a job."""
    served = serve(tmp_path)
    monkeypatch.setattr(hosts, "instance_count", lambda config: 2)
    from pipelines.monitor import model_quality_hosts

    started = []
    monkeypatch.setattr(model_quality_hosts, "merge_on_hosts", lambda *args: started.append(args))
    window = window_at(served.config, T)
    no_capture = check_model_quality(served.env, ENDPOINT, window)
    served.traffic(T - 2 * HOUR, ROWS[:30], rings(ROWS[:30]), "a")
    no_labels = check_model_quality(served.env, ENDPOINT, window)
    for execution in (no_capture, no_labels):
        assert execution.status == "NoData", execution.message
        assert "hosts" not in (execution.model_quality or {})
    assert not started and not (served.env.directory / "jobs").exists()
