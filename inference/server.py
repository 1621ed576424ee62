"""The local endpoint: the SageMaker container contract (``GET /ping``, ``POST /invocations``) and the Runtime API's
InvokeEndpoint (``POST /endpoints/<endpoint>/invocations``, see ``runtime_api``) over HTTP/1.1, serving the model
version deployed to the endpoint, with data capture.

- The version comes from the endpoint's deploy state (``<state>/endpoints/<endpoint>.json``, written by
  ``mlops deploy``). The server polls it; on a change it loads the new version first (extract, import the
  handler, ``model_fn``) in a worker thread while the old one keeps serving, then switches with one assignment.
  A version that fails to load is logged and the old one keeps serving.
- ``/ping`` answers 200 with the served version and its unseen-category counts when a model is loaded, 503 before
  the first deploy. ``/invocations`` answers what the handler answers, status included (its 400/415/406 pass
  through with their body and content type); an exception from the handler is a bug in the model: 500, traceback
  logged, as the container answers it. An empty body is 400, a body over the limit 413 (before it is read).
- Successful invocations are captured, with the caller's ``X-Amzn-SageMaker-Inference-Id`` as
  ``eventMetadata.inferenceId``.
- Small requests run on the event loop (a prediction of a few rows takes well under a millisecond); bodies over
  ``INLINE_BODY_BYTES`` run in a worker thread so that a large batch does not stall other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from inference.artefact import DEFAULT_LIMITS, ExtractionLimits
from inference.capture import CaptureWriter, Clock
from inference.endpoint_routes import Active, Routes
from inference.endpoint_state import (
    EndpointState,
    advertise_server,
    models_dir,
    read_state,
    state_path,
    withdraw_server,
)
from inference.errors import ListenError
from inference.http import drain, start_server
from inference.http_limits import Limits
from inference.model_loader import limit_native_threads, load_model

logger = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """Where the endpoint's state lives and how the server listens.

    ``locate`` maps a location named in the deploy state (the model archive, the capture destination: ``s3://``
    URIs) to this machine's path; the application passes its object store's (``pipelines.objectstore.locator``).
    """

    state_dir: Path
    endpoint: str
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 6 * MIB
    poll_seconds: float = 0.25
    flush_seconds: float = 0.5
    idle_timeout: float = 60.0
    header_timeout: float = 10.0
    max_connections: int | None = None  # None: below the descriptor limit (http_limits.default_max_connections)
    clock: Clock = field(default=time.time)
    extraction: ExtractionLimits = DEFAULT_LIMITS  # caps on a model archive's extraction (serving.max_model_*)
    locate: Callable[[str], Path] = field(kw_only=True)

    @property
    def limits(self) -> Limits:
        """The HTTP server's limits (ValueError naming the bad one)."""
        return Limits(self.max_body_bytes, self.idle_timeout, self.header_timeout, self.max_connections)


