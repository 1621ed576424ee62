"""Model-quality jobs: the baseline of a labelled CSV, the check of labelled predictions, and the container entry's
analysis_type=MODEL_QUALITY (baseline and check mode, the check joining capture with ground truth) publishing its
metrics to aws/sagemaker/Endpoints/model-metrics (moto)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from monitoring.container_entry import run
from monitoring.ground_truth_records import ground_truth_lines
from monitoring.labelled import LabelledPredictions
from monitoring.metrics import MODEL_QUALITY_NAMESPACE, model_quality_metric_data
from monitoring.model_quality_job import (
    evaluation_timestamp,
    run_model_quality_baseline,
    run_model_quality_check,
)
from tests.monitoring.test_model_quality import REGRESSION, abalone_binary, abalone_regression

T0 = datetime(2026, 11, 20, 10, 15, tzinfo=timezone.utc)
BINARY_METRICS = {
    "accuracy", "precision", "recall", "f0_5", "f1", "f2", "auc", "au_prc", "true_positive_rate",
    "true_negative_rate", "false_positive_rate", "false_negative_rate", "accuracy_best_constant_classifier",
    "precision_best_constant_classifier", "recall_best_constant_classifier", "f0_5_best_constant_classifier",
    "f1_best_constant_classifier", "f2_best_constant_classifier",
}  # fmt: skip


def _baseline(tmp_path: Path, pairs: LabelledPredictions, problem: str, margin: float = 0.0) -> Path:
    """A labelled CSV of ``pairs`` baselined into tmp_path/baseline."""
    lines = ["label,prediction" + (",probability" if pairs.probabilities is not None else "")]
    for i in range(len(pairs)):
        fields = [pairs.labels[i], pairs.predictions[i]]
        fields += [pairs.probabilities[i]] if pairs.probabilities is not None else []
        lines.append(",".join(repr(float(f)) for f in fields))
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    run_model_quality_baseline(
        tmp_path / "data.csv",
        tmp_path / "baseline",
        problem_type=problem,
        ground_truth_attribute="label",
        inference_attribute="prediction",
        probability_attribute="probability" if pairs.probabilities is not None else None,
        margin=margin,
    )
    return tmp_path / "baseline"


def test_baseline_writes_the_reference_statistics_and_constraints(tmp_path):
    result = run_model_quality_baseline(
        REGRESSION / "baseline_dataset.csv",
        tmp_path,
        problem_type="Regression",
        ground_truth_attribute="Label",
        inference_attribute="Prediction",
    )
    written = json.loads((tmp_path / "statistics.json").read_text())
    assert written == result.statistics and "evaluation_time" not in written["dataset"]
    assert written["regression_metrics"]["r2"] == {"value": -3.208758170289026, "standard_deviation": "NaN"}
    constraints = json.loads((tmp_path / "constraints.json").read_text())
    assert constraints["regression_constraints"]["r2"]["threshold"] == -3.208758170289026
    assert result.exit_message.startswith("Completed: Job completed successfully. Model-quality baseline of 100")


def test_check_below_the_baseline_is_completed_with_violations(tmp_path):
    pairs = abalone_regression()
    baseline = _baseline(tmp_path, pairs, "regression", margin=0.1)
    worse = LabelledPredictions(pairs.keys, pairs.labels, pairs.predictions + 1.5)  # a bias of 1.5 rings
    constraints = json.loads((baseline / "constraints.json").read_text())
    result = run_model_quality_check(
        worse, constraints, tmp_path / "check", problem_type="regression", min_pairs=50, merge_counts={"matched": 4177}
    )
    assert result.status == "CompletedWithViolations"
    assert (
        result.exit_message
        == f"CompletedWithViolations: Job completed successfully with {len(result.violations)} violations."
    )
    assert {v["metric_name"] for v in result.violations} == {"mae", "mse", "rmse", "r2"}
    written = json.loads((tmp_path / "check" / "constraint_violations.json").read_text())
    assert written == {"violations": result.violations}
    statistics = json.loads((tmp_path / "check" / "statistics.json").read_text())
    assert datetime.strptime(statistics["dataset"]["evaluation_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert result.metrics == {k: v["value"] for k, v in statistics["regression_metrics"].items()}
    assert result.merge_counts == {"matched": 4177}


def test_check_as_good_as_the_baseline_is_completed(tmp_path):
    pairs = abalone_binary()
    constraints = json.loads((_baseline(tmp_path, pairs, "binary", margin=0.01) / "constraints.json").read_text())
    result = run_model_quality_check(
        pairs,
        constraints,
        tmp_path / "check",
        problem_type="binary",
        min_pairs=1,
        evaluation_time="2026-11-20T11:00:00.000Z",
    )
    assert (result.status, result.violations) == ("Completed", [])
    assert result.exit_message == "Completed: Job completed successfully with no violations."
    assert set(result.metrics) == BINARY_METRICS
    assert result.statistics["dataset"]["evaluation_time"] == "2026-11-20T11:00:00.000Z"


def test_check_below_min_pairs_is_no_data_and_writes_nothing(tmp_path):
    pairs = abalone_regression()
    few = LabelledPredictions(pairs.keys[:10], pairs.labels[:10], pairs.predictions[:10])
    result = run_model_quality_check(few, {}, tmp_path / "check", problem_type="regression", min_pairs=50)
    assert (result.status, result.metrics, result.statistics) == ("NoData", {}, None)
    assert result.exit_message.startswith("NoData: 10 predictions matched with ground truth, fewer than the 50")
    assert not (tmp_path / "check").exists()


def test_evaluation_time_is_utc_with_milliseconds():
    moment = datetime(2023, 3, 30, 21, 8, 34, 729500, tzinfo=timezone.utc)
    assert evaluation_timestamp(moment) == "2023-03-30T21:08:34.729Z"


def test_metric_data_carry_the_endpoint_and_schedule_dimensions():
    [datum] = model_quality_metric_data({"au_prc": 0.9}, "abalone", "hourly", T0)
    assert datum == {
        "MetricName": "au_prc",
        "Timestamp": "2026-11-20T10:15:00Z",
        "Dimensions": [{"Name": "Endpoint", "Value": "abalone"}, {"Name": "MonitoringSchedule", "Value": "hourly"}],
        "Unit": "None",
        "Value": 0.9,
    }


def _capture_line(key: str, probability: float, when: datetime) -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2", "encoding": "CSV"},
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": repr(float(probability)),
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": f"event-{key}",
                "inferenceId": key,
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            },
            "eventVersion": "0",
        }
    )


def _traffic(tmp_path: Path, pairs: LabelledPredictions) -> tuple[Path, Path]:
    """Capture of ``pairs``' probabilities at T0 under their keys, and their labels as ground truth an hour later."""
    capture = tmp_path / "capture" / "ep" / "AllTraffic" / T0.strftime("%Y/%m/%d/%H") / "capture.jsonl"
    capture.parent.mkdir(parents=True)
    lines = [_capture_line(k, p, T0) for k, p in zip(pairs.keys, pairs.probabilities, strict=True)]
    capture.write_text("\n".join(lines) + "\n")
    later = T0 + timedelta(hours=1)
    truth = tmp_path / "groundtruth" / later.strftime("%Y/%m/%d/%H") / "labels.jsonl"
    truth.parent.mkdir(parents=True)
    truth.write_bytes(ground_truth_lines((k, str(int(y))) for k, y in zip(pairs.keys, pairs.labels, strict=True)))
    return tmp_path / "capture", tmp_path / "groundtruth"


