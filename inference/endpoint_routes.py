"""The local endpoint's routes: ``GET /ping``, ``POST /invocations`` (the container contract) and
``POST /endpoints/<endpoint>/invocations`` (the Runtime API's InvokeEndpoint, shapes in ``runtime_api``).

A handler's answer passes through with its status, body and content type on ``/invocations``; on the Runtime API
route a non-200 becomes ``ModelError``. An exception from the handler is a bug in the model: answered 500 as the
container does, traceback logged. Successful invocations are captured, the caller's
``X-Amzn-SageMaker-Inference-Id`` as ``eventMetadata.inferenceId`` (SageMaker's capture format has no field for
custom attributes, so they are not captured).
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inference import runtime_api
from inference.capture import CaptureWriter
from inference.endpoint_state import EndpointState
from inference.http_response import Request, Response, error_response
from inference.model_loader import Invocation, LoadedModel

if TYPE_CHECKING:
    from inference.server import ServeOptions

logger = logging.getLogger("inference.server")

INLINE_BODY_BYTES = 64 * 1024
INFERENCE_ID = "x-amzn-sagemaker-inference-id"
CONTAINER_DEFAULT_TYPE = "application/json"  # the container's request content type when the client sends none


@dataclass
class Active:
    """The version being served, with its capture writer; ``inflight`` counts requests in worker threads."""

    state: EndpointState
    model: LoadedModel
    capture: CaptureWriter | None
    inflight: int = 0


class Routes:
    """Request handling of ``Endpoint``: needs its ``options`` (endpoint, max_body_bytes), ``active`` and
    ``executor``."""

    options: ServeOptions
    active: Active | None
    executor: ThreadPoolExecutor

    def __call__(self, request: Request) -> Response | asyncio.Future:
        path = request.path.split("?", 1)[0]
        if path == "/ping":
            if request.method not in ("GET", "HEAD"):
                return Response(405, b"Use GET /ping\n", headers={"Allow": "GET, HEAD"})
            return self._ping()
        if path == "/invocations":
            if request.method != "POST":
                return Response(
                    405, b"Use POST /invocations with a text/csv or application/json body\n", headers={"Allow": "POST"}
                )
            refused = _container_refusal(request.headers)
            return refused if refused is not None else self._invocations(request, None)
        if path.startswith(runtime_api.PREFIX):
            return self._runtime(request, path)
        return error_response(
            404,
            f"No route {path[:200]!r}: this endpoint serves GET /ping, POST /invocations and "
            f"POST /endpoints/{self.options.endpoint}/invocations",
        )

    def error_page(self, path: str | None, status: int, message: str) -> Response:
        """How a framing error is answered: in the Runtime API's shapes on its paths, else as plain text."""
        if path is not None and path.startswith(runtime_api.PREFIX):
            return runtime_api.framing_error(status, message, self.options.max_body_bytes)
        return error_response(status, message)

    def _ping(self) -> Response:
        active = self.active
        if active is None:
            return error_response(503, f"No model deployed to endpoint {self.options.endpoint!r}: run mlops deploy")
        status = {
            "status": "healthy",
            "model": active.state.reference,
            "unseen_categories": active.model.unseen_categories(),
        }
        return Response(200, (json.dumps(status) + "\n").encode(), "application/json")

    def _runtime(self, request: Request, path: str) -> Response | asyncio.Future:
        name = runtime_api.endpoint_name(path)
        if name is None or request.method != "POST":
            return runtime_api.error(
                404,
                "UnknownOperationException",
                f"No operation {request.method} {path[:200]}: use POST {runtime_api.PREFIX}<endpoint>/invocations",
            )
        problem = runtime_api.validate(name, request.headers, len(request.body))
        if problem is not None:
            return runtime_api.validation_error(problem)
        served = self.options.endpoint
        active = self.active
        if name != served or active is None:
            why = (
                f"this local server serves {served}"
                if name != served
                else "no model is deployed to it yet (run mlops deploy)"
            )
            return runtime_api.validation_error(f"Endpoint {name} of this local server not found: {why}")
        if len(request.body) > runtime_api.MAX_BODY:
            return runtime_api.too_large(runtime_api.MAX_BODY)
        problem = runtime_api.unsupported(served, request.headers)
        variant = request.headers.get("x-amzn-sagemaker-target-variant")
        if problem is None and variant is not None and variant != active.state.variant:
            problem = f"Variant {variant} not found for endpoint {served}: it has one variant, {active.state.variant}"
        if problem is not None:
            return runtime_api.validation_error(problem)
        return self._invocations(request, active)

    def _invocations(self, request: Request, runtime: Active | None) -> Response | asyncio.Future:
        """Run the handler; ``runtime``: the active version when the Runtime API route called (its answer shapes)."""
        active = runtime or self.active
        if active is None:
            return error_response(503, f"No model deployed to endpoint {self.options.endpoint!r}: run mlops deploy")
        # an empty body goes to the handler too: the container's worker hands it to input_fn (its 400, not ours)
        if len(request.body) <= INLINE_BODY_BYTES:
            return self._invoke(active, request, runtime is not None)
        active.inflight += 1
        future = asyncio.get_running_loop().run_in_executor(
            self.executor, self._invoke, active, request, runtime is not None
        )
        future.add_done_callback(lambda _: setattr(active, "inflight", active.inflight - 1))
        return future

    def _invoke(self, active: Active, request: Request, runtime: bool) -> Response:
        headers = request.headers
        content_type = headers.get("content-type")
        try:
            answer = active.model.invoke(request.body, content_type, headers.get("accept"))
        except Exception as exc:  # a bug in the handler: the container answers 500
            logger.exception("Handler of %s failed", active.state.reference)
            message = f"The model's handler failed: {type(exc).__name__} (logged by the server)\n"
            answer = Invocation(message.encode(), "text/plain; charset=utf-8", 500)
        if content_type is None and answer.status == 400:
            answer = _no_content_type_hint(answer)
        if answer.status >= 400:  # the Runtime API's ModelError is for a model's 4xx and 5xx
            if runtime:
                return runtime_api.model_error(answer.status, answer.body)
            return Response(answer.status, answer.body, answer.content_type)
        if active.capture is not None:
            active.capture.capture(
                request.body,
                content_type or CONTAINER_DEFAULT_TYPE,
                answer.body,
                answer.content_type,
                headers.get(INFERENCE_ID),
            )
        if runtime:
            return runtime_api.success(answer.body, answer.content_type, active.state.variant)
        variant = {"X-Amzn-Invoked-Production-Variant": active.state.variant}
        return Response(answer.status, answer.body, answer.content_type, variant)


