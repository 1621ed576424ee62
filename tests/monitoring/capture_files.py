"""Helpers writing data-capture files in SageMaker's layout for tests and benchmarks."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path


def capture_line(data: str, when: datetime, encoding: str = "CSV", content_type: str = "text/csv") -> str:
    """One capture record as SageMaker writes it."""
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": "9.5",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": str(uuid.UUID(int=hash((data, when)) & (2**128 - 1))),
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            },
            "eventVersion": "0",
        }
    )


def hour_dir(root: Path, when: datetime, endpoint: str = "ep", variant: str = "AllTraffic") -> Path:
    return root / endpoint / variant / when.strftime("%Y/%m/%d/%H")


def write_capture(root: Path, when: datetime, lines: Iterable[str | bytes], name: str = "capture.jsonl") -> Path:
    """Write lines (str or raw bytes) into the hour directory of ``when``."""
    path = hour_dir(root, when) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        for line in lines:
            handle.write((line.encode("utf-8") if isinstance(line, str) else line) + b"\n")
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
