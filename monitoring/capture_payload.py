"""The payload of one captured request: its text and kind (CSV or JSON) from the capture's encoding and observed
content type, and the rows of a JSON request body."""

from __future__ import annotations

import base64
import binascii

from monitoring.report import BAD_BASE64, NOT_UTF8, UNSUPPORTED_CONTENT


def decode_payload(data: str, encoding: str | None, content_type: str | None) -> tuple[str, str]:
    """(text, kind) of one record's payload, kind 'csv' or 'json'; raises ValueError with the reason."""
    kind_of = (
        "json" if "json" in (content_type or "").lower() else "csv" if "csv" in (content_type or "").lower() else None
    )
    enc = (encoding or "").upper()
    if enc == "BASE64":
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{BAD_BASE64}: {exc}") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{NOT_UTF8}: decoded base64 payload is not UTF-8") from exc
        if kind_of is None:
            raise ValueError(f"{UNSUPPORTED_CONTENT}: content type {content_type!r} is neither CSV nor JSON")
        return text, kind_of
    if enc == "JSON":
        return data, "json"
    if enc == "CSV":
        return data, "csv"
    raise ValueError(f"{UNSUPPORTED_CONTENT}: encoding {encoding!r} is not CSV, JSON or BASE64")


def json_instances(payload) -> list:
    """Rows of a JSON request: a list of records, ``{"instances": [...]}`` or one record."""
    if isinstance(payload, dict):
        for key in ("instances", "inputs", "data"):
            if key in payload:
                payload = payload[key]
                break
        else:
            return [payload]
    if isinstance(payload, list):
        if payload and not isinstance(payload[0], (list, dict)):
            return [payload]  # one record given as a flat list of values
        return payload
    return [[payload]]
