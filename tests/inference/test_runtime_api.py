"""The local endpoint's SageMaker Runtime API, driven by the real ``boto3.client("sagemaker-runtime")`` against a
running server: answers and error shapes as botocore parses them (ModelError with OriginalStatusCode, ValidationError
naming the endpoint or the constraint), header and body validation from the service model, the inference id in
capture. A fake handler keeps these fast; the deployed abalone model is driven end to end at the bottom."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from inference.capture import CaptureSettings, CaptureWriter
from inference.endpoint_routes import Active
from inference.endpoint_state import EndpointState
from inference.model_loader import Invocation
from inference.server import MIB, BackgroundServer, ServeOptions
from pipelines.build import config_from_kwargs, local_config
from pipelines.deploy.local import deploy_local
from pipelines.objectstore import locator
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT
from tests.inference.test_server_model import ROW, approve, state_copy

ENDPOINT = "local-endpoint"
SETTINGS = CaptureSettings(True, 100, True, True, ("text/csv",), ("application/json",), "s3://bucket/capture")


class FakeModel:
    """Answers 1.5 per CSV line; a body starting with ``bad`` is the handler's 400, ``boom`` an exception."""

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Invocation:
        if body.startswith(b"boom"):
            raise RuntimeError("a bug in the handler")
        if body.startswith(b"bad"):
            return Invocation(b"Record 1 has 1 field(s), expected 8\n", "text/plain; charset=utf-8", 400)
        return Invocation(b"1.5\n" * len(body.splitlines()), "text/csv", 200)

    def unseen_categories(self) -> dict[str, int]:
        return {"sex": 2}


def state() -> EndpointState:
    return EndpointState(ENDPOINT, "abalone", 1, "arn:aws:sagemaker:us-east-1:000000000000:model-package/abalone/1",
                         "s3://bucket/model.tar.gz", "AllTraffic", "2024-01-01T00:00:00Z", SETTINGS, {})  # fmt: skip


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime")
    with BackgroundServer(ServeOptions(root / "state", ENDPOINT, locate=locator(root / "state"), port=0)) as server:
        capture = CaptureWriter(SETTINGS, root / "capture", ENDPOINT, "AllTraffic", flush_seconds=0.05)
        server.endpoint.active = Active(state(), FakeModel(), capture)
        server.capture_root = root / "capture"
        yield server
        capture.close()


