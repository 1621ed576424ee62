"""The drift alarm's retraining Lambda: cool-down, no-new-data, start, records, alerts, duplicate deliveries."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto.core import set_initial_no_auth_action_count

from monitoring.cloud import retrain_job
from monitoring.cloud.check_settings import pointer_uri
from monitoring.cloud.retrain_job import RetrainSettings, handle_alarm
from pipelines.monitoring_stack.repoint import RepointClients, live_pointer_uri, repoint
from pipelines.registry.model import ModelVersion
from tests.conftest import ABALONE
from tests.monitoring.cloud.conftest import BUCKET, ROLE

NOW = datetime(2025, 3, 4, 13, 5, tzinfo=timezone.utc)
REGION_ACCOUNT = "us-east-1:123456789012"
SERVING = f"arn:aws:sagemaker:{REGION_ACCOUNT}:model-package/abalone/3"
TRAINED_BY = f"arn:aws:sagemaker:{REGION_ACCOUNT}:pipeline/abalone-pipeline/execution/train0001"
STAGED = f"s3://{BUCKET}/abalone-pipeline/data/{'ab' * 32}/abalone.csv"
RETRAIN = f"s3://{BUCKET}/abalone-pipeline/retraining/"
DECISIONS = "abalone-pipeline/monitoring/retrain-decisions/abalone-endpoint"
NEW_RUN = f"arn:aws:sagemaker:{REGION_ACCOUNT}:pipeline/abalone-pipeline/execution/new00001"
POINTER = pointer_uri(BUCKET, "abalone-pipeline", "abalone-endpoint")
DATA = ABALONE.read_bytes()


@pytest.fixture
def world(aws):
    """moto S3 and SNS (with an SQS queue reading the topic), and a Stubber-driven SageMaker client."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="abalone-endpoint-monitoring-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    stub = Stubber(sagemaker)
    stub.activate()
    env = {
        "PIPELINE_NAME": "abalone-pipeline",
        "RETRAIN_ENABLED": "true",
        "RETRAIN_DATA_URI": RETRAIN,
        "COOLDOWN_HOURS": "24",
        "DECISIONS_S3_URI": f"s3://{BUCKET}/{DECISIONS}",
        "ALERTS_TOPIC_ARN": topic,
        "ENDPOINT_NAME": "abalone-endpoint",
        "SERVING_MODEL_PACKAGE_ARN": SERVING,
        "LIVE_POINTER_URI": POINTER,  # none written yet unless a test deploys: the stack's SERVING is the fallback
        "MODEL_QUALITY_ALARM_NAME": "abalone-endpoint-model-quality",
    }

    class World:
        s3 = aws.client("s3")

        def settings(self, **changes: str) -> RetrainSettings:
            return RetrainSettings.from_env({**env, **changes})

        def alerts(self) -> list[str]:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(m["Body"])["Message"] for m in messages]

        def put(self, uri: str, body: bytes) -> None:
            self.s3.put_object(Bucket=BUCKET, Key=uri.split("/", 3)[3], Body=body)

        def record(self, name: str) -> dict | None:
            try:
                return json.loads(self.s3.get_object(Bucket=BUCKET, Key=f"{DECISIONS}/{name}")["Body"].read())
            except self.s3.exceptions.NoSuchKey:
                return None

        def decide(self, event: dict | None = None, **changes: str) -> dict:
            return handle_alarm(self.settings(**changes), event or alarm_event(), sagemaker, self.s3, sns, NOW)

    world = World()
    world.stub, world.sns = stub, sns
    yield world
    stub.deactivate()


def alarm_event(
    event_id: str = "6a7e8b9c-0000-1111-2222-333344445555", state: str = "ALARM", alarm: str = "abalone-endpoint-drift"
) -> dict:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "time": "2025-03-04T13:04:59Z",
        "resources": [f"arn:aws:cloudwatch:{REGION_ACCOUNT}:alarm:{alarm}"],
        "detail": {"alarmName": alarm, "state": {"value": state}, "previousState": {"value": "OK"}},
    }


def serving_version(stub: Stubber, generated_by: str = TRAINED_BY, arn: str = SERVING) -> None:
    stub.add_response(
        "describe_model_package",
        {
            "ModelPackageName": "abalone",
            "ModelPackageArn": arn,
            "CreationTime": NOW - timedelta(days=3),
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "MetadataProperties": {"GeneratedBy": generated_by},
        },
        {"ModelPackageName": arn},
    )


