"""The SageMaker Runtime API's InvokeEndpoint on the local endpoint: ``POST /endpoints/<endpoint>/invocations``.

Requests are validated as botocore's ``sagemaker-runtime`` service model (2017-05-13) constrains them (lengths and
patterns of the endpoint name and of every header InvokeEndpoint defines, the 6 MiB body); answers use its
rest-json shapes, so ``boto3.client("sagemaker-runtime", endpoint_url=...).invoke_endpoint(...)`` and the SDK's
predictors behave as on AWS:

- success: the model's body and Content-Type, ``x-Amzn-Invoked-Production-Variant``;
- a model's non-200 answer (or a handler exception, which the container answers 500): ``ModelError``, HTTP 424,
  with ``OriginalStatusCode`` and ``OriginalMessage`` (no ``LogStreamArn``: there is no CloudWatch log stream);
- a bad request or an unknown endpoint: ``ValidationError``, HTTP 400, in AWS's "N validation error(s) detected"
  wording for constraint violations;
- a body over the limit: 413 ``HTTP content length exceeded N bytes.`` as AWS's front end answers (botocore reports
  the error code ``413``).

Errors carry ``x-amzn-ErrorType`` and a JSON body with ``message`` (what botocore's rest-json parser reads) plus the
error shape's own members; every answer carries an ``x-amzn-RequestId``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

from inference.http_response import Response

ROUTE = re.compile(r"/endpoints/([^/?]*)/invocations")
PREFIX = "/endpoints/"
MAX_BODY = 6291456  # InvokeEndpointInput.Body max
MAX_MESSAGE = 2048  # the Message shape's max
JSON_TYPE = "application/json"

_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"  # ^[a-zA-Z0-9](-*[a-zA-Z0-9])*
_ASCII = r"[\x00-\x7f]*"  # \p{ASCII}*
_PRINTABLE = r"[^ \t\n\x0b\f\r][\x20-\x7e]*"  # \A\S[\p{Print}]*\z  (Java: \S is any non-whitespace character)


@dataclass(frozen=True)
class Rule:
    """A member's constraints from the service model: its wire name, lengths and pattern (Java and Python)."""

    member: str  # lowerCamel, as AWS names it in validation messages
    header: str | None  # lower-case header name; None for the URI's EndpointName
    max_length: int
    min_length: int = 0
    pattern: str | None = None
    java_pattern: str = ""
    sensitive: bool = False


