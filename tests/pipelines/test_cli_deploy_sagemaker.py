"""``mlops deploy --backend sagemaker`` end to end against moto: deploy, then monitoring is repointed through the live
pointer (no stack, no registry listing); a repoint that fails exits 3 after the endpoint's new state, says which call
failed with its error code, alerts, and ``mlops monitor repoint`` retries it alone."""

from __future__ import annotations

import contextlib
import io
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.sagemakerruntime.models import sagemakerruntime_backends

from pipelines.cli import build_parser
from pipelines.deploy.sagemaker import Clients
from pipelines.monitoring_stack.repoint import REPOINT_FAILED
from pipelines.registry import RegistryError
from pipelines.registry.sagemaker import SageMakerRegistry
from tests.conftest import ROOT
from tests.pipelines.deploy.test_sagemaker import BUCKET, ROLE, STATISTICS_KEY, package_request

STATISTICS = (ROOT / "tests" / "fixtures" / "model-monitor" / "quality-check-baseline" / "statistics.json").read_bytes()
POINTER_KEY = "abalone-pipeline/monitoring/abalone-endpoint/live.json"
TOPIC = "abalone-endpoint-monitoring-alerts"


@pytest.fixture()
def aws():
    """moto with the bucket, the version's baseline statistics, an alert topic and an Approved abalone/1."""
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket=BUCKET)
        session.client("s3").put_object(Bucket=BUCKET, Key=STATISTICS_KEY, Body=STATISTICS)
        session.client("sns").create_topic(Name=TOPIC)
        SageMakerRegistry(session.client("sagemaker"), session.client("s3"), BUCKET, "abalone-pipeline").register(
            package_request("Approved")
        )
        sagemakerruntime_backends["123456789012"]["us-east-1"].results_queue.append(("9.8765\n", "text/csv", "A", ""))
        yield session


def clients(session, s3=None, calls: list[str] | None = None) -> Clients:
    made = Clients(
        session.client("sagemaker"),
        session.client("sagemaker-runtime"),
        s3 or session.client("s3"),
        session.client("cloudwatch"),
        session.client("sns"),
    )
    if calls is not None:
        for client in (made.sagemaker, made.s3):
            client.meta.events.register("provide-client-params.*.*", lambda model, **_: calls.append(model.name))
    return made


def mlops(words: list[str], made: Clients) -> tuple[int, str, str]:
    args = build_parser().parse_args(words)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.handler(args, made)
    return code, out.getvalue(), err.getvalue()


DEPLOY = ["deploy", "--backend", "sagemaker", "--config", str(ROOT / "mlops.yaml"), "--role-arn", ROLE]
DEPLOY += ["--bucket", BUCKET, "--poll-seconds", "0"]
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/1"


def test_a_deploy_repoints_monitoring_through_the_live_pointer(aws):
    calls: list[str] = []
    code, out, err = mlops([*DEPLOY, "--model-package-arn", ARN], clients(aws, calls=calls))
    assert (code, err) == (0, "")
    assert "Deployed abalone/1" in out and "smoke test answered" in out
    assert f"now checks against abalone/1's baselines (live pointer s3://{BUCKET}/{POINTER_KEY}" in out
    pointer = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=POINTER_KEY)["Body"].read())
    assert (pointer["model_package_arn"], pointer["baseline_statistics_uri"]) == (
        ARN,
        f"s3://{BUCKET}/{STATISTICS_KEY}",
    )
    # the old repoint listed the registry (DescribeModelPackageGroup, ListModelPackages) and updated the stack
    assert not {"DescribeModelPackageGroup", "ListModelPackages", "CreateChangeSet"} & set(calls)


def test_a_failed_repoint_exits_3_after_the_endpoints_state_and_alerts(aws):
    sns = aws.client("sns")
    queue = aws.client("sqs").create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    topic = f"arn:aws:sns:us-east-1:123456789012:{TOPIC}"
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
    s3 = aws.client("s3")
    real_put = s3.put_object

    def denied(**kwargs):
        if kwargs["Key"] == POINTER_KEY:
            stub = boto3.client("s3", region_name="us-east-1")
            with Stubber(stub) as stubber:
                stubber.add_client_error("put_object", "AccessDenied", "Access Denied", 403)
                return stub.put_object(**kwargs)
        return real_put(**kwargs)

    s3.put_object = denied
    code, out, err = mlops([*DEPLOY, "--model-package-arn", ARN, "--alert-topic-arn", topic], clients(aws, s3=s3))
    assert code == REPOINT_FAILED == 3
    assert "Deployed abalone/1 to SageMaker endpoint abalone-endpoint" in out  # the endpoint did change
    assert f"PutObject s3://{BUCKET}/{POINTER_KEY} failed (AccessDenied): Access Denied" in err
    assert "Unknown model package group" not in err
    assert "monitor repoint --backend sagemaker --endpoint abalone-endpoint" in err and "alert sent" in err
    message = json.loads(aws.client("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert message["Subject"] == "Monitoring of abalone-endpoint not repointed to abalone/1"
    assert "serves abalone/1" in message["Message"]

    del s3.put_object  # the permission is fixed: the repoint alone is retried
    retry = ["monitor", "repoint", "--config", str(ROOT / "mlops.yaml"), "--bucket", BUCKET]
    code, out, err = mlops(retry, clients(aws))
    assert (code, err) == (0, "")
    assert "Endpoint abalone-endpoint serves abalone/1" in out and "now checks against abalone/1's baselines" in out
    assert aws.client("s3").head_object(Bucket=BUCKET, Key=POINTER_KEY)["ServerSideEncryption"] == "AES256"


def test_repoint_without_a_deployed_endpoint_says_so(aws):
    with pytest.raises(RuntimeError, match="Endpoint abalone-endpoint does not exist or serves no model package"):
        mlops(["monitor", "repoint", "--config", str(ROOT / "mlops.yaml"), "--bucket", BUCKET], clients(aws))


def test_a_denied_registry_call_is_not_reported_as_an_unknown_group():
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sagemaker) as stub:
        stub.add_client_error("describe_model_package_group", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(RegistryError) as raised:
            SageMakerRegistry(sagemaker, None, BUCKET).list_versions("abalone")
    assert "Unknown model package group" not in str(raised.value)
    assert "DescribeModelPackageGroup abalone failed (AccessDeniedException)" in str(raised.value)
