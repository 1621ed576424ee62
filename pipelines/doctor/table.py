"""The doctor's rows as a text table (status, check, detail, fix) or as JSON; and the exit code they mean."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pipelines.doctor.result import FAIL, CheckResult

MARKS = {"pass": "PASS", "fail": "FAIL", "cannot-tell": "????"}


def render_table(rows: Sequence[CheckResult]) -> str:
    """One line per check (status, name, detail), each failure's or cannot-tell's fix indented under it, a summary."""
    width = max((len(r.name) for r in rows), default=0)
    lines = []
    for row in rows:
        lines.append(f"{MARKS[row.status]}  {row.name.ljust(width)}  {row.detail}")
        if row.fix and row.status != "pass":
            lines.append(f"{' ' * (width + 8)}fix: {row.fix}")
    lines.append(summary(rows))
    return "\n".join(lines)


def summary(rows: Sequence[CheckResult]) -> str:
    """'N checks: P pass, F fail, C cannot tell'."""
    counts = {status: sum(r.status == status for r in rows) for status in MARKS}
    return f"{len(rows)} checks: {counts['pass']} pass, {counts['fail']} fail, {counts['cannot-tell']} cannot tell"


def render_json(rows: Sequence[CheckResult]) -> str:
    """The rows as a JSON list of {name, status, detail, fix}."""
    return json.dumps([r.as_dict() for r in rows], indent=2)


def exit_code(rows: Sequence[CheckResult]) -> int:
    """0 when no check fails (cannot-tell does not fail), 1 when one does."""
    return 1 if any(r.status == FAIL for r in rows) else 0
