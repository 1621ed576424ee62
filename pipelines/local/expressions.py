"""Pipeline expressions evaluated as SageMaker Pipelines does: ``Get`` (parameters, execution variables,
step properties), ``Std:Join``, ``Std:JsonGet`` on property files, and the condition types."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mlops_errors import MlopsError

_TOKEN = re.compile(r"([A-Za-z0-9_]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(\d+)\s*\]")


class ExpressionError(MlopsError, ValueError):
    """An expression refers to something that does not exist (yet)."""


@dataclass
class Context:
    """What expressions can see during one execution."""

    parameters: dict
    execution: dict  # PipelineExecutionId, PipelineExecutionArn, PipelineName, StartDateTime, ...
    properties: dict = field(default_factory=dict)  # step name -> properties (Describe* shaped)
    read_property_file: Callable[[str, str], dict] | None = None  # (step, property file name) -> JSON


def parameter_value(kind: str, raw: str | int | float | bool) -> int | float | bool | str:
    """A pipeline parameter's value as its declared type ("Integer", "Float", "Boolean", else String) takes it, from
    a ``--param`` string or a definition default; ValueError when it does not read as that type."""
    if kind == "Integer":
        return int(raw)
    if kind == "Float":
        return float(raw)
    if kind == "Boolean":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise ValueError("not true or false")
    return str(raw)


def execution_variables(execution_id: str, pipeline: str, created: str) -> dict:
    """The ``Execution.*`` variables of a local execution, as SageMaker names them (local ARNs, account 0)."""
    return {
        "PipelineExecutionId": execution_id,
        "PipelineName": pipeline,
        "PipelineExecutionArn": f"arn:aws:sagemaker:local:000000000000:pipeline/{pipeline}/execution/{execution_id}",
        "PipelineArn": f"arn:aws:sagemaker:local:000000000000:pipeline/{pipeline}",
        "StartDateTime": created,
        "CurrentDateTime": created,
    }


def path_tokens(path: str) -> list[str | int]:
    """``Outputs['train'].S3Output.S3Uri`` -> ['Outputs', 'train', 'S3Output', 'S3Uri']."""
    tokens: list[str | int] = []
    position = 0
    for match in _TOKEN.finditer(path):
        gap = path[position : match.start()].strip(".")
        if gap:
            raise ExpressionError(f"cannot parse property path {path!r} near {gap!r}")
        name, quoted, double, index = match.groups()
        tokens.append(int(index) if index is not None else (name or quoted or double))
        position = match.end()
    return tokens


def navigate(value, tokens: list, where: str):
    for token in tokens:
        in_dict = isinstance(value, dict) and token in value
        in_list = isinstance(value, list) and isinstance(token, int) and token < len(value)
        if in_dict or in_list:
            value = value[token]
        else:
            raise ExpressionError(
                f"{where}: no {token!r} (available: {list(value) if isinstance(value, dict) else value})"
            )
    return value


def json_path(document, path: str, where: str):
    """The subset of JsonPath property files use: ``a.b[0].c``."""
    return navigate(document, path_tokens(path.lstrip("$").lstrip(".")), where)


def evaluate(value, ctx: Context):
    """Resolve every expression inside ``value`` (dicts and lists are walked)."""
    if isinstance(value, dict):
        if len(value) == 1 and "Get" in value:
            return _get(value["Get"], ctx)
        if len(value) == 1 and "Std:Join" in value:
            spec = value["Std:Join"]
            return str(spec.get("On", "")).join(_text(evaluate(v, ctx)) for v in spec.get("Values", []))
        if len(value) == 1 and "Std:JsonGet" in value:
            return _json_get(value["Std:JsonGet"], ctx)
        return {k: evaluate(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, ctx) for v in value]
    return value


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(reference: str, ctx: Context):
    kind, _, rest = reference.partition(".")
    if kind == "Parameters":
        if rest not in ctx.parameters:
            raise ExpressionError(f"unknown parameter {rest!r}; declared: {', '.join(sorted(ctx.parameters))}")
        return ctx.parameters[rest]
    if kind == "Execution":
        if rest not in ctx.execution:
            raise ExpressionError(f"unknown execution variable {rest!r}")
        return ctx.execution[rest]
    if kind == "Steps":
        step, _, path = rest.partition(".")
        if step not in ctx.properties:
            raise ExpressionError(f"step {step!r} has no properties yet (not run, or did not succeed)")
        return navigate(ctx.properties[step], path_tokens(path), f"Steps.{step}")
    raise ExpressionError(f"unsupported reference {reference!r}")


def _json_get(spec: dict, ctx: Context):
    source = spec.get("PropertyFile")
    reference = source.get("Get", "") if isinstance(source, dict) else ""
    match = re.fullmatch(r"Steps\.([^.]+)\.PropertyFiles\.(.+)", reference)
    if not match:
        raise ExpressionError(f"Std:JsonGet needs a step property file, got {source!r}")
    if ctx.read_property_file is None:
        raise ExpressionError("property files cannot be read in this context")
    document = ctx.read_property_file(match.group(1), match.group(2))
    return json_path(document, str(spec["Path"]), f"{reference} at {spec['Path']}")


_COMPARISONS = {
    "Equals": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}


def _comparable(left, right):
    if isinstance(left, str) and isinstance(right, (int, float)) and not isinstance(right, bool):
        return float(left), right
    if isinstance(right, str) and isinstance(left, (int, float)) and not isinstance(left, bool):
        return left, float(right)
    return left, right


def condition_holds(condition: dict, ctx: Context) -> bool:
    """One condition of a ConditionStep (all of a step's conditions must hold)."""
    kind = condition["Type"]
    if kind in _COMPARISONS:
        left, right = _comparable(evaluate(condition["LeftValue"], ctx), evaluate(condition["RightValue"], ctx))
        try:
            return bool(_COMPARISONS[kind](left, right))
        except TypeError as exc:
            raise ExpressionError(f"{kind}: cannot compare {left!r} with {right!r}") from exc
    if kind == "In":
        return evaluate(condition["QueryValue"], ctx) in [evaluate(v, ctx) for v in condition["Values"]]
    if kind == "Not":
        return not condition_holds(condition["Condition"], ctx)
    if kind == "Or":
        return any(condition_holds(c, ctx) for c in condition["Conditions"])
    raise ExpressionError(f"unsupported condition type {kind!r}")


def references(value) -> set[str]:
    """Names of the steps an argument value refers to (its data dependencies)."""
    found: set[str] = set()
    if isinstance(value, dict):
        get = value.get("Get")
        if isinstance(get, str) and get.startswith("Steps."):
            found.add(get.split(".")[1])
        for inner in value.values():
            found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def loads(text: str) -> dict:
    return json.loads(text)
