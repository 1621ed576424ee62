"""The image's real serving stack in a parity container: the model archive extracted into /opt/ml/model, the
registered model package's Environment, the image's ``serve`` command (sagemaker-containers' gunicorn server with
gevent workers, nginx off), on a free loopback port."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.parity.container import Container

START_TIMEOUT = 180.0  # the toolkit pip-installs the model's code before gunicorn starts


@dataclass(frozen=True)
class Answer:
    """What a client sees of one invocation: status, body and media type."""

    status: int
    body: bytes
    content_type: str


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def invoke(port: int, body: bytes, headers: Mapping[str, str], path: str = "/invocations") -> Answer:
    """POST one request; the answer's Content-Type without parameters (charset) compared separately by callers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        return Answer(response.status, response.read(), response.getheader("Content-Type") or "")
    finally:
        connection.close()


class ToolkitServer:
    """``serve`` in a container; use as a context manager (stopped with SIGTERM, as SageMaker stops it)."""

    def __init__(self, container: Container, model_archive: Path, model_environment: Mapping[str, str]) -> None:
        self.container = container
        self.model_archive = model_archive
        self.model_environment = dict(model_environment)
        self.port = free_port()
        self.log = container.root / "serve.log"
        self._process: subprocess.Popen | None = None

    def settings(self) -> dict[str, str]:
        """The model's Environment plus what the hosting service and this harness add."""
        return {
            **self.model_environment,
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SAGEMAKER_USE_NGINX": "false",  # not checked: nginx in front of gunicorn
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",  # one gunicorn worker (the image defaults to one per CPU)
        }

    def __enter__(self) -> ToolkitServer:
        model_dir = self.container.map("/opt/ml/model")
        model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(self.model_archive) as tar:  # SageMaker extracts ModelDataUrl into /opt/ml/model
            tar.extractall(model_dir, filter="data")
        with open(self.log, "ab") as out:
            self._process = subprocess.Popen(
                [str(self.container.python), str(self.container.overlay / "bin" / "serve")],
                env=self.container.environ(self.settings()),
                cwd=self.container.base_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn and workers stop with it
            )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise AssertionError(f"serve exited {self._process.returncode} before /ping answered:\n{self.tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/ping")
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"serve did not answer /ping within {START_TIMEOUT:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """The last lines of the server's log (for failure messages)."""
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def invoke(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST /invocations to the real stack."""
        return invoke(self.port, body, headers)

    def __exit__(self, *exc) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # the toolkit's handler stops gunicorn, then serve exits
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this harness started, by its id
            process.wait(timeout=30)
        finally:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                pass
            else:  # a worker outlived its master: end the group this harness started
                os.killpg(process.pid, signal.SIGKILL)
