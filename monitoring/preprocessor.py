"""Model Monitor's ``record_preprocessor_script``: a user function that turns one capture record into rows.

The script defines ``preprocess_handler(inference_record)``; the record exposes ``endpoint_input``,
``endpoint_output`` (each with ``data``, ``encoding``, ``observedContentType``) and ``event_metadata``
(``eventId``, ``inferenceTime``), as in the container. It returns a dict (one named row), a list of values
(one positional row), or a list of dicts / lists (several rows).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace

from monitoring.capture_times import BAD_TIME
from monitoring.errors import AnalyzerFileNotFoundError, AnalyzerInputError
from monitoring.report import ReadReport, parse_json_line
from monitoring.sources import Chunk, chunked_rows

PREPROCESSOR_ERROR = "preprocessor_error"
ROWS_PER_CHUNK = 50_000


def load_preprocessor(path: str | Path) -> Callable:
    """Import ``preprocess_handler`` from a script, with a clear error when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise AnalyzerFileNotFoundError(f"record_preprocessor_script not found: {path}")
    spec = importlib.util.spec_from_file_location("record_preprocessor", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"record_preprocessor_script {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "preprocess_handler", None)
    if not callable(handler):
        raise AnalyzerInputError(f"{path}: must define a function preprocess_handler(inference_record)")
    return handler


def _channel(raw) -> SimpleNamespace | None:
    if not isinstance(raw, dict):
        return None
    return SimpleNamespace(
        data=raw.get("data"),
        encoding=raw.get("encoding"),
        observedContentType=raw.get("observedContentType"),
        mode=raw.get("mode"),
    )


def inference_record(record: dict) -> SimpleNamespace:
    """The object handed to ``preprocess_handler`` for one capture line."""
    capture = record.get("captureData") or {}
    meta = record.get("eventMetadata") or {}
    return SimpleNamespace(
        endpoint_input=_channel(capture.get("endpointInput")),
        endpoint_output=_channel(capture.get("endpointOutput")),
        event_metadata=SimpleNamespace(eventId=meta.get("eventId"), inferenceTime=meta.get("inferenceTime")),
        event_version=record.get("eventVersion"),
    )


def preprocess_file(
    path: Path,
    handler: Callable,
    names: Sequence[str] | None,
    report: ReadReport,
    in_window: Callable[[object], bool | None],
) -> Iterator[Chunk]:
    """Rows of one capture file through the user's handler; failures are counted per line."""
    report.files += 1

    def rows() -> Iterator:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                where = f"{path}: line {number}"
                record = parse_json_line(raw, where, report)
                if record is None:
                    continue
                meta = record.get("eventMetadata")
                time = meta.get("inferenceTime") if isinstance(meta, dict) else None
                inside = in_window(time)
                if inside is None:
                    report.skip(BAD_TIME, f"{where}: inferenceTime {str(time)[:40]!r} is not an ISO-8601 time")
                    continue
                if not inside:
                    report.outside_window += 1
                    continue
                try:
                    result = handler(inference_record(record))
                except Exception as exc:
                    report.skip(PREPROCESSOR_ERROR, f"{where}: {type(exc).__name__}: {exc}")
                    continue
                report.records += 1
                if isinstance(result, list) and result and isinstance(result[0], (dict, list)):
                    yield from result
                elif result is not None:
                    yield result

    yield from chunked_rows(rows(), names, report, ROWS_PER_CHUNK)
