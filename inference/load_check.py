"""Does a model version load? Asked of a fresh process before a local deploy, and of the running servers after it.

``trial_load`` runs ``python -m inference.load_check`` (this module's ``main``) with the interpreter and code of
the current process: it calls the endpoint server's own ``load_model`` (extract, import the handler, ``model_fn``)
with the version's registered environment, into the endpoint's models directory, so the server later reuses that
verified extraction. A fresh process keeps a handler's import-time side effects, ``sys.exit`` or crash out of the
deploying process, and a timeout bounds a ``model_fn`` that hangs.

``wait_for_model`` polls a running server's ``GET /ping`` until it reports the version.

The child reads one JSON request on stdin (``archive``, ``models_dir``, ``name``, ``environment``, ``max_bytes``,
``max_members``) and writes one JSON result on stdout (``{"loaded": name}`` or ``{"error": message}``); whatever
the handler prints goes to stderr.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from inference.artefact import ExtractionLimits, ModelLoadError
from inference.endpoint_state import running_servers, withdraw_server
from mlops_errors import MlopsError

logger = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_TAIL = 2000


class LoadCheckError(MlopsError, RuntimeError):
    """The version does not load; the message is the loader's (or says how the check process failed)."""


@dataclass(frozen=True)
class LoadRequest:
    """What ``trial_load`` asks the child process to load."""

    archive: Path
    models_dir: Path
    name: str
    environment: dict[str, str]
    max_bytes: int
    max_members: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "archive": str(self.archive),
                "models_dir": str(self.models_dir),
                "name": self.name,
                "environment": dict(self.environment),
                "max_bytes": self.max_bytes,
                "max_members": self.max_members,
            }
        )


def trial_load(request: LoadRequest, timeout: float) -> None:
    """Load the version in a fresh process with the endpoint's loader; LoadCheckError with the loader's message."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "inference.load_check"],
            input=request.to_json(),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadCheckError(
            f"loading {request.name} did not finish within {timeout:g} s (does model_fn or the handler's import "
            "hang?); the check process was stopped"
        ) from exc
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if done.returncode == 0 and result.get("loaded") == request.name:
        return
    if "error" in result:
        raise LoadCheckError(str(result["error"]))
    tail = done.stderr.strip()[-_TAIL:] or "(no output)"
    raise LoadCheckError(
        f"the process loading {request.name} ended with exit code {done.returncode} without a result; "
        f"its last output: {tail}"
    )


def ping(host: str, port: int, timeout: float = 2.0) -> tuple[int, str | None]:
    """(HTTP status, the model reported) of a server's ``GET /ping``; OSError when it cannot be reached."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        body = response.read()
    except http.client.HTTPException as exc:
        raise OSError(f"bad answer from http://{host}:{port}/ping: {exc}") from exc
    finally:
        connection.close()
    try:
        model = json.loads(body).get("model")
    except (ValueError, AttributeError):
        model = None
    return response.status, model if isinstance(model, str) else None


def wait_for_model(host: str, port: int, reference: str, timeout: float, interval: float = 0.1) -> str | None:
    """Poll ``/ping`` until the server reports ``reference``: None when it does within ``timeout``, else what it
    reported last (e.g. ``abalone/1``, ``status 503``, or why it could not be reached)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, model = ping(host, port)
            seen = model if status == 200 and model else f"status {status}"
        except OSError as exc:
            seen = f"no answer ({exc})"
        if seen == reference:
            return None
        if time.monotonic() >= deadline:
            return seen
        time.sleep(interval)


def await_servers(state_dir: Path, endpoint: str, reference: str, timeout: float) -> tuple[str | None, list[str]]:
    """Wait until every running server of ``endpoint`` serves ``reference``: (why one did not, or None; their URLs)."""
    deadline = time.monotonic() + timeout
    urls: list[str] = []
    for server in running_servers(state_dir, endpoint):
        try:
            ping(server.connect_host, server.port)
        except OSError as exc:  # advertised by a live process that no longer listens: not a server to wait for
            logger.warning("Ignoring %s (pid %d): %s", server.url, server.pid, exc)
            withdraw_server(server.path)
            continue
        seen = wait_for_model(server.connect_host, server.port, reference, max(0.0, deadline - time.monotonic()))
        if seen is not None:
            return (
                f"the running server {server.url} (pid {server.pid}) still reports {seen} {timeout:g} s after the "
                f"deploy state named {reference}: it could not load it (its log says why)"
            ), urls
        urls.append(server.url)
    return None, urls


def main() -> int:
    """The child: load the version asked on stdin; print the result as the last line of stdout."""
    result_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the handler's prints must not mix with the result
    try:
        from inference.model_loader import load_model

        request = json.loads(sys.stdin.read())
        limits = ExtractionLimits(int(request["max_bytes"]), int(request["max_members"]))
        load_model(
            Path(request["archive"]), Path(request["models_dir"]), request["name"], request["environment"], limits
        )
        result, code = {"loaded": request["name"]}, 0
    except ModelLoadError as exc:  # the loader's own message names the file and what was expected
        result, code = {"error": str(exc)}, 1
    except Exception as exc:  # anything a handler raises outside the loader's checks
        result, code = {"error": f"{type(exc).__name__}: {exc}"}, 1
    result_stream.write(json.dumps(result) + "\n")
    result_stream.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
