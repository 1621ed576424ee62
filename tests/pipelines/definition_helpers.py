"""Shared helpers for definition tests: an offline build, and pipeline-expression placeholders."""

from __future__ import annotations

import json
import re
import socket
from contextlib import contextmanager
from functools import lru_cache

from pipelines.build import build_definition, config_from_kwargs, local_config
from tests.conftest import ROOT

ROLE = "arn:aws:iam::123456789012:role/pipeline"
BUCKET = "artefacts-bucket"


@contextmanager
def no_network():
    """Any attempt to resolve or connect raises: the build must be offline."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    saved = socket.getaddrinfo, socket.socket.connect, socket.create_connection
    socket.getaddrinfo, socket.socket.connect, socket.create_connection = refuse, refuse, refuse
    try:
        yield
    finally:
        socket.getaddrinfo, socket.socket.connect, socket.create_connection = saved


def config_for(engine: str = "processing", **overrides):
    kwargs = {"role": ROLE, "default_bucket": BUCKET, "engine": engine, "config": str(ROOT / "mlops.yaml"), **overrides}
    return local_config(config_from_kwargs(kwargs))


@lru_cache(maxsize=4)
def built_json(engine: str = "processing") -> str:
    with no_network():
        return build_definition(config_for(engine), root=ROOT).json


def normalised(definition: str) -> str:
    """The definition with content hashes masked, so golden files change only when the structure does."""
    return re.sub(r"/(code|data)/[0-9a-f]{64}(?=[/\"])", r"/\1/<sha256>", definition)


def steps_by_name(definition: dict) -> dict[str, dict]:
    """Every step, including those nested in a condition's branches."""
    found = {}

    def visit(steps):
        for step in steps:
            found[step["Name"]] = step
            args = step.get("Arguments", {})
            if step["Type"] == "Condition":
                visit(args.get("IfSteps", []))
                visit(args.get("ElseSteps", []))

    visit(definition["Steps"])
    return found


def expressions(value, found=None) -> list[dict]:
    """All pipeline expressions (Get / Std:Join / Std:JsonGet) inside a value."""
    found = [] if found is None else found
    if isinstance(value, dict):
        if set(value) & {"Get", "Std:Join", "Std:JsonGet"}:
            found.append(value)
            for inner in value.values():
                expressions(inner, found)
        else:
            for inner in value.values():
                expressions(inner, found)
    elif isinstance(value, list):
        for inner in value:
            expressions(inner, found)
    return found


def with_placeholders(value, parameters: dict[str, dict]):
    """Replace pipeline expressions with values of the type the expression stands for."""
    if isinstance(value, dict):
        if "Get" in value and isinstance(value["Get"], str) and value["Get"].startswith("Parameters."):
            parameter = parameters[value["Get"].split(".", 1)[1]]
            return {"String": "placeholder", "Integer": 1, "Float": 1.0, "Boolean": True}[parameter["Type"]]
        if set(value) & {"Get", "Std:Join", "Std:JsonGet"}:
            return "s3://placeholder/expression"
        return {k: with_placeholders(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [with_placeholders(v, parameters) for v in value]
    return value


def load(definition: str) -> dict:
    return json.loads(definition)
