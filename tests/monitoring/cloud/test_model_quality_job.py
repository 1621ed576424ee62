"""The scheduled model-quality check's Lambda: Model Monitor's window, the manifests of the window's capture and ground
truth, the CreateProcessingJob request (validated against botocore's model), the live version's thresholds published
for the alarms, and its outcomes (moto for S3 and CloudWatch, Stubber for SageMaker)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from monitoring.cloud import model_quality_job
from monitoring.cloud.check_settings import LivePointer, read_pointer
from monitoring.cloud.model_quality_job import check_window, hours_between, start_model_quality_check
from monitoring.cloud.model_quality_settings import (
    THRESHOLDS_NAMESPACE,
    ModelQualitySettings,
    alarm_operator,
    alarm_thresholds,
    parse_offset,
)
from tests.conftest import ROOT
from tests.monitoring.cloud.conftest import BUCKET
from tests.monitoring.cloud.test_check_job import ENV as CHECK_ENV

UTC = timezone.utc
PIPELINE = "abalone-pipeline"
CAPTURE = f"s3://{BUCKET}/{PIPELINE}/datacapture/abalone-endpoint/AllTraffic"
GROUND_TRUTH = f"s3://{BUCKET}/{PIPELINE}/ground-truth"
POINTER = f"s3://{BUCKET}/{PIPELINE}/monitoring/abalone-endpoint/live.json"
MANIFESTS = f"s3://{BUCKET}/{PIPELINE}/monitoring/abalone-endpoint/model-quality-manifests"
MQ_CONSTRAINTS = f"s3://{BUCKET}/{PIPELINE}/executions/e4/model-quality-baseline/constraints.json"
REFERENCE_CONSTRAINTS = (
    ROOT / "tests/fixtures/model-monitor/model-quality/regression-baseline/good_cases_constraints.json"
)
ENV = {
    **CHECK_ENV,
    "JOB_NAME_PREFIX": "abalone-endpoint-mq",
    "MONITORING_SCHEDULE_NAME": "abalone-endpoint-model-quality",
    "BASELINE_STATISTICS_URI": "",
    "BASELINE_CONSTRAINTS_URI": "",
    "SERVING_MODEL_PACKAGE_ARN": "",
    "LIVE_POINTER_URI": POINTER,
    "GROUND_TRUTH_S3_URI": GROUND_TRUTH,
    "MANIFESTS_S3_URI": MANIFESTS,
    "PROBLEM_TYPE": "Regression",
    "START_TIME_OFFSET": "-P1D",
    "END_TIME_OFFSET": "-PT1H",
    "MIN_PAIRS": "50",
    "INFERENCE_ATTRIBUTE": "",
    "PROBABILITY_ATTRIBUTE": "",
    "PROBABILITY_THRESHOLD": "0.5",
    "ALARMED_METRICS": "rmse,r2",
}
EVENT = {"scheduled_time": "2025-03-04T13:00:07Z", "execution_id": "0a1b2c3d-1111-2222-3333-444455556666"}
V4_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/4"


def settings(**changes: str) -> ModelQualitySettings:
    return ModelQualitySettings.from_env({**ENV, **changes})


def pointer(model_constraints: str = MQ_CONSTRAINTS) -> LivePointer:
    base = f"s3://{BUCKET}/{PIPELINE}/executions/e4/baseline"
    return LivePointer(
        "abalone-endpoint",
        "abalone",
        4,
        V4_ARN,
        f"{base}/statistics.json",
        f"{base}/constraints.json",
        "2025-03-04T12:30:00Z",
        model_quality_constraints_uri=model_constraints,
    )


def put(session, uri: str, body: bytes) -> None:
    bucket, key = uri[5:].split("/", 1)
    session.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def deployed(session, constraints: bytes | None = None, live: LivePointer | None = None) -> None:
    """A deploy's live pointer and the live version's model-quality constraints (Model Monitor's reference file)."""
    put(session, POINTER, (live or pointer()).to_json())
    put(session, MQ_CONSTRAINTS, constraints if constraints is not None else REFERENCE_CONSTRAINTS.read_bytes())


def traffic(session) -> None:
    """Capture and labels around the check at 13:00 of 2025-03-04 (window: capture 03-03 13:00 to 03-04 12:00)."""
    for hour in ("2025/03/03/12", "2025/03/03/13", "2025/03/04/11", "2025/03/04/12", "2025/03/04/13"):
        put(session, f"{CAPTURE}/{hour}/capture-{hour[-2:]}.jsonl", b"{}\n")
    for hour in ("2025/03/03/12", "2025/03/03/14", "2025/03/04/12", "2025/03/04/13"):
        put(session, f"{GROUND_TRUTH}/{hour}/labels-{hour[-2:]}.jsonl", b"{}\n")


def clients(session, sagemaker=None) -> dict:
    return {
        "s3": session.client("s3"),
        "cloudwatch": session.client("cloudwatch"),
        "sagemaker": sagemaker or session.client("sagemaker"),
    }


# -- window, offsets, settings ---------------------------------------------------------------------------------------
def test_the_window_is_model_monitors_offsets_from_the_scheduled_hour():
    window = check_window(datetime(2025, 3, 4, 13, 0, 7, tzinfo=UTC), timedelta(days=-1), timedelta(hours=-1))
    assert (window.at, window.capture_start, window.capture_end) == (
        datetime(2025, 3, 4, 13, tzinfo=UTC),
        datetime(2025, 3, 3, 13, tzinfo=UTC),
        datetime(2025, 3, 4, 12, tzinfo=UTC),
    )
    # capture: every folder overlapping [03-03 13:00, 03-04 12:00] (its end included); labels: ingested before 13:00
    assert window.capture_hours[0] == "2025/03/03/13" and window.capture_hours[-1] == "2025/03/04/12"
    assert len(window.capture_hours) == 24
    assert window.ground_truth_hours == window.capture_hours  # [03-03 13:00, 03-04 13:00): folders 13 .. 12
    assert hours_between(datetime(2025, 1, 1, 23, 30, tzinfo=UTC), datetime(2025, 1, 2, 0, 0, tzinfo=UTC)) == [
        "2025/01/01/23",
        "2025/01/02/00",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-P1D", timedelta(days=-1)),
        ("-PT1H", timedelta(hours=-1)),
        ("-P1DT12H", timedelta(hours=-36)),
        ("-PT30M", timedelta(minutes=-30)),
        ("-P2DT1H30M", -timedelta(days=2, hours=1, minutes=30)),
    ],
)
def test_offsets_read_as_model_monitor_writes_them(text, expected):
    assert parse_offset(text, "START_TIME_OFFSET") == expected