def training_parameters(stub: Stubber, input_url: str = STAGED, execution: str = TRAINED_BY) -> None:
    stub.add_response(
        "list_pipeline_parameters_for_execution",
        {
            "PipelineParameters": [
                {"Name": "InputDataUrl", "Value": input_url},
                {"Name": "GateThreshold", "Value": "2.6"},
            ]
        },
        {"PipelineExecutionArn": execution},
    )


def expect_start(stub: Stubber, event_id: str = alarm_event()["id"]) -> None:
    stub.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": NEW_RUN},
        {
            "PipelineName": "abalone-pipeline",
            "PipelineParameters": [{"Name": "InputDataUrl", "Value": RETRAIN}],
            "PipelineExecutionDisplayName": "retrain-20250304-130500",
            "PipelineExecutionDescription": ANY,
            "ClientRequestToken": hashlib.sha256(f"retrain:{event_id}".encode()).hexdigest(),
        },
    )


def decision_key(event_id: str = alarm_event()["id"]) -> str:
    return f"decisions/2025-03-04/130459-{event_id}.json"


def test_new_data_starts_retraining_and_records_why(world):
    world.put(STAGED, b"sex,length\nM,0.4\n")  # what the serving version trained on
    world.put(RETRAIN + "abalone.csv", DATA)  # a new snapshot
    serving_version(world.stub)
    training_parameters(world.stub)
    expect_start(world.stub)
    record = world.decide()
    world.stub.assert_no_pending_responses()
    assert record["action"] == "started" and record["execution_arn"] == NEW_RUN
    assert record["trained_on"] == f"hash of the staged training data {STAGED}"
    assert record["data_hash"] == hashlib.sha256(b"abalone.csv\0" + DATA).hexdigest() != record["trained_on_hash"]
    assert world.record(decision_key()) == record
    state = world.record("state.json")
    assert state["execution_arn"] == NEW_RUN and state["last_started"] == NOW.isoformat()
    assert world.record("executions/new00001.json")["data_hash"] == record["data_hash"]
    (alert,) = world.alerts()
    assert "drift alarm with new data" in alert and NEW_RUN in alert


def test_data_unchanged_since_the_serving_version_was_trained_alerts_no_new_data(world):
    world.put(STAGED, DATA)
    world.put(RETRAIN + "abalone.csv", DATA)
    serving_version(world.stub)
    training_parameters(world.stub)  # no start_pipeline_execution queued: starting would fail the test
    record = world.decide()
    world.stub.assert_no_pending_responses()
    assert record["action"] == "no-new-data" and record["execution_arn"] == ""
    assert "unchanged since the serving version was trained" in record["reason"]
    (alert,) = world.alerts()
    assert "no new data" in alert


def test_a_run_this_function_started_is_known_by_its_recorded_hash(world):
    world.put(RETRAIN + "abalone.csv", DATA)
    digest = hashlib.sha256(b"abalone.csv\0" + DATA).hexdigest()
    world.put(f"s3://{BUCKET}/{DECISIONS}/executions/train0001.json", json.dumps({"data_hash": digest}).encode())
    serving_version(world.stub)  # no ListPipelineParametersForExecution: the record answers
    record = world.decide()
    assert record["action"] == "no-new-data"
    assert record["trained_on"] == f"recorded when retraining run {TRAINED_BY} started"


def test_a_mutable_training_location_without_a_record_does_not_block_a_run(world):
    world.put(RETRAIN + "abalone.csv", DATA)
    serving_version(world.stub)
    training_parameters(world.stub, input_url=RETRAIN)
    expect_start(world.stub)
    record = world.decide()
    assert record["action"] == "started" and record["trained_on_hash"] == ""
    assert "may have changed since, and no hash was recorded" in record["trained_on"]


def test_a_second_alarm_within_the_cool_down_starts_nothing(world):
    world.put(RETRAIN + "abalone.csv", DATA)
    started = (NOW - timedelta(hours=2)).isoformat()
    world.put(f"s3://{BUCKET}/{DECISIONS}/state.json", json.dumps({"last_started": started}).encode())
    record = world.decide()  # nothing queued on the stub: no SageMaker call at all
    assert record["action"] == "cooldown"
    assert f"started at {started}" in record["reason"] and "ends in 22.0 h" in record["reason"]
    assert world.alerts() == []  # the composite alarm itself already alerted


