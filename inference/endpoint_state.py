"""The local endpoint's deploy state: which model version an endpoint serves, with which variant and capture.

``<state dir>/endpoints/<endpoint>.json`` is written by ``mlops deploy`` (atomically: a temporary file renamed
over the old one) and watched by ``mlops serve``, which switches to the version it names.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from inference.capture import CaptureSettings

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
            raise ValueError(f"{where}: not an endpoint state file (format must be {FORMAT!r}, got {found!r})")
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
            raise ValueError(f"{where}: missing or malformed field {exc}") from exc


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
        raise ValueError(f"{path}: not valid JSON ({exc}); redeploy with mlops deploy --force") from exc
    return EndpointState.from_json(data, str(path))


def write_state(state_dir: Path, state: EndpointState) -> Path:
    """Replace the endpoint's deploy state atomically (readers see the old file or the new one, never a mix)."""
    path = state_path(state_dir, state.endpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state.to_json(), handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path