ENDPOINT_NAME = Rule("endpointName", None, 63, 0, _NAME, "^[a-zA-Z0-9](-*[a-zA-Z0-9])*")
HEADER_RULES = (
    Rule("contentType", "content-type", 1024, 0, _ASCII, r"\p{ASCII}*"),
    Rule("accept", "accept", 1024, 0, _ASCII, r"\p{ASCII}*"),
    Rule("customAttributes", "x-amzn-sagemaker-custom-attributes", 1024, 0, _ASCII, r"\p{ASCII}*", True),
    Rule("targetModel", "x-amzn-sagemaker-target-model", 1024, 1, _PRINTABLE, r"\A\S[\p{Print}]*\z"),
    Rule("targetVariant", "x-amzn-sagemaker-target-variant", 63, 0, _NAME, "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"),
    Rule(
        "targetContainerHostname",
        "x-amzn-sagemaker-target-container-hostname",
        63,
        0,
        _NAME,
        "^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    ),
    Rule("inferenceId", "x-amzn-sagemaker-inference-id", 64, 1, _PRINTABLE, r"\A\S[\p{Print}]*\z"),
    Rule("enableExplanations", "x-amzn-sagemaker-enable-explanations", 64, 1, r"[^\r\n]*", ".*"),
    Rule(
        "inferenceComponentName",
        "x-amzn-sagemaker-inference-component",
        63,
        0,
        r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?",
        r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$",
    ),
    Rule(
        "sessionId",
        "x-amzn-sagemaker-session-id",
        256,
        0,
        r"NEW_SESSION|[a-zA-Z0-9](-*[a-zA-Z0-9])*",
        r"^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$",
    ),
    Rule("prefixAwareId", "x-amzn-sagemaker-prefix-aware-id", 64, 1, _PRINTABLE, r"\A\S[\p{Print}]*\z"),
)
INFERENCE_ID = next(rule for rule in HEADER_RULES if rule.member == "inferenceId")
UNSUPPORTED = {  # valid headers whose feature a single-model, single-container local endpoint does not have
    "x-amzn-sagemaker-target-model": "is not a multi-model endpoint",
    "x-amzn-sagemaker-target-container-hostname": "does not host multiple containers with direct invocation",
    "x-amzn-sagemaker-inference-component": "hosts no inference components",
    "x-amzn-sagemaker-session-id": "does not host a stateful model (no sessions)",
    "x-amzn-sagemaker-enable-explanations": "has no Clarify explainer configuration",
}


def _violations(rule: Rule, value: str) -> list[str]:
    shown = "Value" if rule.sensitive else f"Value '{value[:100]}'"
    where = f"{shown} at '{rule.member}' failed to satisfy constraint: Member must"
    found = []
    if len(value) > rule.max_length:
        found.append(f"{where} have length less than or equal to {rule.max_length}")
    if len(value) < rule.min_length:
        found.append(f"{where} have length greater than or equal to {rule.min_length}")
    if rule.pattern is not None and value and not re.fullmatch(rule.pattern, value):
        found.append(f"{where} satisfy regular expression pattern: {rule.java_pattern}")
    return found


def inference_id_problem(value: str) -> str | None:
    """AWS's message for an inference id that InvokeEndpoint's ``InferenceId`` refuses (1 to 64 printable ASCII
    characters, the first not a space), or None."""
    found = _violations(INFERENCE_ID, value)
    return "; ".join(found) if found else None


def endpoint_name(path: str) -> str | None:
    """The URL-decoded endpoint name of a runtime API path, or None when ``path`` is not one."""
    match = ROUTE.fullmatch(path.split("?", 1)[0])
    return unquote(match.group(1)) if match else None


def validate(name: str, headers: dict[str, str], body_size: int) -> str | None:
    """AWS's message for the constraint violations of a request, or None when it satisfies the service model."""
    found = _violations(ENDPOINT_NAME, name)
    if not name:
        found.append("Value '' at 'endpointName' failed to satisfy constraint: Member must not be null")
    for rule in HEADER_RULES:
        value = headers.get(rule.header or "")
        if value is not None:
            found.extend(_violations(rule, value))
    if not body_size:
        found.append("Value at 'body' failed to satisfy constraint: Member must not be null")
    if not found:
        return None
    noun = "error" if len(found) == 1 else "errors"
    return f"{len(found)} validation {noun} detected: " + "; ".join(found)


def unsupported(served: str, headers: dict[str, str]) -> str | None:
    """Why a valid header cannot be honoured by this endpoint, or None."""
    for header, reason in UNSUPPORTED.items():
        if header in headers:
            return f"Endpoint {served} {reason}: remove the {header} header"
    return None


def _request_id() -> dict[str, str]:
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def error(status: int, code: str, message: str, **members: object) -> Response:
    """A rest-json error: ``x-amzn-ErrorType`` and a JSON body with ``message`` and the shape's members."""
    body = {"message": message[:MAX_MESSAGE], **members}
    headers = {"x-amzn-ErrorType": code, **_request_id()}
    return Response(status, json.dumps(body).encode("utf-8"), JSON_TYPE, headers)


def validation_error(message: str) -> Response:
    return error(400, "ValidationError", message)


def model_error(status: int, body: bytes) -> Response:
    """ModelError (424) for a model's non-200 answer, as the Runtime service reports it."""
    original = body.decode("utf-8", "replace").strip()[:MAX_MESSAGE]
    kind = "client" if 400 <= status < 500 else "server"
    message = (
        f'Received {kind} error ({status}) from primary with message "{original}". '
        "See the local endpoint's log (mlops serve) for more information."
    )
    return error(424, "ModelError", message, OriginalStatusCode=status, OriginalMessage=original)


def too_large(limit: int) -> Response:
    """What AWS's front end answers for a body over the limit (no error type: botocore's code is ``413``)."""
    return Response(413, f"HTTP content length exceeded {limit} bytes.".encode(), "text/plain", _request_id())


def success(body: bytes, content_type: str, variant: str) -> Response:
    """InvokeEndpointOutput: the model's body and content type, and the variant that answered."""
    return Response(200, body, content_type, {"x-Amzn-Invoked-Production-Variant": variant, **_request_id()})


def framing_error(status: int, message: str, max_body: int) -> Response:
    """A framing error on a runtime API path (the HTTP server's error page for those paths)."""
    if status == 413:
        return too_large(min(max_body, MAX_BODY))
    return Response(status, json.dumps({"message": message}).encode(), JSON_TYPE, _request_id())
