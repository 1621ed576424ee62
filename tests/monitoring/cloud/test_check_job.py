"""The scheduled check's Lambda: window, job name, the CreateProcessingJob request, and its delivery semantics."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from monitoring.cloud import check_job
from monitoring.cloud.check_job import (
    CheckWindow,
    check_window,
    job_name,
    parse_scheduled_time,
    processing_job_request,
    start_check,
)
from monitoring.cloud.check_settings import CheckSettings, LivePointer, read_pointer
from tests.monitoring.cloud.conftest import BUCKET, ROLE

UTC = timezone.utc
CAPTURE = f"s3://{BUCKET}/abalone-pipeline/datacapture/abalone-endpoint/AllTraffic"
ENV = {
    "JOB_NAME_PREFIX": "abalone-endpoint-dq",
    "ENDPOINT_NAME": "abalone-endpoint",
    "MONITORING_SCHEDULE_NAME": "abalone-endpoint-data-quality",
    "CAPTURE_S3_URI": CAPTURE,
    "REPORTS_S3_URI": f"s3://{BUCKET}/abalone-pipeline/monitoring",
    "LIB_S3_URI": f"s3://{BUCKET}/abalone-pipeline/code/{'a' * 64}/lib",
    "IMAGE_URI": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "ROLE_ARN": ROLE,
    "INSTANCE_TYPE": "ml.m5.xlarge",
    "INSTANCE_COUNT": "1",
    "VOLUME_SIZE_GB": "30",
    "MAX_RUNTIME_SECONDS": "3600",
    "BASELINE_STATISTICS_URI": f"s3://{BUCKET}/abalone-pipeline/executions/e1/baseline/statistics.json",
    "BASELINE_CONSTRAINTS_URI": f"s3://{BUCKET}/abalone-pipeline/executions/e1/baseline/constraints.json",
    "AWS_REGION": "us-east-1",
    "KMS_KEY_ID": "",
    "SUBNET_IDS": "",
    "SECURITY_GROUP_IDS": "",
    "ENABLE_NETWORK_ISOLATION": "false",
    "ENABLE_INTER_CONTAINER_ENCRYPTION": "false",
    "SERVING_MODEL_PACKAGE_ARN": "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3",
}
EVENT = {"scheduled_time": "2025-03-04T13:00:00Z", "execution_id": "0a1b2c3d-1111-2222-3333-444455556666"}


def settings(**changes: str) -> CheckSettings:
    return CheckSettings.from_env({**ENV, **changes})


# -- window and name -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scheduled", "start", "end"),
    [
        ("2025-03-04T13:00:00Z", datetime(2025, 3, 4, 12, tzinfo=UTC), datetime(2025, 3, 4, 13, tzinfo=UTC)),
        ("2025-03-04T13:20:05Z", datetime(2025, 3, 4, 12, tzinfo=UTC), datetime(2025, 3, 4, 13, tzinfo=UTC)),
        ("2025-01-01T00:00:00Z", datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 1, 1, 0, tzinfo=UTC)),
        ("2025-03-04T15:00:00+02:00", datetime(2025, 3, 4, 12, tzinfo=UTC), datetime(2025, 3, 4, 13, tzinfo=UTC)),
    ],
)
def test_the_window_is_the_last_complete_hour_before_the_scheduled_time(scheduled, start, end):
    window = check_window(parse_scheduled_time(scheduled))
    assert (window.start, window.end) == (start, end)


@pytest.mark.parametrize("bad", ["", "yesterday", "<aws.scheduler.scheduled-time>", None])
def test_a_scheduled_time_that_is_not_iso_8601_is_refused_with_its_value(bad):
    with pytest.raises(ValueError, match="scheduled_time must be an ISO-8601 time"):
        parse_scheduled_time(bad)


def test_the_job_name_is_made_unique_by_the_execution_id_and_stable_for_a_redelivery():
    window = check_window(parse_scheduled_time("2025-03-04T13:00:00Z"))
    first = job_name("abalone-endpoint-dq", window, "exec-1")
    assert first == job_name("abalone-endpoint-dq", window, "exec-1")
    assert first != job_name("abalone-endpoint-dq", window, "exec-2")
    assert first.startswith("abalone-endpoint-dq-2025030412-")
    longest = job_name("a" * 43, window, "exec-1")
    assert len(longest) == 63 and re.match(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", longest)
    with pytest.raises(ValueError, match="execution_id is empty"):
        job_name("abalone-endpoint-dq", window, "")


# -- settings ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ROLE_ARN": ""}, "ROLE_ARN is not set"),
        ({"INSTANCE_COUNT": "two"}, "INSTANCE_COUNT must be a positive integer, got 'two'"),
        ({"ENABLE_NETWORK_ISOLATION": "yes"}, "ENABLE_NETWORK_ISOLATION must be true or false"),
        ({"BASELINE_STATISTICS_URI": ""}, "BASELINE_STATISTICS_URI and BASELINE_CONSTRAINTS_URI must be both set"),
        ({"LIVE_POINTER_URI": "live.json"}, "LIVE_POINTER_URI must be an s3:// URI"),
        ({"JOB_NAME_PREFIX": "x" * 44}, "JOB_NAME_PREFIX must be 1-43 letters"),
        ({"SUBNET_IDS": "subnet-1"}, "SUBNET_IDS and SECURITY_GROUP_IDS must be both set or both empty"),
        ({"LIB_S3_URI": "/opt/lib"}, "LIB_S3_URI must be an s3:// URI"),
    ],
)
def test_settings_name_the_variable_that_is_wrong(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        settings(**changes)


# -- the request ---------------------------------------------------------------------------------------------------
def _validate(request: dict) -> None:
    model = boto3.client("sagemaker", region_name="us-east-1").meta.service_model
    validate_parameters(request, model.operation_model("CreateProcessingJob").input_shape)


def test_the_request_runs_the_analyzer_on_the_hours_capture_against_the_deployed_baselines():
    window = check_window(parse_scheduled_time(EVENT["scheduled_time"]))
    request = processing_job_request(settings(), window, EVENT["execution_id"])
    _validate(request)
    inputs = {i["InputName"]: i["S3Input"] for i in request["ProcessingInputs"]}
    assert inputs["endpoint"]["S3Uri"] == f"{CAPTURE}/2025/03/04/12/"
    assert inputs["baseline_statistics"]["S3Uri"] == ENV["BASELINE_STATISTICS_URI"]
    assert inputs["lib"]["LocalPath"] == "/opt/ml/processing/input/lib"
    env = request["Environment"]
    assert env["start_time"] == "2025-03-04T12:00:00Z" and env["end_time"] == "2025-03-04T13:00:00Z"
    assert env["publish_cloudwatch_metrics"] == "Enabled"
    assert env["baseline_statistics"] == "/opt/ml/processing/baseline/statistics/statistics.json"
    assert env["baseline_constraints"] == "/opt/ml/processing/baseline/constraints/constraints.json"
    assert env["sagemaker_endpoint_name"] == "abalone-endpoint"
    assert env["sagemaker_monitoring_schedule_name"] == "abalone-endpoint-data-quality"
    assert env["PYTHONPATH"] == "/opt/ml/processing/input/lib"
    assert json.loads(env["dataset_format"]) == {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "monitoring.container_entry"]
    output = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert (
        output
        == f"s3://{BUCKET}/abalone-pipeline/monitoring/abalone-endpoint/abalone-endpoint-data-quality/2025/03/04/13"
    )
    assert request["NetworkConfig"] == {"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": False}
    assert "KmsKeyId" not in request["ProcessingOutputConfig"]


def test_the_request_carries_the_configured_kms_key_vpc_and_isolation():
    secured = settings(
        KMS_KEY_ID="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        SUBNET_IDS="subnet-a,subnet-b",
        SECURITY_GROUP_IDS="sg-1",
        ENABLE_NETWORK_ISOLATION="true",
        ENABLE_INTER_CONTAINER_ENCRYPTION="true",
    )
    request = processing_job_request(secured, CheckWindow(*_hour()), "exec")
    _validate(request)
    assert request["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == secured.kms_key_id
    assert request["ProcessingOutputConfig"]["KmsKeyId"] == secured.kms_key_id
    assert request["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "VpcConfig": {"Subnets": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-1"]},
    }


def _hour():
    return datetime(2025, 3, 4, 12, tzinfo=UTC), datetime(2025, 3, 4, 13, tzinfo=UTC)


# -- starting it ---------------------------------------------------------------------------------------------------
def _capture(session, hour: str = "2025/03/04/12") -> None:
    key = f"abalone-pipeline/datacapture/abalone-endpoint/AllTraffic/{hour}/file.jsonl"
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"{}\n")


def _stubbed_sagemaker():
    client = boto3.client("sagemaker", region_name="us-east-1")
    return client, Stubber(client)


def test_an_hour_with_capture_files_starts_one_job(aws):
    _capture(aws)
    sagemaker, stub = _stubbed_sagemaker()
    window = CheckWindow(*_hour())
    expected = processing_job_request(settings(), window, EVENT["execution_id"])
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{expected['ProcessingJobName']}"
    stub.add_response("create_processing_job", {"ProcessingJobArn": arn}, expected)
    with stub:
        outcome = start_check(settings(), EVENT, sagemaker, aws.client("s3"))
    stub.assert_no_pending_responses()
    assert outcome["status"] == "Started" and outcome["job_arn"] == arn
    assert outcome["window_start"] == "2025-03-04T12:00:00Z"


def test_a_duplicate_delivery_of_the_same_execution_is_reported_not_raised(aws):
    _capture(aws)
    sagemaker, stub = _stubbed_sagemaker()
    stub.add_client_error(
        "create_processing_job",
        service_error_code="ValidationException",
        service_message="Job name must be unique within an AWS account and region, and a job with this name "
        "already exists",
    )
    with stub:
        outcome = start_check(settings(), EVENT, sagemaker, aws.client("s3"))
    assert outcome["status"] == "AlreadyStarted"
    assert (
        outcome["job_name"]
        == processing_job_request(settings(), CheckWindow(*_hour()), EVENT["execution_id"])["ProcessingJobName"]
    )


def test_an_hour_without_traffic_starts_nothing(aws):
    _capture(aws, hour="2025/03/04/11")  # the hour before: not this window
    sagemaker, stub = _stubbed_sagemaker()  # no response queued: a CreateProcessingJob call would fail the test
    with stub:
        outcome = start_check(settings(), EVENT, sagemaker, aws.client("s3"))
    assert outcome["status"] == "NoData"
    assert "2025/03/04/12/" in outcome["reason"]


def test_other_sagemaker_errors_fail_the_invocation_with_the_job_name(aws):
    _capture(aws)
    sagemaker, stub = _stubbed_sagemaker()
    stub.add_client_error("create_processing_job", service_error_code="ResourceLimitExceeded", service_message="quota")
    with stub, pytest.raises(RuntimeError, match=r"CreateProcessingJob abalone-endpoint-dq-2025030412-\w{8} failed"):
        start_check(settings(), EVENT, sagemaker, aws.client("s3"))


def test_the_lambda_handler_reads_its_environment_and_starts_the_job(aws, monkeypatch):
    _capture(aws)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    outcome = check_job.handler(EVENT, None)
    described = aws.client("sagemaker").describe_processing_job(ProcessingJobName=outcome["job_name"])
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in described["ProcessingInputs"]}  # moto keeps no Environment
    assert inputs["endpoint"] == f"{CAPTURE}/2025/03/04/12/"
    assert described["RoleArn"] == ROLE


# -- the live pointer: each check compares with the baselines the last deploy wrote -------------------------------
POINTER = f"s3://{BUCKET}/abalone-pipeline/monitoring/abalone-endpoint/live.json"
V4_STATISTICS = f"s3://{BUCKET}/abalone-pipeline/executions/e4/baseline/statistics.json"
V4_CONSTRAINTS = f"s3://{BUCKET}/abalone-pipeline/executions/e4/baseline/constraints.json"
V4_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/4"


def _pointer(endpoint: str = "abalone-endpoint") -> LivePointer:
    return LivePointer(endpoint, "abalone", 4, V4_ARN, V4_STATISTICS, V4_CONSTRAINTS, "2025-03-04T12:30:00Z")


def _started_request(aws, env: dict) -> dict:
    sagemaker, stub = _stubbed_sagemaker()
    seen: list[dict] = []
    stub.add_response("create_processing_job", {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:1:processing-job/x"})
    sagemaker.meta.events.register(
        "provide-client-params.sagemaker.CreateProcessingJob", lambda params, **_: seen.append(params)
    )
    with stub:
        outcome = start_check(CheckSettings.from_env(env), EVENT, sagemaker, aws.client("s3"))
    assert outcome["status"] == "Started", outcome
    (request,) = seen
    return {
        "outcome": outcome,
        **{i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]},
        "tags": {t["Key"]: t["Value"] for t in request["Tags"]},
    }


def test_a_check_compares_with_the_live_pointers_baselines_not_the_stacks(aws):
    _capture(aws)
    bucket, key = POINTER[5:].split("/", 1)
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=_pointer().to_json())
    started = _started_request(aws, {**ENV, "LIVE_POINTER_URI": POINTER})
    assert (started["baseline_statistics"], started["baseline_constraints"]) == (V4_STATISTICS, V4_CONSTRAINTS)
    assert started["tags"]["mlops:model-package"] == V4_ARN
    assert started["outcome"]["baselines"] == f"abalone/4 (live pointer {POINTER})"


def test_without_a_pointer_the_stacks_baselines_are_used_and_without_either_no_job_starts(aws):
    _capture(aws)
    started = _started_request(aws, {**ENV, "LIVE_POINTER_URI": POINTER})
    assert started["baseline_statistics"] == ENV["BASELINE_STATISTICS_URI"]
    sagemaker, stub = _stubbed_sagemaker()  # nothing queued: a CreateProcessingJob would fail the test
    env = {**ENV, "LIVE_POINTER_URI": POINTER, "BASELINE_STATISTICS_URI": "", "BASELINE_CONSTRAINTS_URI": ""}
    with stub:
        outcome = start_check(CheckSettings.from_env(env), EVENT, sagemaker, aws.client("s3"))
    assert outcome["status"] == "NoBaselines" and POINTER in outcome["reason"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "is not JSON"),
        (json.dumps({**json.loads(_pointer().to_json()), "schema": 2}).encode(), "schema must be 1, got 2"),
        (
            json.dumps({**json.loads(_pointer().to_json()), "model_package_version": "4"}).encode(),
            "model_package_version must be a positive integer",
        ),
        (
            json.dumps({**json.loads(_pointer().to_json()), "baseline_constraints_uri": "/tmp/c.json"}).encode(),
            "baseline_constraints_uri must be an s3:// URI",
        ),
        (_pointer("other-endpoint").to_json(), "is for endpoint 'other-endpoint', expected 'abalone-endpoint'"),
    ],
)
def test_a_broken_or_foreign_pointer_fails_the_check_naming_it(aws, body, message):
    bucket, key = POINTER[5:].split("/", 1)
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    with pytest.raises(ValueError, match=re.escape(message)):
        start_check(settings(LIVE_POINTER_URI=POINTER), EVENT, _stubbed_sagemaker()[0], aws.client("s3"))


def test_a_denied_pointer_read_says_which_call_and_error_code():
    s3 = boto3.client("s3", region_name="us-east-1")
    stub = Stubber(s3)
    stub.add_client_error(
        "list_objects_v2", service_error_code="AccessDenied", service_message="no", http_status_code=403
    )
    with (
        stub,
        pytest.raises(
            RuntimeError, match=re.escape(f"ListObjectsV2 {POINTER} (the live pointer) failed (AccessDenied)")
        ),
    ):
        read_pointer(s3, POINTER)
