"""Writing values into ``mlops.yaml``'s ``sagemaker:`` section in place, so the user's comments and layout survive.

A line-based edit (no round-trip YAML library is installed): each key's value is replaced on its own line, keeping
the indentation and the trailing comment; a missing key is added under ``sagemaker:``, a missing section at the end.
The result is re-parsed and compared with the intended configuration (the original with those values set) before
anything is written, and written whole or not at all (a temporary file in the same directory, then a rename).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipelines.errors import InputError

_SECTION = re.compile(r"^sagemaker:\s*(#.*)?$")
_TOP_LEVEL = re.compile(r"^[^\s#]")


@dataclass(frozen=True)
class ConfigUpdate:
    """What ``write_sagemaker_values`` did: ``written`` (the file now holds the values), or not (``lines`` to add
    by hand, and why)."""

    path: Path
    written: bool
    lines: tuple[str, ...]
    reason: str = ""


def scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when YAML reads it back as the same string, else double-quoted."""
    try:
        if yaml.safe_load(f"k: {value}") == {"k": value}:
            return value
    except yaml.YAMLError:
        pass
    return json.dumps(value)


def _section_bounds(lines: list[str]) -> tuple[int, int] | None:
    """(index of ``sagemaker:``, index after its last indented line), or None when there is no such section."""
    start = next((i for i, line in enumerate(lines) if _SECTION.match(line)), None)
    if start is None:
        return None
    end = start + 1
    for i in range(start + 1, len(lines)):
        if _TOP_LEVEL.match(lines[i]):
            break
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            end = i + 1
    return start, end


def _replace_value(line: str, key: str, value: str) -> str | None:
    """``line`` with ``key``'s value replaced (indentation and comment kept, the comment's column when it fits),
    or None when ``line`` is not ``key``'s."""
    match = re.match(rf"^(\s+){re.escape(key)}:(\s*)([^#]*?)(\s*)(#.*)?$", line)
    if match is None:
        return None
    indent, _, old, gap, comment = match.groups()
    head = f"{indent}{key}: {scalar(value)}"
    if not comment:
        return head
    column = len(f"{indent}{key}:{match.group(2)}{old}{gap}")
    return f"{head.ljust(column - 1)} {comment}" if len(head) < column else f"{head}  {comment}"


def edited_text(text: str, values: dict[str, str]) -> str:
    """``text`` with ``sagemaker.<key>: <value>`` for each of ``values``, everything else unchanged."""
    lines = text.splitlines()
    bounds = _section_bounds(lines)
    if bounds is None:
        tail = ["", "sagemaker:", *(f"  {k}: {scalar(v)}" for k, v in values.items())]
        return "\n".join([*lines, *tail]) + "\n"
    start, end = bounds
    child = next((re.match(r"^(\s+)\S", line) for line in lines[start + 1 : end] if line.strip()), None)
    indent = child.group(1) if child else "  "
    missing = []
    for key, value in values.items():
        for i in range(start + 1, end):
            replaced = _replace_value(lines[i], key, value) if lines[i].startswith(indent + key) else None
            if replaced is not None:
                lines[i] = replaced
                break
        else:
            missing.append(f"{indent}{key}: {scalar(value)}")
    lines[start + 1 : start + 1] = missing
    return "\n".join(lines) + ("\n" if text.endswith("\n") or not text else "")


def intended(original: object, values: dict[str, str]) -> dict:
    """The parsed configuration the edit must produce: ``original`` with the values set under ``sagemaker``."""
    result = dict(original) if isinstance(original, dict) else {}
    result["sagemaker"] = {**(result.get("sagemaker") or {}), **values}
    return result


def lines_to_add(values: dict[str, str]) -> tuple[str, ...]:
    """The lines a user adds under ``sagemaker:`` by hand."""
    return tuple(f"  {k}: {scalar(v)}" for k, v in values.items())


def _writable(path: Path) -> str:
    """Why ``path`` cannot be replaced (empty when it can): the file and its directory must be writable."""
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    if not os.access(path.parent, os.W_OK):
        return f"its directory {path.parent} is not writable (the file is replaced through a temporary file there)"
    return ""


def write_sagemaker_values(path: Path, values: dict[str, str]) -> ConfigUpdate:
    """Set ``sagemaker.<key>`` to each of ``values`` in ``path`` (see the module docstring); when the file cannot be
    written, nothing is and the result holds the lines to add. InputError when the file is not YAML or the edit
    would not give the intended configuration (the file is left as it was)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        original = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc}); nothing written") from exc
    if not isinstance(original, dict):
        raise InputError(f"{path}: expected a mapping at the top level, got {type(original).__name__}")
    reason = _writable(path)
    if reason:
        return ConfigUpdate(path, False, lines_to_add(values), reason)
    new_text = edited_text(text, values)
    inline = "sagemaker" in original and _section_bounds(text.splitlines()) is None  # e.g. sagemaker: {...}
    if inline or yaml.safe_load(new_text) != intended(original, values):
        raise InputError(
            f"{path}: could not set sagemaker.{', sagemaker.'.join(values)} by a line edit without changing other "
            "values (unusual layout); nothing written, add these lines under sagemaker: by hand: "
            + "; ".join(line.strip() for line in lines_to_add(values))
        )
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new_text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(f"{path}: could not be written ({exc}); it is left as it was") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ConfigUpdate(path, True, lines_to_add(values))
