"""Validation of configuration values: every error says where, what was expected and what was found."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing or not what was expected."""


def expect(condition: bool, where: str, expected: str, got: Any) -> None:
    if not condition:
        raise ConfigError(f"{where}: must be {expected}, got {got!r}")


def string(value: Any, where: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    expect(isinstance(value, str) and value != "", where, "a non-empty string", value)
    return value


def integer(value: Any, where: str, minimum: int = 0) -> int:
    expect(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        where,
        f"an integer >= {minimum}",
        value,
    )
    return value


def strings(value: Any, where: str) -> tuple[str, ...]:
    expect(isinstance(value, list) and all(isinstance(v, str) and v for v in value), where, "a list of strings", value)
    return tuple(value)


def section(raw: dict, name: str, kind: type, where: str) -> Any:
    block = raw.get(name) or {}
    expect(isinstance(block, dict), f"{where}{name}", "a mapping", block)
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ConfigError(
            f"{where}{name}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(known))}"
        )
    return block


def as_bool(value: Any, where: str) -> bool:
    expect(isinstance(value, bool), where, "true or false", value)
    return value


def subsection(block: dict, name: str, kind: type, where: str) -> dict:
    sub = block.get(name) or {}
    expect(isinstance(sub, dict), f"{where}{name}", "a mapping", sub)
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(sub) - known)
    if unknown:
        raise ConfigError(f"{where}{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return sub


def number(value: Any, where: str, minimum: float = 0.0) -> float:
    expect(
        isinstance(value, (int, float)) and not isinstance(value, bool) and value >= minimum,
        where,
        f"a number >= {minimum:g}",
        value,
    )
    return float(value)