class Endpoint(Routes):
    """The app behind the HTTP server: routes (``Routes``), the active model, switching, capture."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.active: Active | None = None
        self.executor = ThreadPoolExecutor(2, thread_name_prefix="invoke", initializer=limit_native_threads)
        self.loader = ThreadPoolExecutor(1, thread_name_prefix="loader")
        self._signature: tuple | None = None
        self.switches = 0
        self._tasks: set[asyncio.Task] = set()

    # -- deploy state --------------------------------------------------------------------------------
    def _state_signature(self) -> tuple | None:
        try:
            st = os.stat(state_path(self.options.state_dir, self.options.endpoint))
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _activate(self, state: EndpointState, previous: Active | None) -> Active:
        """Load ``state``'s version (worker thread); the old one keeps serving meanwhile."""
        o = self.options
        if previous is not None and previous.state.model_data_url == state.model_data_url:
            model = previous.model
        else:
            model = load_model(
                o.locate(state.model_data_url),
                models_dir(o.state_dir, o.endpoint),
                state.reference,
                state.environment,
                o.extraction,
            )
        capture: CaptureWriter | None
        if (
            previous is not None
            and previous.capture is not None
            and previous.state.capture == state.capture
            and previous.state.variant == state.variant
        ):
            capture = previous.capture
        elif state.capture.enabled:
            root = o.locate(state.capture.destination)
            capture = CaptureWriter(state.capture, root, o.endpoint, state.variant, o.clock, o.flush_seconds)
        else:
            capture = None
        return Active(state, model, capture)

    async def refresh(self) -> bool:
        """Switch to the deployed version if the state file changed; returns whether it switched."""
        signature = self._state_signature()
        if signature == self._signature:
            return False
        self._signature = signature
        loop = asyncio.get_running_loop()
        try:
            state = read_state(self.options.state_dir, self.options.endpoint)
        except ValueError as exc:
            logger.error("%s; still serving %s", exc, self.active.state.reference if self.active else "nothing")
            return False
        if state is None:
            return False
        previous = self.active
        if previous is not None and previous.state == state:
            return False
        try:
            new = await loop.run_in_executor(self.loader, self._activate, state, previous)
        except Exception as exc:
            logger.error(
                "Could not load %s (%s): %s; still serving %s",
                state.reference,
                state.model_data_url,
                exc,
                previous.state.reference if previous else "nothing",
            )
            return False
        self.active = new  # the switch: requests from now on use the new version
        self.switches += 1
        gc.freeze()  # the loaded libraries and model are permanent: keep them out of full collections (ms pauses)
        logger.info("Endpoint %s now serves %s", self.options.endpoint, state.reference)
        if previous is not None and previous.capture is not None and previous.capture is not new.capture:
            self._tasks.add(task := loop.create_task(self._retire(previous, previous.capture)))
            task.add_done_callback(self._tasks.discard)
        return True

    async def _retire(self, old: Active, capture: CaptureWriter) -> None:
        """Close the old version's capture (``old.capture``) once its last in-flight request is done."""
        deadline = time.monotonic() + 120
        while old.inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(self.loader, capture.close)

    async def watch(self) -> None:
        """Poll the deploy state forever."""
        while True:
            try:
                await self.refresh()
            except Exception:
                logger.exception("Deploy state watch failed; retrying")
            await asyncio.sleep(self.options.poll_seconds)

    def close(self) -> None:
        """Write all captured records and stop the worker threads (after the HTTP server has drained)."""
        self.executor.shutdown(wait=True)
        self.loader.shutdown(wait=True)
        if self.active is not None and self.active.capture is not None:
            self.active.capture.close()


async def run(options: ServeOptions, stop: asyncio.Event, ready=None) -> Endpoint:
    """Serve until ``stop`` is set, then stop gracefully; ``ready(port, endpoint)`` is called once listening."""
    limit_native_threads()
    endpoint = Endpoint(options)
    await endpoint.refresh()
    try:
        server, connections = await start_server(
            endpoint, options.host, options.port, options.limits, endpoint.error_page
        )
    except OSError as exc:  # socket.gaierror too: a host that does not resolve
        await asyncio.get_running_loop().run_in_executor(None, endpoint.close)  # the capture writer's thread
        raise ListenError(
            f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc} (serving.host / --host, "
            "serving.port / --port)"
        ) from None
    port = server.sockets[0].getsockname()[1]
    watcher = asyncio.get_running_loop().create_task(endpoint.watch())
    advert = advertise_server(options.state_dir, options.endpoint, options.host, port)  # deploys ask its /ping
    if ready is not None:
        ready(port, endpoint)
    try:
        await stop.wait()
    finally:
        withdraw_server(advert)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await drain(server, connections)
        await asyncio.get_running_loop().run_in_executor(None, endpoint.close)
    return endpoint


def serve_forever(options: ServeOptions, ready=None) -> Endpoint:
    """Run the endpoint in this thread until SIGINT or SIGTERM, then stop gracefully (capture flushed)."""

    async def main() -> Endpoint:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run(options, stop, ready)

    return asyncio.run(main())


class BackgroundServer:
    """The endpoint on an event loop in a background thread (tests, benchmarks, demos)."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.port = 0  # the port it listens on, once start() has returned
        self.endpoint: Endpoint | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="endpoint", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await run(self.options, self._stop, self._on_ready)

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def _on_ready(self, port: int, endpoint: Endpoint) -> None:
        self.port, self.endpoint = port, endpoint
        self._ready.set()

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"Endpoint server did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 60.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
