"""How configuration values are declared and how pydantic's findings are told to the user.

The sections are frozen standard-library dataclasses (``dataclasses.replace`` keeps working for callers and
tests); pydantic validates a YAML mapping into them through a ``TypeAdapter``. Fields declare their type,
strictness, bounds and enumerations with ``Annotated`` metadata, plus an optional ``Expect`` text when the generic
wording is not the clearest. Every finding becomes one line ``<file>: <path>: must be <expected>, got <value>``,
and all of them are reported at once.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from mlops_errors import MlopsError

__all__ = [
    "FORBID",
    "ConfigError",
    "Expect",
    "Flag",
    "OrEmpty",
    "Problem",
    "Text",
    "Texts",
    "check",
    "described",
    "expect_value",
    "messages",
    "validated",
]

FORBID = ConfigDict(extra="forbid")  # every section: unknown keys are errors
RULES = "mlops_rules"  # the error type of cross-field rules (one error, many problems)


class ConfigError(MlopsError, ValueError):
    """A configuration value is missing or not what was expected."""


@dataclasses.dataclass(frozen=True)
class Expect:
    """Field metadata: what the value must be, as the error message says it ("a port number from 0 to 65535")."""

    text: str


@dataclasses.dataclass(frozen=True)
class Problem:
    """A broken cross-field rule: the field path below the validated section, the expectation, the value."""

    path: str
    expected: str
    got: Any
    message: str | None = None  # a complete sentence from elsewhere (the training script's own parser)


def _empty_if_none(value: Any) -> Any:
    return {} if value is None else value


OrEmpty = BeforeValidator(_empty_if_none)  # a section written as `alarm:` (null in YAML) means its defaults
Flag = Annotated[bool, Field(strict=True)]  # true or false: never "false", "no" or 0
Text = Annotated[str, Field(strict=True, min_length=1)]
Texts = tuple[Text, ...]  # a YAML list of non-empty strings


def check(problems: Sequence[Problem]) -> None:
    """Raise the broken rules of one section together (inside a pydantic after-validator)."""
    if problems:
        raise PydanticCustomError(RULES, "{count} rule(s) broken", {"count": len(problems), "problems": problems})


def expect_value(condition: bool, expected: str) -> None:
    """Raise for a single value that breaks a custom rule (inside a field validator)."""
    if not condition:
        raise PydanticCustomError("mlops_expect", "must be {expected}", {"expected": expected})


# -- describing what a field expects ---------------------------------------------------------------
def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """The bare type and the constraints around it (Annotated layers flattened, Optional dropped)."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            continue
        if get_origin(annotation) in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
        return annotation, metadata


def described(annotation: Any, metadata: list[Any] | None = None) -> str:
    """What a value of this declared type must be, in words ("an integer from 0 to 100")."""
    annotation, metadata = _unwrap(annotation, list(metadata or []))
    for item in metadata:
        if isinstance(item, Expect):
            return item.text
    bounds = {name: getattr(m, name) for m in metadata for name in ("ge", "gt", "le") if hasattr(m, name)}
    if get_origin(annotation) is Literal:
        options = [str(a) for a in get_args(annotation)]
        return " or ".join(options) if len(options) == 2 else f"one of {', '.join(options)}"
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        kind = "an integer" if annotation is int else "a number"
        if bounds.get("gt") == 0 and len(bounds) == 1:
            return f"a positive {kind.split()[-1]}"
        low = bounds.get("ge", bounds.get("gt"))
        if low is not None and "le" in bounds:
            return f"{kind} from {low:g} to {bounds['le']:g}"
        if low is not None:
            return f"{kind} {'>=' if 'ge' in bounds else '>'} {low:g}"
        return kind
    if annotation is str:
        return "a non-empty string"
    if get_origin(annotation) is tuple:
        return "a list of non-empty strings"
    if get_origin(annotation) is dict:
        return "a mapping of name to value"
    if dataclasses.is_dataclass(annotation):
        return "a mapping"
    return str(annotation)


def _fields(kind: Any) -> dict[str, Any]:
    return typing.get_type_hints(kind, include_extras=True) if dataclasses.is_dataclass(kind) else {}


def _declared(root: type, loc: Sequence[str | int]) -> tuple[Any, list[Any]] | None:
    """The declared type (and its constraints) at a location below ``root``, or None when it has none."""
    annotation: Any = root
    metadata: list[Any] = []
    for part in loc:
        annotation, metadata = _unwrap(annotation, [])
        origin = get_origin(annotation)
        if isinstance(part, str) and part in _fields(annotation):
            annotation, metadata = _fields(annotation)[part], []
        elif origin is tuple and isinstance(part, int):
            annotation, metadata = get_args(annotation)[0], []
        elif origin is dict:
            annotation, metadata = get_args(annotation)[1], []
        else:
            return None
    return annotation, metadata


# -- telling the user ------------------------------------------------------------------------------
def dotted(loc: Sequence[str | int]) -> str:
    """``("data", "numeric", 0)`` -> ``data.numeric[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _unknown_keys(prefix: str, root: type, base: tuple, parent: tuple, keys: list[str]) -> str:
    declared = _declared(root, parent)
    known = sorted(_fields(_unwrap(declared[0], [])[0])) if declared else []
    if not base and not parent:
        known = [k for k in known if k != "source"]  # set by the loader, not a section of the file
        return f"{prefix}unknown section(s) {', '.join(keys)}; sections are {', '.join(known)}"
    where = dotted(base + parent)
    return f"{prefix}{where}: unknown key(s) {', '.join(keys)}; known keys are {', '.join(known)}"


def messages(error: ValidationError, root: type, prefix: str = "", base: tuple = ()) -> list[str]:
    """One line per finding: ``<prefix><path>: must be <expected>, got <value>``; unknown keys grouped."""
    lines: list[str] = []
    unknown: dict[tuple, list[str]] = {}
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        ctx = item.get("ctx") or {}
        if kind in ("unexpected_keyword_argument", "extra_forbidden"):
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
        elif kind == RULES:
            for problem in ctx["problems"]:
                path = dotted((*base, *loc, *(problem.path.split(".") if problem.path else ())))
                said = problem.message or f"must be {problem.expected}, got {problem.got!r}"
                lines.append(f"{prefix}{path}: {said}")
        elif kind == "missing":
            lines.append(f"{prefix}{dotted(base + loc)}: must be set")
        else:
            declared = _declared(root, loc)
            if kind == "mlops_expect":
                expected = ctx["expected"]
            elif kind == "invalid_key":
                expected, loc = "a mapping with text keys", loc[:-1]
            elif declared is not None:
                expected = described(*declared)
            else:
                expected = item["msg"]
            lines.append(f"{prefix}{dotted(base + loc)}: must be {expected}, got {item['input']!r}")
    lines += [_unknown_keys(prefix, root, base, parent, keys) for parent, keys in unknown.items()]
    return lines


T = typing.TypeVar("T")


@functools.cache
def _adapter(kind: Any) -> TypeAdapter:
    """The (cached) TypeAdapter of ``kind``: a class or an ``Annotated`` form."""
    return TypeAdapter(kind)


def validated(kind: type[T], value: Any, prefix: str = "", base: tuple = ()) -> T:
    """``value`` validated into ``kind``; ConfigError lists every finding (``base`` is the path of ``value``)."""
    try:
        key: object = kind  # the cache key: classes and Annotated forms are hashable
        return _adapter(key).validate_python(value)
    except ValidationError as exc:
        raise ConfigError("\n".join(messages(exc, kind, prefix, base))) from None