def test_after_the_cool_down_a_new_alarm_retrains_again(world):
    world.put(RETRAIN + "abalone.csv", DATA)
    world.put(
        f"s3://{BUCKET}/{DECISIONS}/state.json",
        json.dumps({"last_started": (NOW - timedelta(hours=25)).isoformat()}).encode(),
    )
    world.put(STAGED, b"older data\n")
    serving_version(world.stub)
    training_parameters(world.stub)
    expect_start(world.stub)
    assert world.decide()["action"] == "started"


def test_no_data_at_the_retraining_location_is_alerted(world):
    record = world.decide()
    assert record["action"] == "no-data" and RETRAIN in record["reason"]
    (alert,) = world.alerts()
    assert f"{RETRAIN} holds no data" in alert


def test_disabled_retraining_is_recorded_without_acting(world):
    world.put(RETRAIN + "abalone.csv", DATA)
    record = world.decide(RETRAIN_ENABLED="false")
    assert record["action"] == "disabled" and world.record(decision_key())["action"] == "disabled"
    assert world.alerts() == []


def test_a_duplicate_delivery_returns_the_first_decision_without_acting_again(world):
    world.put(RETRAIN + "abalone.csv", DATA)
    world.put(STAGED, b"older data\n")
    serving_version(world.stub)
    training_parameters(world.stub)
    expect_start(world.stub)  # queued once: a second start would find no response and fail
    first = world.decide()
    second = world.decide()
    assert second == {**first, "duplicate": True}
    assert len(world.alerts()) == 1


def test_states_other_than_alarm_are_ignored(world):
    record = world.decide(alarm_event(state="OK"))
    assert record["action"] == "ignored" and world.record(decision_key()) is None


def test_a_failing_alert_does_not_lose_the_decision(world):
    record = world.decide(ALERTS_TOPIC_ARN=f"arn:aws:sns:{REGION_ACCOUNT}:missing-topic")
    assert record["action"] == "no-data" and "NotFound" in record["alert_error"]
    assert world.record(decision_key())["alert_error"] == record["alert_error"]


def test_sagemaker_errors_name_the_call(world):
    world.put(RETRAIN + "abalone.csv", DATA)
    world.stub.add_client_error("describe_model_package", "ValidationException", "Model package not found")
    with pytest.raises(RuntimeError, match=f"DescribeModelPackage {SERVING} failed"):
        world.decide()


STACK_VERSION = f"arn:aws:sagemaker:{REGION_ACCOUNT}:model-package/abalone/1"  # the stack's, never updated by a deploy


def deploy(config, s3, number: int) -> str:
    """What ``mlops deploy --backend sagemaker`` does for monitoring: the live pointer, naming version ``number``."""
    arn = f"arn:aws:sagemaker:{REGION_ACCOUNT}:model-package/abalone/{number}"
    base = f"s3://{BUCKET}/abalone-pipeline/executions/e{number}/baseline"
    version = ModelVersion(
        group="abalone",
        version=number,
        status="Approved",
        created="2025-03-01T00:00:00+00:00",
        arn=arn,
        model_data_url=f"s3://{BUCKET}/abalone-pipeline/models/{number}/model.tar.gz",
        image_uri="xgboost-image",
        drift_baselines={"statistics": f"{base}/statistics.json", "constraints": f"{base}/constraints.json"},
    )
    repoint(config, version, RepointClients(s3, None), now=lambda: NOW - timedelta(days=1))
    return arn


