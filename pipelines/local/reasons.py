"""Failure reasons a user can act on: a job's local copies of its inputs named by the S3 URIs the user gave."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.local.expressions import Context, ExpressionError, evaluate


def _inputs(step: dict) -> list[tuple[str, object]]:
    """(container path, S3Uri expression) of every S3 input of a processing or training step."""
    arguments = step.get("Arguments") or {}
    return [
        (item["S3Input"]["LocalPath"], item["S3Input"].get("S3Uri"))
        for item in arguments.get("ProcessingInputs", [])
        if item.get("S3Input", {}).get("LocalPath")
    ] + [
        (f"/opt/ml/input/data/{c['ChannelName']}", c.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri"))
        for c in arguments.get("InputDataConfig", [])
    ]


def sources_named(reason: str, step: dict, ctx: Context, execution_dir: Path) -> str:
    """``reason`` with a job's local copies of its S3 inputs (under ``execution_dir``) named by their S3 URIs.

    A job reads its inputs from ``/opt/ml/...``, which the runner maps under the execution's directory; an error
    naming that copy means nothing to the user, who gave the input's URI (e.g. ``InputDataUrl``). The job log's
    tail after the message stays verbatim."""
    reason, tail_mark, tail = reason.partition("\n--- last lines of ")
    step_dir = re.escape(str(Path(execution_dir) / "steps" / step["Name"]))
    for local, source in _inputs(step):
        try:
            uri = str(evaluate(source, ctx)).rstrip("/")
        except (ExpressionError, KeyError, TypeError):
            continue
        copy = step_dir + r"(?:/hosts/algo-\d+)?/container" + re.escape(local.rstrip("/"))  # any host's copy

        def named(match: re.Match, uri: str = uri) -> str:
            rest = match.group(1) or ""
            return uri if rest.strip("/") in ("", uri.rsplit("/", 1)[-1]) else uri + rest  # a file input: its URI

        reason = re.sub(copy + r"(/[^\s;,:'\"]*)?", named, reason)
    return reason + tail_mark + tail