def _container_refusal(headers: dict[str, str]) -> Response | None:
    """What ``/invocations`` refuses before the model sees a request: a compressed body (the handler would read the
    compressed bytes as records) and an inference id that SageMaker's InvokeEndpoint would not pass on, so that no
    capture record holds an id a real endpoint's capture cannot."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return error_response(415, f"Content-Encoding {encoding!r} is not supported: send the body uncompressed")
    inference_id = headers.get(INFERENCE_ID)
    problem = runtime_api.inference_id_problem(inference_id) if inference_id is not None else None
    if problem is not None:
        return error_response(
            400,
            "X-Amzn-SageMaker-Inference-Id must be 1 to 64 printable ASCII characters, the first not a space "
            f"(InvokeEndpoint's InferenceId): {problem}",
        )
    return None


def _no_content_type_hint(answer: Invocation) -> Invocation:
    """A handler's 400 for a request sent without a Content-Type, saying that the body was read as the
    container's default type (application/json), which is why a CSV body reads as malformed JSON."""
    hint = (
        f" (the request has no Content-Type, so it was read as {CONTAINER_DEFAULT_TYPE}; "
        "send Content-Type: text/csv for CSV records)"
    )
    try:
        error = json.loads(answer.body)
        error["error"] = str(error["error"]) + hint
        body = json.dumps(error).encode("utf-8")
    except (ValueError, TypeError, KeyError):
        body = answer.body.rstrip(b"\n") + hint.encode("utf-8") + b"\n"
    return Invocation(body, answer.content_type, answer.status)
