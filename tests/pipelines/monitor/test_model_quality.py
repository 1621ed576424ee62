"""Local model-quality checks: windows at T, the merge and check against the live version's constraints, metrics,
alarms, alerts, and retraining shared with drift (state built by model_quality_state)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

from monitoring.local.alarm_state import AlarmStore
from monitoring.local.endpoint_alarms import MODEL_METRICS_NAMESPACE
from monitoring.local.metrics_store import MetricsStore
from pipelines.monitor.executions import (
    COMPLETED,
    FAILED,
    MODEL_QUALITY,
    NO_DATA,
    WITH_VIOLATIONS,
    ExecutionLog,
)
from pipelines.monitor.model_quality import (
    ModelQualityError,
    check_kinds,
    check_model_quality,
    model_quality_schedule,
    parse_offset,
    window_at,
    window_from_capture,
)
from pipelines.monitor.report import model_quality_history, model_quality_lines
from pipelines.monitor.retrain import COOLDOWN, STARTED, DecisionLog
from pipelines.objectstore import local_path
from tests.pipelines.monitor.model_quality_state import BASELINES, ENDPOINT, ROWS, T, configured, rings, serve

HOUR = timedelta(hours=1)


def _alerts(served) -> list[dict]:
    path = served.state / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_offsets_and_windows():
    assert parse_offset("-P1D") == -timedelta(days=1)
    assert parse_offset("-PT1H") == -HOUR
    assert parse_offset("-P1DT12H30M") == -timedelta(days=1, hours=12, minutes=30)
    with pytest.raises(ModelQualityError, match="negative ISO 8601 duration"):
        parse_offset("P1D")
    config = configured()
    window = window_at(config, T)
    assert (window.capture_start, window.capture_end) == (T - timedelta(days=1), T - HOUR)
    assert (window.labels_start, window.labels_end) == (T - timedelta(days=1), T)
    given = window_from_capture(config, T - 3 * HOUR, T - HOUR)
    assert given.at == T and given.labels_start == T - 3 * HOUR
    assert model_quality_schedule("hourly") == "hourly-model-quality" != "hourly"


def test_kinds_follow_configuration():
    assert check_kinds(configured(), None) == ("data-quality",)
    assert check_kinds(configured(), None, scheduled=True) == ("data-quality", "model-quality")
    assert check_kinds(configured(enabled=False), None, scheduled=True) == ("data-quality",)
    with pytest.raises(ModelQualityError, match=r"monitoring\.model_quality\.enabled: false"):
        check_kinds(configured(enabled=False), "model-quality")


def test_a_check_at_t_joins_the_windows_and_publishes_model_metrics(tmp_path):
    served = serve(tmp_path)
    good = ROWS[:60]
    noise = np.random.default_rng(1).normal(0, 1, len(good))
    ids = served.traffic(T - 3 * HOUR, good, rings(good) + noise, "in")  # inside the capture window
    late = served.traffic(T - HOUR + timedelta(minutes=5), ROWS[60:80], rings(ROWS[60:80]) + 9, "late")  # after it
    served.labels(T - 2 * HOUR, ids[:50], list(rings(good)[:50]))
    served.labels(T - HOUR + timedelta(minutes=30), late, list(rings(ROWS[60:80])))
    served.labels(T + HOUR, ids[50:], list(rings(good)[50:]))  # a folder after T: not read
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))

    assert execution.kind == MODEL_QUALITY and execution.status == COMPLETED, execution.message
    assert execution.schedule == "on-demand-model-quality" and execution.item_count == 50
    counts = execution.model_quality["counts"]
    assert counts["matched"] == 50 and counts["unmatched_capture"] == 10 and counts["capture_outside_window"] == 20
    labels, predictions = rings(good)[:50], (rings(good) + noise)[:50]
    metrics = execution.model_quality["metrics"]
    assert metrics["mae"] == pytest.approx(mean_absolute_error(labels, np.round(predictions, 4)))
    assert metrics["rmse"] == pytest.approx(np.sqrt(mean_squared_error(labels, np.round(predictions, 4))))
    # SageMaker's report layout, the schedule name apart from data quality's
    folder = local_path(execution.report_uri, served.state)
    assert execution.report_uri.endswith(f"/{ENDPOINT}/on-demand-model-quality/2026/11/25/12")
    assert {p.name for p in folder.iterdir()} >= {"statistics.json", "constraint_violations.json", "constraints.json"}
    points = MetricsStore(served.env.directory).get_metric_statistics(
        MODEL_METRICS_NAMESPACE,
        "rmse",
        {"Endpoint": ENDPOINT, "MonitoringSchedule": "on-demand-model-quality"},
        T - HOUR,
        T + HOUR,
        3600,
        "Maximum",
    )
    assert [p["Maximum"] for p in points] == [pytest.approx(metrics["rmse"])]
    assert [t["new_state"] for t in execution.alarm_transitions] == ["OK", "OK"]  # rmse alarm, composite
    assert ExecutionLog(served.state).get(execution.execution_id).model_quality["metrics"] == metrics
    history = model_quality_history(served.state, ENDPOINT)
    assert history[-1]["statistics"]["regression_metrics"]["rmse"]["value"] == pytest.approx(metrics["rmse"])
    assert history[-1]["constraints"]["regression_constraints"]["rmse"]["comparison_operator"] == "GreaterThanThreshold"
    assert history[-1]["violations"] == [] and history[-1]["time"] == T.isoformat()


def test_below_min_pairs_is_no_data_without_metrics(tmp_path):
    served = serve(tmp_path)
    ids = served.traffic(T - 3 * HOUR, ROWS[:10], rings(ROWS[:10]), "few")
    served.labels(T - 2 * HOUR, ids, list(rings(ROWS[:10])))
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert execution.status == NO_DATA and execution.item_count == 10 and "fewer than the 20" in execution.message
    assert execution.model_quality["metrics"] == {}
    store = MetricsStore(served.env.directory)
    assert not store.get_metric_statistics(
        MODEL_METRICS_NAMESPACE, "rmse", {"Endpoint": ENDPOINT, "MonitoringSchedule": execution.schedule},
        T - HOUR, T + HOUR, 3600, "Maximum",
    )  # fmt: skip
    assert ExecutionLog(served.state).all()[-1].status == NO_DATA
    lines = "\n".join(model_quality_lines(execution))
    assert "NoData" in lines and "no metric was published" in lines and "NoData: NoData" not in lines


def test_checks_that_cannot_run_are_recorded_failures_naming_why(tmp_path):
    served = serve(tmp_path)
    constraints = local_path(f"{BASELINES}/model-quality/constraints.json", served.state)
    document = json.loads(constraints.read_text())
    del document["regression_constraints"]["rmse"]
    constraints.write_text(json.dumps(document))
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert execution.status == FAILED and "alarmed metric(s) ['rmse'] have no constraint" in execution.message
    assert _alerts(served)[-1]["new_state"] == "FAILED"
    constraints.write_text("{not json")
    broken = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert broken.status == FAILED and "cannot read its model-quality constraints" in broken.message
    nowhere = check_model_quality(served.env, "nowhere", window_at(served.config, T))
    assert nowhere.status == FAILED and "has no deployed model version" in nowhere.message


def test_a_version_registered_without_a_model_quality_baseline_fails_its_check(tmp_path):
    from inference.endpoint_state import read_state, write_state
    from pipelines.registry.sqlite import SQLiteRegistry

    served = serve(tmp_path)
    request = {
        "ModelPackageGroupName": "abalone",
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://mlops-local/model.tar.gz"}]},
    }
    version = SQLiteRegistry(served.state / "registry.db").register(request)
    deployed = read_state(served.state, ENDPOINT)
    write_state(served.state, dataclasses.replace(deployed, version=version.version))
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert execution.status == FAILED and execution.model_version == "abalone/2"
    assert "abalone/2 has no model-quality baseline" in execution.message


def _worse(served, at):
    """Traffic an hour before ``at`` whose predictions miss by 6 rings, labelled at once: rmse far over 1.2."""
    rows = ROWS[100:160]
    ids = served.traffic(at - 2 * HOUR, rows, rings(rows) + 6, f"worse-{at:%H}")
    served.labels(at - HOUR, ids, list(rings(rows)))


def test_model_quality_alarm_alerts_once_and_starts_one_retraining(tmp_path):
    served = serve(tmp_path)
    served.retraining_data()
    _worse(served, T)
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert execution.status == WITH_VIOLATIONS
    assert execution.model_quality["violations"][0]["metric_name"] in {"mae", "mse", "rmse"}
    changes = {t["alarm_name"]: t["new_state"] for t in execution.alarm_transitions}
    assert changes == {"abalone-endpoint-model-quality-rmse": "ALARM", "abalone-endpoint-model-quality": "ALARM"}
    (alert,) = _alerts(served)
    assert alert["alarm_name"] == "abalone-endpoint-model-quality" and "model quality: rmse" in alert["summary"]
    assert alert["model_quality"][0]["name"] == "rmse" and alert["model_quality"][0]["breached"]
    assert execution.retrain["action"] == STARTED and "model-quality alarm" in execution.retrain["reason"]
    assert served.started == [served.config.retrain_data_uri]
    # the next hour is still bad: the alarm stays in ALARM, no new alert, no new run
    served.clock.advance(3600)
    again = check_model_quality(served.env, ENDPOINT, window_at(served.config, T + HOUR))
    assert again.status == WITH_VIOLATIONS and not again.alerts and not again.retrain
    assert len(_alerts(served)) == 1 and len(served.started) == 1
    assert AlarmStore(served.env.directory).state("abalone-endpoint-model-quality").value == "ALARM"


def test_a_model_quality_alarm_within_a_drift_retrain_cool_down_starts_nothing(tmp_path):
    from pipelines.monitor.loop import check_window

    served = serve(tmp_path)
    served.retraining_data()
    drifted = ROWS[200:300]
    served.traffic(T - 3 * HOUR, drifted, rings(drifted), "drift", scale=1.6)
    drift = check_window(served.env, ENDPOINT, T - 3 * HOUR, T - 2 * HOUR)
    assert drift.retrain["action"] == STARTED and drift.retrain["reason"].startswith("drift alarm")
    served.clock.advance(2 * 3600)
    _worse(served, T + 2 * HOUR)
    quality = check_model_quality(served.env, ENDPOINT, window_at(served.config, T + 2 * HOUR))
    assert quality.alerts and "model quality" in quality.alerts[0]["summary"]
    assert quality.retrain["action"] == COOLDOWN and quality.retrain["reason"].startswith("model-quality alarm")
    assert len(served.started) == 1
    assert [d.action for d in DecisionLog(served.state).all()] == [STARTED, COOLDOWN]


def test_a_drift_alarm_within_a_model_quality_retrain_cool_down_starts_nothing(tmp_path):
    from pipelines.monitor.loop import check_window

    served = serve(tmp_path)
    served.retraining_data()
    _worse(served, T)
    quality = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert quality.retrain["action"] == STARTED
    drifted = ROWS[200:300]
    served.traffic(T + timedelta(minutes=1), drifted, rings(drifted), "drift", scale=1.6)
    served.clock.advance(2 * 3600)
    drift = check_window(served.env, ENDPOINT, T, T + HOUR)
    assert drift.alerts and drift.alerts[0]["alarm"] == "abalone-endpoint-drift"
    assert drift.retrain["action"] == COOLDOWN and drift.retrain["reason"].startswith("drift alarm")
    assert len(served.started) == 1
    assert [d.action for d in DecisionLog(served.state).all()] == [STARTED, COOLDOWN]


def test_history_leaves_failures_out_and_keeps_no_data(tmp_path):
    served = serve(tmp_path)
    check_model_quality(served.env, ENDPOINT, window_at(served.config, T))  # nothing captured: NoData
    check_model_quality(served.env, "nowhere", window_at(served.config, T))  # Failed
    history = model_quality_history(served.state)
    assert [h["status"] for h in history] == [NO_DATA] and history[0]["statistics"] == {}
    assert model_quality_history(served.state, include_no_data=False) == []


def test_a_second_check_at_the_same_time_keeps_its_own_report(tmp_path):
    served = serve(tmp_path)
    good = ROWS[:60]
    ids = served.traffic(T - 3 * HOUR, good, rings(good), "in")
    served.labels(T - 2 * HOUR, ids[:30], list(rings(good)[:30]))
    first = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    first_statistics = (local_path(first.report_uri, served.state) / "statistics.json").read_bytes()
    served.labels(T - HOUR, ids[30:], list(rings(good)[30:]))  # more labels arrive; the check at T runs again
    second = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert (first.item_count, second.item_count) == (30, 60)
    assert second.report_uri == f"{first.report_uri}/{second.execution_id}"
    assert (local_path(first.report_uri, served.state) / "statistics.json").read_bytes() == first_statistics
    second_statistics = json.loads((local_path(second.report_uri, served.state) / "statistics.json").read_bytes())
    assert second_statistics["dataset"]["item_count"] == 60


def test_check_time_is_utc_hour_of_report(tmp_path):
    served = serve(tmp_path)
    at = datetime(2026, 11, 25, 7, 30, tzinfo=timezone.utc)
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, at))
    assert execution.report_uri.endswith("/2026/11/25/07") and execution.model_quality["at"] == at.isoformat()


def test_binary_checks_score_probabilities_and_alarm_on_auc(tmp_path):
    from sklearn.metrics import roc_auc_score

    from tests.pipelines.monitor.model_quality_state import binary_configured, binary_labels, good_probabilities

    served = serve(tmp_path, binary_configured(min_pairs=20))
    served.retraining_data()
    rows = ROWS[:80]
    labels = binary_labels(rows)
    probabilities = np.round(good_probabilities(labels, 3), 4)
    ids = served.traffic(T - 3 * HOUR, rows, probabilities, "bin")
    served.labels(T - 2 * HOUR, ids, list(labels))
    execution = check_model_quality(served.env, ENDPOINT, window_at(served.config, T))
    assert "auc" not in {v["metric_name"] for v in execution.model_quality["violations"]}
    assert {t["alarm_name"]: t["new_state"] for t in execution.alarm_transitions}[
        "abalone-endpoint-model-quality"
    ] == "OK"
    assert execution.model_quality["metrics"]["auc"] == pytest.approx(roc_auc_score(labels, probabilities))
    statistics = model_quality_history(served.state)[-1]["statistics"]["binary_classification_metrics"]
    assert {"confusion_matrix", "receiver_operating_characteristic_curve"} <= set(statistics)
    # later predictions that no longer rank the classes: auc about 0.5, under the threshold
    later = ROWS[300:400]
    noise = np.round(np.random.default_rng(9).uniform(0.05, 0.95, len(later)), 4)
    ids = served.traffic(T + timedelta(minutes=1), later, noise, "bin-later")
    served.labels(T + HOUR, ids, list(binary_labels(later)))
    served.clock.advance(2 * 3600)
    worse = check_model_quality(served.env, ENDPOINT, window_at(served.config, T + 2 * HOUR))
    assert worse.status == WITH_VIOLATIONS
    changes = {t["alarm_name"]: t["new_state"] for t in worse.alarm_transitions}
    assert changes["abalone-endpoint-model-quality-auc"] == "ALARM"
    (alert,) = _alerts(served)
    assert "model quality: auc" in alert["summary"] and alert["model_quality"][0]["comparison_operator"] == (
        "LessThanThreshold"
    )
    assert worse.retrain["action"] == STARTED
