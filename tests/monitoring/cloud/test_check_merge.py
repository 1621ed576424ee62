"""The scheduled check on several instances: the profile job the schedule starts (capture ShardedByS3Key, baselines
and code FullyReplicated, partial profiles under a prefix of its own), the merge job its completion starts (one
instance, the profile job's output, baselines, code and model version, the one-instance check's output, environment
and tags), duplicate deliveries, and profile jobs that did not complete. SageMaker through botocore's Stubber, S3 on
moto."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from monitoring.cloud import check_job
from monitoring.cloud.check_job import CheckWindow, processing_job_request, report_uri, start_check
from monitoring.cloud.check_merge import merge_job_name, merge_job_request, start_merge
from monitoring.cloud.check_settings import CheckSettings
from monitoring.host_role import DEFAULT_PARTIALS
from tests.monitoring.cloud.conftest import BUCKET
from tests.monitoring.cloud.test_check_job import CAPTURE, ENV, EVENT

UTC = timezone.utc
WINDOW = CheckWindow(datetime(2025, 3, 4, 12, tzinfo=UTC), datetime(2025, 3, 4, 13, tzinfo=UTC))
PACKAGE = ENV["SERVING_MODEL_PACKAGE_ARN"]
ACCOUNT_ARN = "arn:aws:sagemaker:us-east-1:123456789012"


def settings(count: int = 2, **changes: str) -> CheckSettings:
    return CheckSettings.from_env({**ENV, "INSTANCE_COUNT": str(count), **changes})


def _validate(request: dict, operation: str = "CreateProcessingJob") -> None:
    model = boto3.client("sagemaker", region_name="us-east-1").meta.service_model
    validate_parameters(request, model.operation_model(operation).input_shape)


def _inputs(request: dict) -> dict[str, dict]:
    return {i["InputName"]: i["S3Input"] for i in request["ProcessingInputs"]}


def _capture(session, hour: str = "2025/03/04/12") -> None:
    key = f"abalone-pipeline/datacapture/abalone-endpoint/AllTraffic/{hour}/file.jsonl"
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"{}\n")


def _stubbed():
    client = boto3.client("sagemaker", region_name="us-east-1")
    return client, Stubber(client)


# -- the profile job -----------------------------------------------------------------------------------------------
def test_with_one_instance_the_check_is_one_job_of_the_whole_analysis():
    request = processing_job_request(settings(1), WINDOW, EVENT["execution_id"])
    assert re.fullmatch(r"abalone-endpoint-dq-2025030412-[0-9a-f]{8}", request["ProcessingJobName"])
    assert "analysis_stage" not in request["Environment"]  # the analyzer's default: full
    assert {i["S3DataDistributionType"] for i in _inputs(request).values()} == {"FullyReplicated"}
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == report_uri(settings(1), WINDOW)


def test_with_two_instances_the_schedule_starts_the_profile_job_on_the_sharded_capture():
    one = processing_job_request(settings(1), WINDOW, EVENT["execution_id"])
    request = processing_job_request(settings(2), WINDOW, EVENT["execution_id"])
    _validate(request)
    name = request["ProcessingJobName"]
    assert name == one["ProcessingJobName"].replace("-dq-", "-dq-p-")
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    inputs = _inputs(request)
    assert inputs["endpoint"]["S3Uri"] == f"{CAPTURE}/2025/03/04/12/"
    assert inputs["endpoint"]["S3DataDistributionType"] == "ShardedByS3Key"
    for replicated in ("baseline_statistics", "baseline_constraints", "lib"):
        assert inputs[replicated] == _inputs(one)[replicated]
        assert inputs[replicated]["S3DataDistributionType"] == "FullyReplicated"
    assert request["Environment"] == {**one["Environment"], "analysis_stage": "profile"}
    output = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    report = report_uri(settings(2), WINDOW)
    assert output == f"{report.rsplit('/', 4)[0]}/partial-profiles/{name}"  # the check's own prefix
    assert not output.startswith(report)  # the hour's report is the merge job's alone
    assert request["Tags"] == one["Tags"]


def test_the_schedule_starts_the_profile_job_and_a_redelivery_starts_no_second(aws):
    _capture(aws)
    sagemaker, stub = _stubbed()
    expected = processing_job_request(settings(), WINDOW, EVENT["execution_id"])
    arn = f"{ACCOUNT_ARN}:processing-job/{expected['ProcessingJobName']}"
    stub.add_response("create_processing_job", {"ProcessingJobArn": arn}, expected)
    stub.add_client_error("create_processing_job", "ValidationException", "a job with this name already exists")
    with stub:
        first = start_check(settings(), EVENT, sagemaker, aws.client("s3"))
        again = start_check(settings(), EVENT, sagemaker, aws.client("s3"))
    stub.assert_no_pending_responses()
    assert (first["status"], first["stage"], first["job_arn"]) == ("Started", "profile", arn)
    assert (again["status"], again["job_name"]) == ("AlreadyStarted", expected["ProcessingJobName"])


def test_a_prefix_too_long_for_the_stage_marks_is_refused_only_with_several_instances():
    assert settings(1, JOB_NAME_PREFIX="a" * 43).job_name_prefix == "a" * 43
    with pytest.raises(ValueError, match="JOB_NAME_PREFIX must be at most 41 characters with INSTANCE_COUNT 2"):
        settings(2, JOB_NAME_PREFIX="a" * 42)
    longest = settings(2, JOB_NAME_PREFIX="a" * 41)
    profile = processing_job_request(longest, WINDOW, "exec")["ProcessingJobName"]
    assert len(profile) == len(merge_job_name("a" * 41, profile)) == 63


# -- the merge job -------------------------------------------------------------------------------------------------
def described(request: dict, status: str = "Completed", **extra) -> dict:
    """DescribeProcessingJob's answer for a job started with ``request``."""
    kept = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingJobName", "ProcessingResources")
    kept += ("StoppingCondition", "AppSpecification", "Environment", "NetworkConfig", "RoleArn")
    answer = {k: request[k] for k in kept}
    answer.update(
        ProcessingJobArn=f"{ACCOUNT_ARN}:processing-job/{request['ProcessingJobName']}",
        ProcessingJobStatus=status,
        CreationTime=datetime(2025, 3, 4, 13, 1, tzinfo=UTC),
        **extra,
    )
    return answer


