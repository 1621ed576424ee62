"""The local endpoint's deploy state: which model version an endpoint serves, with which variant and capture.

``<state dir>/endpoints/<endpoint>.json`` is written by ``mlops deploy`` (atomically: a temporary file renamed
over the old one) and watched by ``mlops serve``, which switches to the version it names.

A running server advertises itself in ``<state dir>/endpoints/<endpoint>/servers/<pid>-<port>.json`` (host, port,
pid) while it listens, so that a deploy can ask it, through ``GET /ping``, whether it switched. Deploys to one
endpoint take turns (``deploy_lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inference.capture import CaptureSettings
from inference.errors import EndpointStateError

FORMAT = "mlops-endpoint/v1"


@dataclass(frozen=True)
class EndpointState:
    """What is deployed to one local endpoint."""

    endpoint: str
    group: str
    version: int
    arn: str
    model_data_url: str
    variant: str
    deployed_at: str
    capture: CaptureSettings
    environment: dict[str, str]

    @property
    def reference(self) -> str:
        return f"{self.group}/{self.version}"

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "endpoint": self.endpoint,
            "group": self.group,
            "version": self.version,
            "arn": self.arn,
            "model_data_url": self.model_data_url,
            "variant": self.variant,
            "deployed_at": self.deployed_at,
            "capture": self.capture.to_json(),
            "environment": dict(self.environment),
        }

    @classmethod
    def from_json(cls, data: dict, where: str) -> EndpointState:
        """Parse a state file's content; ValueError naming the file and field when it is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise EndpointStateError(f"{where}: not an endpoint state file (format must be {FORMAT!r}, got {found!r})")
        try:
            return cls(
                endpoint=str(data["endpoint"]),
                group=str(data["group"]),
                version=int(data["version"]),
                arn=str(data["arn"]),
                model_data_url=str(data["model_data_url"]),
                variant=str(data["variant"]),
                deployed_at=str(data["deployed_at"]),
                capture=CaptureSettings.from_json(data["capture"], f"{where}: capture"),
                environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EndpointStateError(f"{where}: missing or malformed field {exc}") from exc


def endpoints_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "endpoints"


def state_path(state_dir: Path, endpoint: str) -> Path:
    """Where the deploy state of ``endpoint`` lives."""
    return endpoints_dir(state_dir) / f"{endpoint}.json"


def models_dir(state_dir: Path, endpoint: str) -> Path:
    """Where the endpoint's extracted model versions live."""
    return endpoints_dir(state_dir) / endpoint / "models"


def read_state(state_dir: Path, endpoint: str) -> EndpointState | None:
    """The endpoint's deploy state, or None when nothing was ever deployed to it."""
    path = state_path(state_dir, endpoint)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EndpointStateError(
            f"{path}: not valid JSON ({exc}); redeploy with mlops deploy --force (it keeps the damaged file aside)"
        ) from exc
    return EndpointState.from_json(data, str(path))


def _replace(path: Path, content: bytes) -> None:
    """Write ``path`` atomically: a synced temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_state(state_dir: Path, state: EndpointState) -> Path:
    """Replace the endpoint's deploy state atomically (readers see the old file or the new one, never a mix)."""
    path = state_path(state_dir, state.endpoint)
    _replace(path, (json.dumps(state.to_json(), indent=2) + "\n").encode("utf-8"))
    return path


def state_snapshot(state_dir: Path, endpoint: str) -> bytes | None:
    """The deploy state file's exact bytes (None when there is none), for ``restore_state``."""
    try:
        return state_path(state_dir, endpoint).read_bytes()
    except FileNotFoundError:
        return None


def restore_state(state_dir: Path, endpoint: str, snapshot: bytes | None) -> None:
    """Put back a ``state_snapshot`` atomically (or remove the state when there was none)."""
    path = state_path(state_dir, endpoint)
    if snapshot is None:
        path.unlink(missing_ok=True)
    else:
        _replace(path, snapshot)


@contextlib.contextmanager
def deploy_lock(state_dir: Path, endpoint: str, timeout: float) -> Iterator[None]:
    """Hold the endpoint's deploy lock (one deploy at a time); TimeoutError naming the lock file after ``timeout``."""
    path = endpoints_dir(state_dir) / f".{endpoint}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "a") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"Another deploy to endpoint {endpoint!r} still holds {path} after {timeout:g} s"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -- running servers -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerAdvert:
    """A running ``mlops serve`` of the endpoint: where to reach it."""

    pid: int
    host: str
    port: int
    path: Path

    @property
    def connect_host(self) -> str:
        """The address to connect to (a wildcard bind is reached on loopback)."""
        return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)

    @property
    def url(self) -> str:
        host = f"[{self.connect_host}]" if ":" in self.connect_host else self.connect_host
        return f"http://{host}:{self.port}"


def servers_dir(state_dir: Path, endpoint: str) -> Path:
    return endpoints_dir(state_dir) / endpoint / "servers"


def advertise_server(state_dir: Path, endpoint: str, host: str, port: int) -> Path:
    """Record that this process serves ``endpoint`` on ``host:port``; returns the file to withdraw on stop."""
    path = servers_dir(state_dir, endpoint) / f"{os.getpid()}-{port}.json"
    _replace(path, json.dumps({"pid": os.getpid(), "host": host, "port": port}).encode("utf-8"))
    return path


def withdraw_server(path: Path) -> None:
    """Remove an ``advertise_server`` record (the server stops listening)."""
    Path(path).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_servers(state_dir: Path, endpoint: str) -> list[ServerAdvert]:
    """The servers advertising ``endpoint``; records of processes that are gone are removed."""
    found = []
    directory = servers_dir(state_dir, endpoint)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            advert = ServerAdvert(int(data["pid"]), str(data["host"]), int(data["port"]), path)
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            advert = None
        if advert is None or not _alive(advert.pid):
            path.unlink(missing_ok=True)  # unreadable, or its process ended without withdrawing it
            continue
        found.append(advert)
    return found