def test_after_a_deploy_the_alarm_compares_with_the_live_versions_training_data(world, cloud_config):
    assert live_pointer_uri(cloud_config) == POINTER  # the object the deploy writes is the one the function reads
    live = deploy(cloud_config, world.s3, 2)
    trained_by_2 = f"arn:aws:sagemaker:{REGION_ACCOUNT}:pipeline/abalone-pipeline/execution/train0002"
    staged_2 = f"s3://{BUCKET}/abalone-pipeline/data/{'cd' * 32}/abalone.csv"
    world.put(STAGED, b"sex,length\nM,0.4\n")  # what version 1 (the stack's) trained on: older data
    world.put(staged_2, DATA)  # version 2, live since the deploy, trained on exactly the retraining data
    world.put(RETRAIN + "abalone.csv", DATA)
    serving_version(world.stub, trained_by_2, arn=live)
    training_parameters(world.stub, staged_2, trained_by_2)  # no start queued: starting would fail the test
    record = world.decide(SERVING_MODEL_PACKAGE_ARN=STACK_VERSION)
    world.stub.assert_no_pending_responses()
    assert record["action"] == "no-new-data" and record["execution_arn"] == ""
    assert record["serving_model_package"] == live
    assert record["serving_model_package_from"] == f"the live pointer {POINTER} (abalone/2, 2025-03-03T13:05:00Z)"
    assert record["trained_on"] == f"hash of the staged training data {staged_2}"
    (alert,) = world.alerts()
    assert f"Serving version: {live}, from the live pointer {POINTER}" in alert


def test_without_a_live_pointer_the_stacks_serving_version_is_the_fallback(world):
    world.put(STAGED, DATA)
    world.put(RETRAIN + "abalone.csv", DATA)
    serving_version(world.stub)  # the stack's SERVING
    training_parameters(world.stub)
    record = world.decide()
    assert record["action"] == "no-new-data" and record["serving_model_package"] == SERVING
    assert record["serving_model_package_from"] == (
        f"the monitoring stack's SERVING_MODEL_PACKAGE_ARN (no live pointer at {POINTER} yet)"
    )
    assert world.record(decision_key())["serving_model_package_from"] == record["serving_model_package_from"]


def denying(aws, statement: dict):
    """An S3 client whose (moto IAM) identity may do anything in S3 but what ``statement`` denies."""
    iam = aws.client("iam")
    iam.create_user(UserName="retrain-function")
    policy = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [policy, {"Effect": "Deny", **statement}]}
    iam.put_user_policy(UserName="retrain-function", PolicyName="s3", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="retrain-function")["AccessKey"]
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )


@pytest.mark.parametrize("operation", ["GetObject", "ListObjectsV2"])
def test_a_denied_live_pointer_fails_the_decision_naming_the_call_and_code(world, aws, cloud_config, operation):
    pointer = POINTER
    if operation == "GetObject":
        deploy(cloud_config, world.s3, 2)
        statement = {"Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{POINTER[5:]}"}
    else:  # the pointer in a bucket of its own, so that only its listing is denied
        world.s3.create_bucket(Bucket="pointer-bucket")
        pointer = pointer_uri("pointer-bucket", "abalone-pipeline", "abalone-endpoint")
        statement = {"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::pointer-bucket"}
    world.put(STAGED, DATA)
    world.put(RETRAIN + "abalone.csv", DATA)
    s3 = denying(aws, statement)

    @set_initial_no_auth_action_count(0)  # from here on moto checks every request against the identity's policy
    def decide() -> dict:
        settings = world.settings(LIVE_POINTER_URI=pointer)
        return handle_alarm(settings, alarm_event(), world.stub.client, s3, world.sns, NOW)

    expected = f"{operation} {pointer} (the live pointer) failed (AccessDenied)"
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        decide()  # the invocation fails: Lambda retries it, then dead-letters the event, whose queue alarm alerts
    assert world.record(decision_key()) is None and world.alerts() == []  # no decision on the stack's stale value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "is not JSON"),
        (b'{"schema": 1, "endpoint_name": "abalone-endpoint"}', "model_package_group must be a non-empty string"),
        (None, "endpoint_name is 'other-endpoint', expected 'abalone-endpoint'"),
    ],
)
def test_a_malformed_or_foreign_live_pointer_fails_the_decision_naming_the_field(world, cloud_config, body, message):
    if body is None:
        deploy(cloud_config.with_overrides(serving={"endpoint_name": "other-endpoint"}), world.s3, 2)
        body = world.s3.get_object(Bucket=BUCKET, Key="abalone-pipeline/monitoring/other-endpoint/live.json")["Body"]
        body = body.read()
    world.put(POINTER, body)
    world.put(RETRAIN + "abalone.csv", DATA)
    with pytest.raises(ValueError, match=re.escape(f"live pointer {POINTER}")) as raised:
        world.decide()
    assert message in str(raised.value)
    assert world.record(decision_key()) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"RETRAIN_ENABLED": "maybe"}, "RETRAIN_ENABLED must be true or false, got 'maybe'"),
        ({"COOLDOWN_HOURS": "a day"}, "COOLDOWN_HOURS must be a number, got 'a day'"),
        ({"PIPELINE_NAME": ""}, "PIPELINE_NAME is not set"),
        ({"RETRAIN_DATA_URI": "data/retraining"}, "RETRAIN_DATA_URI must be an s3:// URI"),
    ],
)
def test_settings_name_the_variable_that_is_wrong(changes, message):
    env = {
        "PIPELINE_NAME": "abalone-pipeline",
        "RETRAIN_ENABLED": "true",
        "RETRAIN_DATA_URI": RETRAIN,
        "COOLDOWN_HOURS": "24",
        "DECISIONS_S3_URI": f"s3://{BUCKET}/{DECISIONS}",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "ENDPOINT_NAME": "abalone-endpoint",
    }
    with pytest.raises(ValueError, match=message):
        RetrainSettings.from_env({**env, **changes})


