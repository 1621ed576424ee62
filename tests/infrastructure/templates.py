"""CloudFormation templates as plain data for structure assertions (cfn-lint's decoder: intrinsics kept as dicts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str


def plain(value: Any) -> Any:
    """A decoded template as plain dicts, lists and strings (cfn-lint's nodes carry positions)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def load_template(path: Path) -> dict:
    """The template at ``path``, decoded as CloudFormation reads it; fails on a template that does not decode."""
    decoded, problems = decode_str(path.read_text())
    assert not problems, problems
    return plain(decoded)