@pytest.mark.parametrize("bad", ["P1D", "-P", "-PT", "-P1DT", "-1D", "", "-PT1S"])
def test_an_offset_that_is_not_a_negative_duration_is_refused_with_its_value(bad):
    with pytest.raises(ValueError, match="START_TIME_OFFSET must be a negative ISO 8601 duration"):
        parse_offset(bad, "START_TIME_OFFSET")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"PROBLEM_TYPE": "regression"}, "PROBLEM_TYPE must be one of ['BinaryClassification', 'Regression']"),
        ({"MIN_PAIRS": "0"}, "MIN_PAIRS must be a positive integer, got '0'"),
        ({"PROBABILITY_THRESHOLD": "1.5"}, "PROBABILITY_THRESHOLD must be between 0 and 1, got '1.5'"),
        ({"ALARMED_METRICS": "rmse,auc"}, "ALARMED_METRICS: ['auc'] are not Regression metrics"),
        ({"GROUND_TRUTH_S3_URI": "ground-truth/"}, "GROUND_TRUTH_S3_URI must be an s3:// URI"),
        ({"LIVE_POINTER_URI": ""}, "LIVE_POINTER_URI is not set"),
        ({"END_TIME_OFFSET": "-P2D"}, "END_TIME_OFFSET (-P2D) must be later than START_TIME_OFFSET (-P1D)"),
        ({"JOB_NAME_PREFIX": ""}, "JOB_NAME_PREFIX is not set"),
    ],
)
def test_settings_name_the_variable_that_is_wrong(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        settings(**changes)


# -- constraints ----------------------------------------------------------------------------------------------------
def test_the_reference_constraints_give_the_alarms_thresholds():
    found = alarm_thresholds(REFERENCE_CONSTRAINTS.read_bytes(), "c.json", "Regression", ("rmse", "r2"))
    reference = json.loads(REFERENCE_CONSTRAINTS.read_text())["regression_constraints"]
    assert [(t.metric, t.threshold, t.comparison_operator) for t in found] == [
        ("rmse", reference["rmse"]["threshold"], "GreaterThanThreshold"),
        ("r2", reference["r2"]["threshold"], "LessThanThreshold"),
    ]
    # the alarms' operators are the ones Model Monitor suggests in that file, for every metric it constrains
    assert all(alarm_operator(metric) == entry["comparison_operator"] for metric, entry in reference.items())


def _constraints(**metrics) -> bytes:
    return json.dumps({"version": 0.0, "regression_constraints": metrics}).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "model-quality constraints c.json are not JSON"),
        (json.dumps({"binary_classification_constraints": {}}).encode(), "have no regression_constraints object"),
        (
            _constraints(mae={"threshold": 1, "comparison_operator": "GreaterThanThreshold"}),
            "regression_constraints.rmse is missing",
        ),
        (
            _constraints(rmse={"threshold": "2", "comparison_operator": "GreaterThanThreshold"}),
            "rmse.threshold must be a finite number, got '2'",
        ),
        (
            _constraints(rmse={"threshold": 2, "comparison_operator": "LessThanThreshold"}),
            "rmse.comparison_operator must be GreaterThanThreshold",
        ),
        (
            _constraints(rmse={"threshold": 2, "comparison_operator": "GreaterThanOrEqualToThreshold"}),
            "got 'GreaterThanOrEqualToThreshold'",
        ),
    ],
)
def test_constraints_the_alarms_cannot_use_are_refused_naming_file_and_metric(body, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        alarm_thresholds(body, "c.json", "Regression", ("rmse",))


def test_an_unknown_metric_has_no_operator():
    with pytest.raises(ValueError, match="'rsme' is not one Model Monitor publishes"):
        alarm_operator("rsme")


# -- starting a check -----------------------------------------------------------------------------------------------
def _stubbed():
    client = boto3.client("sagemaker", region_name="us-east-1")
    return client, Stubber(client)


def _started(aws, env: dict | None = None) -> tuple[dict, dict]:
    """(the outcome, the CreateProcessingJob request) of one check that starts a job."""
    sagemaker, stub = _stubbed()
    seen: list[dict] = []
    sagemaker.meta.events.register(
        "provide-client-params.sagemaker.CreateProcessingJob", lambda params, **_: seen.append(params)
    )
    stub.add_response("create_processing_job", {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:1:processing-job/x"})
    with stub:
        outcome = start_model_quality_check(ModelQualitySettings.from_env(env or ENV), EVENT, clients(aws, sagemaker))
    stub.assert_no_pending_responses()
    (request,) = seen
    return outcome, request


def test_a_check_merges_the_windows_capture_and_ground_truth_against_the_live_constraints(aws):
    deployed(aws)
    traffic(aws)
    outcome, request = _started(aws)
    model = boto3.client("sagemaker", region_name="us-east-1").meta.service_model
    validate_parameters(request, model.operation_model("CreateProcessingJob").input_shape)
    assert outcome["status"] == "Started" and outcome["baselines"] == f"abalone/4 (live pointer {POINTER})"
    assert request["ProcessingJobName"] == outcome["job_name"] and outcome["job_name"].startswith(
        "abalone-endpoint-mq-2025030413-"
    )
    inputs = {i["InputName"]: i["S3Input"] for i in request["ProcessingInputs"]}
    assert sorted(inputs) == ["baseline_constraints", "endpoint", "groundtruth", "lib"]
    assert inputs["endpoint"]["S3DataType"] == inputs["groundtruth"]["S3DataType"] == "ManifestFile"
    assert inputs["baseline_constraints"]["S3Uri"] == MQ_CONSTRAINTS
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=inputs["endpoint"]["S3Uri"].split("/", 3)[3])["Body"]
    # capture: only the folders overlapping the window, each kept under its hour folder
    assert json.loads(body.read()) == [
        {"prefix": f"{CAPTURE}/"},
        "2025/03/03/13/capture-13.jsonl",
        "2025/03/04/11/capture-11.jsonl",
        "2025/03/04/12/capture-12.jsonl",
    ]
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=inputs["groundtruth"]["S3Uri"].split("/", 3)[3])["Body"]
    assert json.loads(body.read()) == [
        {"prefix": f"{GROUND_TRUTH}/"},
        "2025/03/03/14/labels-14.jsonl",
        "2025/03/04/12/labels-12.jsonl",
    ]  # 03-03 12:00 is before the window, 03-04 13:00 the hour of the check itself
    assert inputs["endpoint"]["S3Uri"].startswith(f"{MANIFESTS}/2025/03/04/13/{outcome['job_name']}/")
    env = request["Environment"]
    assert {k: env[k] for k in ("analysis_type", "problem_type", "start_time", "end_time", "min_pairs")} == {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "Regression",
        "start_time": "2025-03-03T13:00:00Z",
        "end_time": "2025-03-04T12:00:00Z",
        "min_pairs": "50",
    }
    assert env["dataset_source"] == "/opt/ml/processing/input/endpoint"
    assert env["ground_truth_source"] == "/opt/ml/processing/groundtruth"
    assert env["baseline_constraints"] == "/opt/ml/processing/baseline/constraints/constraints.json"
    assert env["sagemaker_monitoring_schedule_name"] == "abalone-endpoint-model-quality"
    assert env["publish_cloudwatch_metrics"] == "Enabled"
    assert "inference_attribute" not in env and "probability_threshold_attribute" not in env
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["mlops:model-package"] == V4_ARN
    output = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert (
        output == f"s3://{BUCKET}/{PIPELINE}/monitoring/abalone-endpoint/abalone-endpoint-model-quality/2025/03/04/13"
    )


def _thresholds_published(aws) -> dict[str, float]:
    cloudwatch = aws.client("cloudwatch")
    found = {}
    dimensions = [
        {"Name": "Endpoint", "Value": "abalone-endpoint"},
        {"Name": "MonitoringSchedule", "Value": "abalone-endpoint-model-quality"},
    ]
    for metric in ("rmse", "r2"):
        points = cloudwatch.get_metric_statistics(
            Namespace=THRESHOLDS_NAMESPACE,
            MetricName=metric,
            Dimensions=dimensions,
            StartTime=datetime(2025, 3, 4, 13, tzinfo=UTC),
            EndTime=datetime(2025, 3, 4, 14, tzinfo=UTC),
            Period=3600,
            Statistics=["Average", "SampleCount"],
        )["Datapoints"]
        if points:
            (point,) = points
            found[metric] = point["Average"]
    return found


def test_the_check_publishes_the_live_versions_thresholds_at_the_checks_hour(aws):
    deployed(aws)
    traffic(aws)
    outcome, _ = _started(aws)
    reference = json.loads(REFERENCE_CONSTRAINTS.read_text())["regression_constraints"]
    expected = {"rmse": reference["rmse"]["threshold"], "r2": reference["r2"]["threshold"]}
    assert outcome["thresholds"] == expected
    assert _thresholds_published(aws) == pytest.approx(expected)


def test_a_binary_check_passes_the_probability_settings(aws):
    binary = {"PROBLEM_TYPE": "BinaryClassification", "ALARMED_METRICS": "auc", "PROBABILITY_THRESHOLD": "0.7"}
    binary |= {"INFERENCE_ATTRIBUTE": "predicted_label", "PROBABILITY_ATTRIBUTE": "score"}
    constraints = {
        "binary_classification_constraints": {"auc": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"}}
    }
    deployed(aws, json.dumps(constraints).encode())
    traffic(aws)
    outcome, request = _started(aws, {**ENV, **binary})
    env = request["Environment"]
    assert env["problem_type"] == "BinaryClassification" and outcome["thresholds"] == {"auc": 0.8}
    assert (env["inference_attribute"], env["probability_attribute"], env["probability_threshold_attribute"]) == (
        "predicted_label",
        "score",
        "0.7",
    )


def test_a_duplicate_delivery_is_reported_and_publishes_the_same_thresholds(aws):
    deployed(aws)
    traffic(aws)
    sagemaker, stub = _stubbed()
    stub.add_client_error(
        "create_processing_job",
        service_error_code="ValidationException",
        service_message="a job with this name already exists",
    )
    with stub:
        outcome = start_model_quality_check(settings(), EVENT, clients(aws, sagemaker))
    assert outcome["status"] == "AlreadyStarted" and set(_thresholds_published(aws)) == {"rmse", "r2"}


@pytest.mark.parametrize(
    ("live", "reason"),
    [
        (None, f"no live pointer at {POINTER}"),
        (pointer(model_constraints=""), "the live version abalone/4 has no model-quality baseline"),
    ],
)
def test_without_a_model_quality_baseline_no_job_starts(aws, live, reason):
    if live is not None:
        put(aws, POINTER, live.to_json())
    traffic(aws)
    sagemaker, stub = _stubbed()  # nothing queued: a CreateProcessingJob would fail the test
    with stub:
        outcome = start_model_quality_check(settings(), EVENT, clients(aws, sagemaker))
    assert outcome["status"] == "NoBaselines" and reason in outcome["reason"]
    assert _thresholds_published(aws) == {}


@pytest.mark.parametrize(
    ("uploads", "reason"),
    [
        ([], f"no capture under {CAPTURE} in the hours 2025/03/03/13 to 2025/03/04/12"),
        ([f"{CAPTURE}/2025/03/04/12/c.jsonl", f"{GROUND_TRUTH}/2025/03/04/13/l.jsonl"], "no ground truth under"),
    ],
)
def test_a_window_without_capture_or_ground_truth_starts_nothing(aws, uploads, reason):
    deployed(aws)
    for uri in uploads:
        put(aws, uri, b"{}\n")
    sagemaker, stub = _stubbed()
    with stub:
        outcome = start_model_quality_check(settings(), EVENT, clients(aws, sagemaker))
    assert outcome["status"] == "NoData" and reason in outcome["reason"]
    assert not aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=MANIFESTS.split("/", 3)[3]).get("Contents")


def test_constraints_the_alarms_cannot_use_fail_the_invocation_before_anything_starts(aws):
    wrong = _constraints(rmse={"threshold": 2.0, "comparison_operator": "GreaterThanThreshold"})
    deployed(aws, wrong)
    traffic(aws)
    sagemaker, stub = _stubbed()
    with stub, pytest.raises(ValueError, match=re.escape(f"{MQ_CONSTRAINTS}: regression_constraints.r2 is missing")):
        start_model_quality_check(settings(), EVENT, clients(aws, sagemaker))


def test_other_sagemaker_errors_fail_the_invocation_with_the_job_name(aws):
    deployed(aws)
    traffic(aws)
    sagemaker, stub = _stubbed()
    stub.add_client_error("create_processing_job", service_error_code="ResourceLimitExceeded", service_message="quota")
    with stub, pytest.raises(RuntimeError, match=r"CreateProcessingJob abalone-endpoint-mq-2025030413-\w{8} failed"):
        start_model_quality_check(settings(), EVENT, clients(aws, sagemaker))
    assert _thresholds_published(aws) == {}


def test_the_lambda_handler_reads_its_environment_and_starts_the_job(aws, monkeypatch):
    deployed(aws)
    traffic(aws)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    outcome = model_quality_job.handler(EVENT, None)
    described = aws.client("sagemaker").describe_processing_job(ProcessingJobName=outcome["job_name"])
    inputs = {i["InputName"]: i["S3Input"] for i in described["ProcessingInputs"]}
    assert inputs["groundtruth"]["S3DataType"] == "ManifestFile"
    assert outcome["status"] == "Started" and outcome["capture_files"] == 3 and outcome["ground_truth_files"] == 2


# -- the live pointer carries the model-quality baseline -------------------------------------------------------------
def test_a_pointer_written_before_model_quality_still_reads_and_a_bad_uri_is_named(aws):
    old = json.loads(pointer().to_json())
    for key in ("model_quality_statistics_uri", "model_quality_constraints_uri"):
        old.pop(key)
    put(aws, POINTER, json.dumps(old).encode())
    assert read_pointer(aws.client("s3"), POINTER).model_quality_constraints_uri == ""
    put(aws, POINTER, json.dumps({**old, "model_quality_constraints_uri": "/tmp/c.json"}).encode())
    with pytest.raises(ValueError, match="model_quality_constraints_uri must be an s3:// URI"):
        read_pointer(aws.client("s3"), POINTER)