def runtime(port: int):
    """The real boto3 client, pointed at the local server (dummy credentials, no retries, nothing leaves 127.0.0.1)."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, proxies={}),
    )


def error_of(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response


def post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, bytes, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def test_a_good_request_answers_with_the_body_type_and_variant(fake):
    answer = runtime(fake.port).invoke_endpoint(EndpointName=ENDPOINT, Body=ROW, ContentType="text/csv")
    assert answer["Body"].read() == b"1.5\n" and answer["ContentType"] == "text/csv"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200 and answer["ResponseMetadata"]["RequestId"]


def test_a_handler_400_is_a_model_error_with_the_original_status_and_message(fake):
    error = error_of(
        lambda: runtime(fake.port).invoke_endpoint(EndpointName=ENDPOINT, Body=b"bad", ContentType="text/csv")
    )
    assert error["Error"]["Code"] == "ModelError" and error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert error["OriginalMessage"] == "Record 1 has 1 field(s), expected 8"
    assert error["Error"]["Message"].startswith("Received client error (400) from primary with message")
    assert "LogStreamArn" not in error


def test_a_handler_exception_is_a_model_error_500(fake):
    error = error_of(lambda: runtime(fake.port).invoke_endpoint(EndpointName=ENDPOINT, Body=b"boom"))
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 500
    assert "Received server error (500)" in error["Error"]["Message"] and "RuntimeError" in error["OriginalMessage"]


def test_an_unknown_endpoint_is_a_validation_error_naming_it(fake):
    error = error_of(lambda: runtime(fake.port).invoke_endpoint(EndpointName="other-endpoint", Body=ROW))
    assert error["Error"]["Code"] == "ValidationError" and error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Endpoint other-endpoint of this local server not found" in error["Error"]["Message"]
    assert ENDPOINT in error["Error"]["Message"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"InferenceId": "x" * 65}, "at 'inferenceId' failed to satisfy constraint: Member must have length less "
                                    "than or equal to 64"),
        ({"InferenceId": "id\tx"}, "at 'inferenceId' failed to satisfy constraint: Member must satisfy regular "
                                   r"expression pattern: \A\S[\p{Print}]*\z"),
        ({"CustomAttributes": "a" * 1025}, "Value at 'customAttributes' failed to satisfy constraint: Member must "
                                           "have length less than or equal to 1024"),
        ({"TargetVariant": "-bad"}, "Value '-bad' at 'targetVariant' failed to satisfy constraint"),
        ({"TargetVariant": "Other"}, "Variant Other not found for endpoint local-endpoint"),
        ({"TargetModel": "model.tar.gz"}, "is not a multi-model endpoint"),
        ({"InferenceComponentName": "component"}, "hosts no inference components"),
        ({"SessionId": "NEW_SESSION"}, "does not host a stateful model"),
        ({"EnableExplanations": "`true`"}, "has no Clarify explainer configuration"),
        ({"ContentType": "text/csv", "Accept": "x" * 1025}, "Value '" + "x" * 100 + "' at 'accept'"),
    ],
)  # fmt: skip
def test_headers_are_validated_as_the_service_model_says(fake, arguments, message):
    call = lambda: runtime(fake.port).invoke_endpoint(EndpointName=ENDPOINT, Body=ROW, **arguments)  # noqa: E731
    error = error_of(call)
    assert error["Error"]["Code"] == "ValidationError" and message in error["Error"]["Message"]


def test_several_violations_are_reported_together_and_custom_attributes_are_not_echoed(fake):
    status, body, headers = post(
        fake.port,
        f"/endpoints/{'n' * 64}/invocations",
        ROW,
        {"X-Amzn-SageMaker-Inference-Id": "", "X-Amzn-SageMaker-Custom-Attributes": "secret\xe9"},
    )
    message = json.loads(body)["message"]
    assert status == 400 and headers["x-amzn-errortype"] == "ValidationError"
    assert message.startswith("3 validation errors detected: Value '" + "n" * 64 + "' at 'endpointName'")
    assert (
        "at 'inferenceId' failed to satisfy constraint: Member must have length greater than or equal to 1" in message
    )
    assert "Value at 'customAttributes' failed" in message and "secret" not in message


def test_a_matching_target_variant_and_a_prefix_aware_id_are_accepted(fake):
    answer = runtime(fake.port).invoke_endpoint(
        EndpointName=ENDPOINT, Body=ROW, ContentType="text/csv", TargetVariant="AllTraffic", PrefixAwareId="p-1"
    )
    assert answer["Body"].read() == b"1.5\n"


def test_a_body_over_6_mib_is_413_as_the_front_end_answers(fake):
    error = error_of(lambda: runtime(fake.port).invoke_endpoint(EndpointName=ENDPOINT, Body=b"1\n" * (3 * MIB + 1)))
    assert (
        error["Error"]["Code"] == "413" and "HTTP content length exceeded 6291456 bytes." in error["Error"]["Message"]
    )


def test_framing_errors_on_runtime_paths_are_json(fake):
    status, body, headers = post(fake.port, f"/endpoints/{ENDPOINT}/invocations", None, {"Transfer-Encoding": "gzip"})
    assert status == 400 and headers["content-type"] == "application/json"
    assert "Unsupported Transfer-Encoding" in json.loads(body)["message"]


def test_the_container_route_passes_a_handler_answer_through(fake):
    status, body, headers = post(fake.port, "/invocations", b"bad", {"Content-Type": "text/csv"})
    assert (status, body, headers["content-type"]) == (
        400,
        b"Record 1 has 1 field(s), expected 8\n",
        "text/plain; charset=utf-8",
    )
    status, body, _ = post(fake.port, "/invocations", b"boom", {"Content-Type": "text/csv"})
    assert status == 500 and b"RuntimeError (logged by the server)" in body


def test_ping_shows_the_unseen_category_counts(fake):
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
    connection.request("GET", "/ping")
    answer = json.loads(connection.getresponse().read())
    connection.close()
    assert answer == {"status": "healthy", "model": "abalone/1", "unseen_categories": {"sex": 2}}


def test_the_inference_id_reaches_capture_and_custom_attributes_do_not(fake):
    client = runtime(fake.port)
    client.invoke_endpoint(EndpointName=ENDPOINT, Body=ROW, ContentType="text/csv", InferenceId="req-42",
                           CustomAttributes="trace=abc")  # fmt: skip
    fake.endpoint.active.capture.flush()
    lines = [
        json.loads(line)
        for path in sorted(Path(fake.capture_root).rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    (record,) = [line for line in lines if line["eventMetadata"].get("inferenceId") == "req-42"]
    assert record["captureData"]["endpointInput"]["data"] == ROW.decode()
    assert "trace=abc" not in json.dumps(record)


def test_before_a_deploy_the_endpoint_is_not_found(tmp_path):
    with BackgroundServer(
        ServeOptions(tmp_path / "state", ENDPOINT, locate=locator(tmp_path / "state"), port=0)
    ) as server:
        error = error_of(lambda: runtime(server.port).invoke_endpoint(EndpointName=ENDPOINT, Body=ROW))
    assert error["Error"]["Code"] == "ValidationError" and "no model is deployed to it yet" in error["Error"]["Message"]


# -- the deployed abalone model, end to end ------------------------------------------------------------------
@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    config = local_config(config_from_kwargs({}, str(ROOT / "mlops.yaml")))
    state_dir = state_copy(tmp_path_factory.mktemp("runtime-model") / "state")
    approve(state_dir, 1)
    deploy_local(config, state_dir, SQLiteRegistry(state_dir / "registry.db"))
    server = BackgroundServer(ServeOptions(state_dir, config.endpoint_name, locate=locator(state_dir), port=0)).start()
    try:
        yield server, config
    finally:
        server.stop()


def test_boto3_against_the_deployed_model(deployed):
    server, config = deployed
    client = runtime(server.port)
    answer = client.invoke_endpoint(
        EndpointName=config.endpoint_name,
        Body=ROW,
        ContentType="text/csv",
        Accept="text/csv",
        InferenceId="abalone-row-1",
    )
    assert float(answer["Body"].read()) > 0 and answer["InvokedProductionVariant"] == config.serving.variant_name
    error = error_of(
        lambda: client.invoke_endpoint(EndpointName=config.endpoint_name, Body=b"M,1,2", ContentType="text/csv")
    )
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 400
    assert "expected 8" in error["OriginalMessage"]
    error = error_of(lambda: client.invoke_endpoint(EndpointName="no-such-endpoint", Body=ROW, ContentType="text/csv"))
    assert error["Error"]["Code"] == "ValidationError" and "no-such-endpoint" in error["Error"]["Message"]
    capture = server.endpoint.active.capture
    capture.flush()
    records = [
        json.loads(line) for path in capture.directory.rglob("*.jsonl") for line in path.read_text().splitlines()
    ]
    assert [r["eventMetadata"]["inferenceId"] for r in records if "inferenceId" in r["eventMetadata"]] == [
        "abalone-row-1"
    ]