def baseline_env(output: Path) -> dict[str, str]:
    """The container environment of a model-quality baseline of the reference CSV, as Model Monitor names it."""
    return {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "Regression",
        "dataset_source": str(REGRESSION / "baseline_dataset.csv"),
        "ground_truth_attribute": "Label",
        "inference_attribute": "Prediction",
        "output_path": str(output),
    }


def test_entry_baseline_mode_reads_a_csv_like_model_monitor(tmp_path):
    code, message = run(baseline_env(tmp_path / "out"), tmp_path / "opt_ml")
    assert code == 0 and message.startswith("Completed: Job completed successfully. Model-quality baseline of 100")
    assert json.loads((tmp_path / "out" / "statistics.json").read_text())["regression_metrics"]["rmse"]["value"] == (
        0.5776238707827177
    )


def test_on_several_hosts_only_the_leader_runs_the_job(tmp_path):
    env = baseline_env(tmp_path / "out")
    for host in ("algo-2", "algo-1"):
        opt_ml = tmp_path / f"opt_ml-{host}"
        (opt_ml / "config").mkdir(parents=True)
        (opt_ml / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": host, "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0"})
        )
        code, message = run(env, opt_ml)
        if host == "algo-2":
            assert (code, message) == (
                0,
                "Completed: Job completed successfully. Host algo-2 left the model-quality job to algo-1.",
            )
            assert not (tmp_path / "out").exists()
    assert code == 0 and "Model-quality baseline of 100" in message
    assert (tmp_path / "out" / "statistics.json").is_file()


