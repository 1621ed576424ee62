"""The HTML pieces the reports share: the stylesheet, escaping, tables and JSON inputs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path

from monitoring.local.errors import ReportInputError, ReportInputNotFoundError

Document = str | Path | Mapping
CSS = """
body{font-family:system-ui,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#222;background:#fafafa}
h1{margin:0 0 4px}h2{margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;background:#fff}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px;vertical-align:middle}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.bad{background:#c44e52}.good{background:#55a868}.na{background:#999}.meta,.note{color:#666;font-size:13px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin:14px 0}
.card h3{margin:0 0 6px}.row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
img.chart{border:1px solid #eee}img.bar{vertical-align:middle}figure{margin:0}
figcaption{font-size:12px;color:#555;text-align:center}
"""


def e(value: object) -> str:
    """``value`` as escaped HTML text."""
    return escape(str(value))


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; header cells are text, row cells are HTML already (escape them with ``e``)."""
    header = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def pairs(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table of labelled facts; values are HTML already."""
    return "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def load(document: Document | None, what: str) -> dict | None:
    """The parsed document, or None when there is none."""
    return None if document is None else read(document, what)


def read(document: Document, what: str) -> dict:
    """A JSON document given as a path or already parsed; errors name ``what`` and the file."""
    if isinstance(document, Mapping):
        return dict(document)
    path = Path(document)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReportInputNotFoundError(f"Report input '{what}' not found: {path}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"Report input '{what}' ({path}) is not valid JSON: {exc}") from exc