def test_the_lambda_handler_starts_the_pipeline_through_its_clients(aws, monkeypatch):
    sagemaker = aws.client("sagemaker")
    sagemaker.create_pipeline(
        PipelineName="abalone-pipeline",
        PipelineDefinition=json.dumps(
            {"Version": "2020-12-01", "Parameters": [{"Name": "InputDataUrl", "Type": "String"}], "Steps": []}
        ),
        RoleArn=ROLE,
    )
    topic = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    aws.client("s3").put_object(Bucket=BUCKET, Key="abalone-pipeline/retraining/abalone.csv", Body=DATA)
    env = {
        "PIPELINE_NAME": "abalone-pipeline",
        "RETRAIN_ENABLED": "true",
        "RETRAIN_DATA_URI": RETRAIN,
        "COOLDOWN_HOURS": "24",
        "DECISIONS_S3_URI": f"s3://{BUCKET}/{DECISIONS}",
        "ALERTS_TOPIC_ARN": topic,
        "ENDPOINT_NAME": "abalone-endpoint",
        "SERVING_MODEL_PACKAGE_ARN": "",
        "LIVE_POINTER_URI": POINTER,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    record = retrain_job.handler(alarm_event(), None)
    assert record["action"] == "started"
    assert (
        record["trained_on"] == f"no live pointer at {POINTER} yet, and the monitoring stack records no serving version"
    )
    executions = sagemaker.list_pipeline_executions(PipelineName="abalone-pipeline")["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [record["execution_arn"]]


# -- two alarm families, one decision path ---------------------------------------------------------------------------
def test_a_model_quality_alarm_retrains_through_the_same_rule_and_says_so(world):
    world.put(STAGED, b"sex,length\nM,0.4\n")
    world.put(RETRAIN + "abalone.csv", DATA)
    serving_version(world.stub)
    training_parameters(world.stub)
    seen: list[dict] = []
    world.stub.client.meta.events.register(
        "provide-client-params.sagemaker.StartPipelineExecution", lambda params, **_: seen.append(params)
    )
    expect_start(world.stub, "mq-event-1")
    record = world.decide(alarm_event("mq-event-1", alarm="abalone-endpoint-model-quality"))
    world.stub.assert_no_pending_responses()
    assert record["action"] == "started" and record["alarm_family"] == "model quality"
    assert record["reason"].startswith("model quality alarm with new data")
    assert seen[0]["PipelineExecutionDescription"].startswith("Model quality alarm abalone-endpoint-model-quality:")
    (alert,) = world.alerts()
    assert "model quality alarm with new data" in alert
    assert world.record("state.json")["event_id"] == "mq-event-1"  # the cool-down's reference, for both families


def test_the_cool_down_holds_across_both_alarm_families(world):
    world.put(STAGED, b"sex,length\nM,0.4\n")
    world.put(RETRAIN + "abalone.csv", DATA)
    serving_version(world.stub)
    training_parameters(world.stub)
    expect_start(world.stub)
    assert world.decide()["action"] == "started"  # the drift alarm
    world.alerts()
    later = alarm_event("mq-event-2", alarm="abalone-endpoint-model-quality")  # nothing queued: no SageMaker call
    record = world.decide(later)
    assert (record["action"], record["alarm_family"]) == ("cooldown", "model quality")
    assert "a retraining run started at" in record["reason"]
    assert world.alerts() == []