@mock_aws
def test_entry_check_mode_joins_capture_with_ground_truth_and_publishes_model_metrics(tmp_path):
    pairs = abalone_binary()
    baseline = _baseline(tmp_path, pairs, "binary")
    flipped = LabelledPredictions(pairs.keys, pairs.labels, pairs.predictions, 1.0 - pairs.probabilities)
    capture, truth = _traffic(tmp_path, flipped)  # the model got its ranking backwards
    env = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "BinaryClassification",
        "dataset_source": str(capture),
        "ground_truth_source": str(truth),
        "baseline_constraints": str(baseline / "constraints.json"),
        "start_time": (T0 - timedelta(hours=1)).isoformat(),
        "end_time": (T0 + timedelta(hours=1)).isoformat(),
        "min_pairs": "100",
        "output_path": str(tmp_path / "result"),
        "sagemaker_endpoint_name": "abalone",
        "sagemaker_monitoring_schedule_name": "abalone-model-quality",
        "publish_cloudwatch_metrics": "Enabled",
    }
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    code, message = run(env, tmp_path / "opt_ml", cloudwatch)
    violations = json.loads((tmp_path / "result" / "constraint_violations.json").read_text())["violations"]
    assert (code, message) == (
        0,
        f"CompletedWithViolations: Job completed successfully with {len(violations)} violations.",
    )
    assert "auc" in {v["metric_name"] for v in violations}
    statistics = json.loads((tmp_path / "result" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 4177
    lines = (tmp_path / "opt_ml" / "output" / "metrics" / "cloudwatch").read_text().splitlines()
    assert {json.loads(line)["MetricName"] for line in lines} == BINARY_METRICS
    listed = cloudwatch.list_metrics(Namespace=MODEL_QUALITY_NAMESPACE)["Metrics"]
    assert {m["MetricName"] for m in listed} == BINARY_METRICS
    dimensions = {(d["Name"], d["Value"]) for d in listed[0]["Dimensions"]}
    assert dimensions == {("Endpoint", "abalone"), ("MonitoringSchedule", "abalone-model-quality")}
    auc = cloudwatch.get_metric_statistics(
        Namespace=MODEL_QUALITY_NAMESPACE,
        MetricName="auc",
        Dimensions=listed[0]["Dimensions"],
        StartTime=datetime.now(timezone.utc) - timedelta(hours=1),
        EndTime=datetime.now(timezone.utc) + timedelta(hours=1),
        Period=3600,
        Statistics=["Average"],
    )["Datapoints"]
    assert auc[0]["Average"] == pytest.approx(statistics["binary_classification_metrics"]["auc"]["value"])


def test_entry_check_mode_below_min_pairs_is_no_data_without_metrics(tmp_path):
    pairs = abalone_binary()
    baseline = _baseline(tmp_path, pairs, "binary")
    few = LabelledPredictions(pairs.keys[:20], pairs.labels[:20], pairs.predictions[:20], pairs.probabilities[:20])
    capture, truth = _traffic(tmp_path, few)
    env = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "BinaryClassification",
        "dataset_source": str(capture),
        "ground_truth_source": str(truth),
        "baseline_constraints": str(baseline / "constraints.json"),
        "output_path": str(tmp_path / "result"),
    }
    code, message = run(env, tmp_path / "opt_ml")
    assert code == 0 and message.startswith("NoData: 20 predictions matched with ground truth, fewer than the 50")
    assert (tmp_path / "opt_ml" / "output" / "metrics" / "cloudwatch").read_text() == ""
    assert not (tmp_path / "result").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "needs the environment variable problem_type"),
        ({"problem_type": "MulticlassClassification"}, "problem type must be regression or binary"),
        (
            {"problem_type": "Regression", "dataset_source": "x.csv"},
            "needs the environment variable ground_truth_attribute",
        ),
    ],
)
def test_entry_failures_are_a_failed_message(tmp_path, env, message):
    code, text = run({"analysis_type": "MODEL_QUALITY", **env}, tmp_path / "opt_ml")
    assert code == 1 and text.startswith("Failed: ") and message in text