def completion(name: str, status: str = "Completed") -> dict:
    """The state-change event the stack's rule delivers."""
    return {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Processing Job State Change",
        "resources": [f"{ACCOUNT_ARN}:processing-job/{name}"],
        "detail": {"ProcessingJobName": name, "ProcessingJobStatus": status},
    }


def _queue_merge(stub, profile: dict, tags: list[dict], expected: dict | None = None) -> None:
    name = profile["ProcessingJobName"]
    stub.add_response("describe_processing_job", described(profile), {"ProcessingJobName": name})
    stub.add_response("list_tags", {"Tags": tags}, {"ResourceArn": f"{ACCOUNT_ARN}:processing-job/{name}"})
    merge = merge_job_name(ENV["JOB_NAME_PREFIX"], name)
    stub.add_response("create_processing_job", {"ProcessingJobArn": f"{ACCOUNT_ARN}:processing-job/{merge}"}, expected)


def test_the_merge_job_is_the_one_instance_check_over_the_profile_jobs_partials():
    one = processing_job_request(settings(1), WINDOW, EVENT["execution_id"])
    profile = processing_job_request(settings(2), WINDOW, EVENT["execution_id"])
    merge = merge_job_request(settings(2), described(profile), {t["Key"]: t["Value"] for t in profile["Tags"]})
    _validate(merge)
    assert merge["ProcessingJobName"] == one["ProcessingJobName"].replace("-dq-", "-dq-m-")
    assert merge["ProcessingResources"] == one["ProcessingResources"]  # one instance
    partials = _inputs(merge).pop("partial_profiles")
    assert partials == {
        "S3Uri": profile["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] + "/",
        "LocalPath": DEFAULT_PARTIALS,  # where the container entry reads them by default, and named the same
        "S3DataType": "S3Prefix",
        "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated",
    }
    others = {k: v for k, v in _inputs(merge).items() if k != "partial_profiles"}
    assert others == {k: v for k, v in _inputs(one).items() if k != "endpoint"}  # baselines and code, replicated
    assert merge["Environment"] == {
        **one["Environment"],
        "analysis_stage": "merge",
        "partial_profiles": DEFAULT_PARTIALS,
    }
    for same in ("ProcessingOutputConfig", "StoppingCondition", "AppSpecification", "NetworkConfig", "RoleArn", "Tags"):
        assert merge[same] == one[same], same  # the hour's report folder, the metrics' dimensions, the version's tag


def test_the_completion_event_starts_the_merge_with_what_the_profile_job_was_started_with():
    """A deploy (new pointer, new baselines) and a new staged lib between the two jobs change nothing for this check."""
    profile = processing_job_request(settings(2), WINDOW, EVENT["execution_id"])
    later = settings(
        2,
        BASELINE_STATISTICS_URI=f"s3://{BUCKET}/abalone-pipeline/executions/e9/baseline/statistics.json",
        BASELINE_CONSTRAINTS_URI=f"s3://{BUCKET}/abalone-pipeline/executions/e9/baseline/constraints.json",
        LIB_S3_URI=f"s3://{BUCKET}/abalone-pipeline/code/{'b' * 64}/lib",
        IMAGE_URI="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-6",
        SERVING_MODEL_PACKAGE_ARN="arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/9",
    )
    expected = merge_job_request(settings(2), described(profile), {t["Key"]: t["Value"] for t in profile["Tags"]})
    sagemaker, stub = _stubbed()
    _queue_merge(stub, profile, profile["Tags"], expected)
    with stub:
        outcome = start_merge(later, completion(profile["ProcessingJobName"]), sagemaker)
    stub.assert_no_pending_responses()
    assert outcome["status"] == "Started" and outcome["stage"] == "merge"
    assert (outcome["window_start"], outcome["window_end"]) == ("2025-03-04T12:00:00Z", "2025-03-04T13:00:00Z")
    assert {t["Key"]: t["Value"] for t in expected["Tags"]}["mlops:model-package"] == PACKAGE


def test_a_second_delivery_of_the_completion_starts_no_second_merge():
    profile = processing_job_request(settings(2), WINDOW, EVENT["execution_id"])
    sagemaker, stub = _stubbed()
    _queue_merge(stub, profile, profile["Tags"])
    stub.add_response("describe_processing_job", described(profile))
    stub.add_response("list_tags", {"Tags": profile["Tags"]})
    stub.add_client_error("create_processing_job", "ResourceInUse", "Job already exists")
    with stub:
        first = start_merge(settings(2), completion(profile["ProcessingJobName"]), sagemaker)
        again = start_merge(settings(2), {"profile_job_name": profile["ProcessingJobName"]}, sagemaker)  # a redrive
    stub.assert_no_pending_responses()
    assert (first["status"], again["status"]) == ("Started", "AlreadyStarted")
    assert first["job_name"] == again["job_name"]


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("Failed", {"FailureReason": "AlgorithmError: host algo-2 exited 1", "ExitMessage": "Failed: KeyError"}),
        ("Stopped", {}),
        ("InProgress", {}),  # the function invoked by hand before the job ended
    ],
)
def test_a_profile_job_that_did_not_complete_starts_no_merge(status, why):
    profile = processing_job_request(settings(2), WINDOW, EVENT["execution_id"])
    sagemaker, stub = _stubbed()  # only the description is queued: ListTags or CreateProcessingJob would fail
    stub.add_response("describe_processing_job", described(profile, status, **why))
    with stub:
        outcome = start_merge(settings(2), completion(profile["ProcessingJobName"], status), sagemaker)
    stub.assert_no_pending_responses()
    assert outcome["status"] == "ProfileNotCompleted" and outcome["profile_status"] == status
    assert f"is {status}" in outcome["reason"] and "no merge job, and no report for its hour" in outcome["reason"]
    if why:
        assert "AlgorithmError: host algo-2 exited 1" in outcome["reason"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (completion("abalone-endpoint-dq-2025030412-0a1b2c3d"), "is not a profile job of this check"),
        (completion("someone-elses-job-p-2025030412-0a1b2c3d"), "expected a name abalone-endpoint-dq-p-<hour>-<id>"),
        ({"detail-type": "SageMaker Processing Job State Change", "detail": {}}, "must name its job"),
    ],
)
def test_an_event_for_another_job_is_refused_before_any_call(event, message):
    sagemaker, stub = _stubbed()
    with stub, pytest.raises(ValueError, match=re.escape(message)):
        start_merge(settings(2), event, sagemaker)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["ProcessingInputs"].pop(1), "input baseline_statistics is missing"),
        (lambda d: d["Environment"].pop("end_time"), "Environment end_time is missing"),
        (
            lambda d: d["Environment"].update(start_time="noon"),
            "Environment start_time must be an ISO-8601 time such as 2025-01-31T12:00:00Z, got 'noon'",
        ),
        (lambda d: d["ProcessingOutputConfig"]["Outputs"].clear(), "output result is missing"),
    ],
)
def test_a_profile_job_without_what_the_merge_needs_fails_naming_the_field(change, message):
    profile = processing_job_request(settings(2), WINDOW, EVENT["execution_id"])
    answer = described(profile)
    change(answer)
    with pytest.raises(ValueError, match=re.escape(f"profile job {profile['ProcessingJobName']}: {message}")):
        merge_job_request(settings(2), answer, {})


def test_the_handler_starts_the_merge_on_a_completion_event(monkeypatch):
    for key, value in {**ENV, "INSTANCE_COUNT": "2"}.items():
        monkeypatch.setenv(key, value)
    profile = processing_job_request(settings(2), WINDOW, EVENT["execution_id"])
    sagemaker, stub = _stubbed()
    _queue_merge(stub, profile, profile["Tags"])
    monkeypatch.setattr(boto3, "client", lambda service, **_: {"sagemaker": sagemaker}[service])
    with stub:
        outcome = check_job.handler(completion(profile["ProcessingJobName"]), None)
    stub.assert_no_pending_responses()
    assert outcome["status"] == "Started" and outcome["job_name"].startswith("abalone-endpoint-dq-m-2025030412-")
