"""The local endpoint through real HTTP with the real trained model: the container contract, predictions equal to
the booster's, and hundreds of malformed requests that all get a 4xx with a message while the server stays healthy."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
from pathlib import Path

import numpy as np
import pytest

from inference.server import MIB, BackgroundServer, ServeOptions
from pipelines.build import config_from_kwargs, local_config
from pipelines.deploy.local import deploy_local
from pipelines.objectstore import locator
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT
from tests.inference.test_server_model import ROW, abalone_rows, approve, booster_predictions, state_copy

FEATURES = ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"]
ROWS = abalone_rows()


@pytest.fixture(scope="module")
def config():
    return local_config(config_from_kwargs({}, str(ROOT / "mlops.yaml")))


@pytest.fixture(scope="module")
def served(tmp_path_factory, config):
    state = state_copy(tmp_path_factory.mktemp("server") / "state")
    approve(state, 1)
    deploy_local(config, state, SQLiteRegistry(state / "registry.db"))
    with BackgroundServer(ServeOptions(state, config.endpoint_name, locate=locator(state), port=0)) as server:
        yield server


@pytest.fixture(scope="module")
def model_dir(served) -> Path:
    return served.endpoint.active.model.model_dir


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def invoke(port: int, body: bytes, content_type: str | None = "text/csv", accept: str | None = None):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if accept is not None:
        headers["Accept"] = accept
    return request(port, "POST", "/invocations", body, headers)


def raw(port: int, data: bytes) -> tuple[int, bytes]:
    """Send bytes as they are; (status, body) of the first response."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(
            next(
                (line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
                b"0",
            )
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(head.split(b" ")[1]), body


def csv_values(body: bytes) -> np.ndarray:
    return np.array([float(x) for x in body.decode().split()], dtype=np.float32)


def test_ping_answers_with_the_served_version(served):
    status, body, _ = request(served.port, "GET", "/ping")
    assert status == 200
    answer = json.loads(body)
    assert answer["status"] == "healthy" and answer["model"] == "abalone/1"
    assert answer["unseen_categories"] == served.endpoint.active.model.unseen_categories()


def test_head_ping_has_headers_and_no_body(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(b"HEAD /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = len(request(served.port, "GET", "/ping")[1])
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: %d" % length in head and body == b""


def test_csv_single_record_equals_the_booster(served, model_dir):
    status, body, headers = invoke(served.port, ROW)
    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"  # as Flask 1.1 sends it
    assert headers["X-Amzn-Invoked-Production-Variant"] == "AllTraffic"
    np.testing.assert_array_equal(csv_values(body), booster_predictions(model_dir, [ROW.decode().split(",")]))


def test_csv_batch_of_the_whole_data_set_equals_the_booster(served, model_dir):
    body = ("\n".join(",".join(row) for row in ROWS) + "\n").encode()
    assert len(body) > 64 * 1024  # runs in a worker thread, not on the event loop
    status, answer, _ = invoke(served.port, body, "text/csv", "text/csv")
    assert status == 200
    predictions = csv_values(answer)
    assert len(predictions) == len(ROWS) == 4177
    np.testing.assert_array_equal(predictions, booster_predictions(model_dir, ROWS))


def test_json_records_and_instances_equal_the_booster(served, model_dir):
    records = [dict(zip(FEATURES, row, strict=True)) for row in ROWS[:50]]
    expected = booster_predictions(model_dir, ROWS[:50])
    status, body, headers = invoke(served.port, json.dumps(records).encode(), "application/json", "application/json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    np.testing.assert_array_equal(np.array(json.loads(body)["predictions"], dtype=np.float32), expected)
    status, body, _ = invoke(served.port, json.dumps({"instances": ROWS[:50]}).encode(), "application/json", "text/csv")
    assert status == 200
    np.testing.assert_array_equal(csv_values(body), expected)
    status, body, _ = invoke(served.port, json.dumps(records[0]).encode(), "application/json", "application/json")
    assert status == 200 and json.loads(body)["predictions"] == [pytest.approx(float(expected[0]), rel=1e-6)]


def test_csv_in_json_out_and_chunked_and_keep_alive(served, model_dir):
    expected = booster_predictions(model_dir, ROWS[:3])
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        for _ in range(3):  # several requests on one connection
            body = ("\n".join(",".join(r) for r in ROWS[:3])).encode()
            connection.request(
                "POST",
                "/invocations",
                body=iter([body[:10], body[10:]]),
                headers={"Content-Type": "text/csv", "Accept": "application/json"},
                encode_chunked=True,
            )
            response = connection.getresponse()
            assert response.status == 200
            values = np.array(json.loads(response.read())["predictions"], dtype=np.float32)
            np.testing.assert_array_equal(values, expected)
    finally:
        connection.close()


def test_expect_100_continue_is_answered_then_the_prediction(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(ROW)
        )
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(ROW)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close" in answer


def test_a_body_over_the_limit_gets_413_before_it_is_sent(served):
    status, body = raw(
        served.port,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n"
        % (6 * MIB + 1),
    )
    assert status == 413 and b"over the limit of 6291456 bytes (6 MiB)" in body


def malformed_requests() -> list[tuple[str, dict]]:
    """(label, request) pairs: ``http`` requests (method, path, body, headers) or ``raw`` bytes."""
    good = ROW.decode()
    cases: list[tuple[str, dict]] = []

    def http_case(label, body, content_type="text/csv", accept=None, method="POST", path="/invocations"):
        headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            headers["Accept"] = accept
        cases.append((label, {"http": (method, path, body, headers)}))

    for content_type in [
        "text/plain",
        "application/xml",
        "image/png",
        "application/x-npy",
        "text/csvx",
        "csv",
        "application/jsonl",
        "multipart/form-data",
        "application/octet-stream",
        "*/*",
    ]:
        for body in [ROW, b"{}", b"\x00\x01"]:
            http_case(f"content type {content_type}", body, content_type)
    http_case("no content type", ROW, None)
    for accept in ["image/png", "application/xml", "text/html", "application/x-protobuf"]:
        http_case(f"accept {accept}", ROW, accept=accept)
    fields = good.split(",")
    for count in [1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 20]:
        row = (fields * 3)[:count]
        http_case(f"{count} fields", ",".join(row).encode())
        http_case(f"{count} fields in JSON", json.dumps([row]).encode(), "application/json")
    for position in range(1, 8):
        for bad in ["abc", "1.2.3", "--1", "0x1g", "true", "1e5e5"]:
            row = list(fields)
            row[position] = bad
            http_case(f"non-numeric {bad} in {FEATURES[position]}", ",".join(row).encode())
    http_case("header row", (",".join(FEATURES) + "\n" + good).encode())
    http_case("empty body", b"")
    http_case("blank lines only", b"\n\n  \n")
    http_case("not UTF-8", b"M,\xff\xfe,0.3")
    http_case("unclosed quote", b'"M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15')
    http_case("second row short", (good + "\nM,0.4").encode())
    for text in ["{", "[", '{"instances": [', "[1, 2,", "nul", "'single'", "{'a': 1}", "[1,]", "\ufeff[", "NaN]"]:
        http_case(f"malformed JSON {text}", text.encode("utf-8"), "application/json")
    for value in [
        "5",
        '"text"',
        "true",
        "null",
        "[]",
        '{"instances": 5}',
        '{"instances": []}',
        "[[], {}]",
        '[{"sex": "M"}]',
        '[{"sex": "M", "length": [1]}]',
        '{"instances": [{"length": 1}]}',
        "[[1, 2, 3]]",
        '[{"sex": "M", "length": "x", "diameter": 1, "height": 1, "whole_weight": 1, '
        '"shucked_weight": 1, "viscera_weight": 1, "shell_weight": 1}]',
        '[{"sex": {"a": 1}}]',
    ]:
        http_case(f"JSON {value[:30]}", value.encode(), "application/json")
    record = dict(zip(FEATURES, fields, strict=True))
    for feature in FEATURES:
        missing = {k: v for k, v in record.items() if k != feature}
        http_case(f"JSON record without {feature}", json.dumps([missing]).encode(), "application/json")
        if feature != "sex":
            for bad in ["x", True, [1.0], {"v": 1}]:
                http_case(
                    f"JSON {feature}={bad!r}", json.dumps([{**record, feature: bad}]).encode(), "application/json"
                )
    for method in ["GET", "PUT", "DELETE", "PATCH"]:
        http_case(f"{method} /invocations", ROW, method=method)
    for method in ["POST", "PUT", "DELETE"]:
        http_case(f"{method} /ping", b"", method=method, path="/ping")
    for path in ["/", "/invoke", "/invocations/x", "/pingx", "/../etc/passwd", "/models", "/%00"]:
        http_case(f"path {path}", ROW, path=path)

    def raw_case(label, data: bytes):
        cases.append((label, {"raw": data}))

    raw_case("garbage request line", b"HELLO\r\n\r\n")
    raw_case("request line without version", b"POST /invocations\r\n\r\n")
    raw_case("HTTP/2.0", b"POST /invocations HTTP/2.0\r\nContent-Length: 0\r\n\r\n")
    raw_case("HTTP/0.9 style", b"GET /ping HTTP/0.9\r\n\r\n")
    raw_case("header without colon", b"POST /invocations HTTP/1.1\r\nContent-Type text/csv\r\n\r\n")
    raw_case("header name with space", b"POST /invocations HTTP/1.1\r\nContent Type: text/csv\r\n\r\n")
    for length in [b"-1", b"abc", b"1.5", b"1e3", b"", b"+5", b"0x10"]:
        raw_case(f"Content-Length {length!r}", b"POST /invocations HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n")
    for lengths in [
        b"Content-Length: 3\r\nContent-Length: 3",
        b"Content-Length: 3\r\nContent-Length: 5",
        b"Content-Length: \xb2",
    ]:
        raw_case(f"Content-Length {lengths!r}", b"POST /invocations HTTP/1.1\r\n" + lengths + b"\r\n\r\nabcde")
    for size in [b"0x2b", b"+2b", b"2_b", b" 2b", b"-0"]:
        raw_case(
            f"chunk size {size!r}",
            b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + size
            + b"\r\n"
            + ROW[:43]
            + b"\r\n0\r\n\r\n",
        )
    raw_case("both lengths", b"POST /invocations HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
    raw_case("gzip transfer", b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
    raw_case(
        "bad chunk size", b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    )
    raw_case(
        "chunk without CRLF", b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n"
    )
    raw_case("huge head", b"POST /invocations HTTP/1.1\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n")
    raw_case("too large chunked", b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n600001\r\n")
    for size in [6 * MIB + 1, 10 * MIB, 2**40]:
        raw_case(
            f"Content-Length {size}",
            b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % size,
        )
    return cases


MALFORMED = malformed_requests()


def test_there_are_at_least_200_malformed_requests():
    assert len(MALFORMED) >= 200


def test_malformed_requests_get_4xx_with_a_message_and_the_server_stays_healthy(served, model_dir):
    failures = []
    for label, case in MALFORMED:
        if "http" in case:
            method, path, body, headers = case["http"]
            status, answer, _ = request(served.port, method, path, body, headers)
        else:
            status, answer = raw(served.port, case["raw"])
        if not (400 <= status < 500) or len(answer.strip()) < 10:
            failures.append(f"{label}: {status} {answer[:200]!r}")
    assert not failures, "\n".join(failures)
    assert request(served.port, "GET", "/ping")[0] == 200
    status, body, _ = invoke(served.port, ROW)
    assert status == 200
    np.testing.assert_array_equal(csv_values(body), booster_predictions(model_dir, [ROW.decode().split(",")]))


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        (b"M,1,2", "text/csv", None, 400, "Record 1 has 3 field(s), expected 8"),
        (ROW, "text/plain", None, 415, "Unsupported content type 'text/plain'"),
        (ROW, "text/csv", "image/png", 406, "Unsupported Accept 'image/png'"),
        (b"", "text/csv", None, 400, "Empty request body"),
        (b"[1,", "application/json", None, 400, "Malformed JSON"),
        (b"M,x,0.3,0.1,0.5,0.2,0.1,0.1", "text/csv", None, 400, "Column 'length' must be numeric, got 'x'"),
    ],
)
def test_client_errors_say_what_was_wrong(served, body, content_type, accept, status, message):
    got, answer, headers = invoke(served.port, body, content_type, accept)
    assert got == status and message in answer.decode()
    # the handler's own answer passes through (an empty body too, as the container's worker hands it to input_fn)
    own = served.endpoint.active.model.invoke(body, content_type, accept)
    assert (got, answer, headers["Content-Type"]) == (own.status, own.body, own.content_type)


def test_ping_is_503_until_a_model_is_deployed(tmp_path):
    with BackgroundServer(
        ServeOptions(tmp_path / "state", "nothing-here", locate=locator(tmp_path / "state"), port=0)
    ) as server:
        status, body, _ = request(server.port, "GET", "/ping")
        assert status == 503 and b"No model deployed to endpoint 'nothing-here': run mlops deploy" in body
        status, body, _ = invoke(server.port, ROW)
        assert status == 503


def _captured_ids(served) -> list[str]:
    served.endpoint.active.capture.flush()
    root = served.endpoint.active.capture.directory
    return [
        json.loads(line)["eventMetadata"].get("inferenceId")
        for path in sorted(root.rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


@pytest.mark.parametrize(
    "inference_id",
    ["é-ü-id".encode(), b"L" * 65, b"ctl\x01id", b"tab\tinside"],
    ids=["utf-8", "65-characters", "control-character", "tab"],
)
def test_invocations_refuse_an_inference_id_that_invoke_endpoint_would_not_pass_on(served, inference_id):
    """Only InvokeEndpoint's InferenceId (1 to 64 printable ASCII characters) reaches a real endpoint's capture:
    /invocations answers 400 naming the header, and nothing is captured with such an id."""
    headers = {"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": inference_id}
    status, body, _ = request(served.port, "POST", "/invocations", ROW, headers)
    assert status == 400 and b"X-Amzn-SageMaker-Inference-Id must be 1 to 64 printable ASCII" in body
    assert inference_id.decode("latin-1") not in _captured_ids(served)
    good = {"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": "req-ok-1"}
    assert request(served.port, "POST", "/invocations", ROW, good)[0] == 200
    assert "req-ok-1" in _captured_ids(served)


def test_a_compressed_body_is_a_415_not_malformed_records(served):
    headers = {"Content-Type": "text/csv", "Content-Encoding": "gzip"}
    status, body, _ = request(served.port, "POST", "/invocations", gzip.compress(ROW), headers)
    assert status == 415 and b"Content-Encoding 'gzip' is not supported: send the body uncompressed" in body
    identity = {"Content-Type": "text/csv", "Content-Encoding": "identity"}
    assert request(served.port, "POST", "/invocations", ROW, identity)[0] == 200


def test_a_request_without_content_type_is_told_it_was_read_as_json(served):
    status, body, _ = invoke(served.port, ROW, content_type=None)
    error = json.loads(body)["error"]
    assert status == 400 and error.startswith("Malformed JSON")
    assert "the request has no Content-Type, so it was read as application/json" in error


def test_an_address_it_cannot_listen_on_is_named_not_a_traceback(tmp_path):
    import asyncio

    from inference.errors import ListenError
    from inference.server import run

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host, at in (("127.0.0.1", port), ("not a host!", 0)):
            options = ServeOptions(tmp_path / "state", "abalone-endpoint", locate=locator(tmp_path / "state"),
                                   host=host, port=at)  # fmt: skip
            expected = rf"cannot listen on {re.escape(host)}:{at}: .*serving\.host / --host"
            with pytest.raises(ListenError, match=expected):
                asyncio.run(run(options, asyncio.Event()))
