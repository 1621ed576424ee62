"""What an execution runs: the definition's steps with their dependencies, and its typed parameter values."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from pipelines.errors import UsageError
from pipelines.local.expressions import parameter_value, references

# a QualityCheck step's fields outside its Arguments that may refer to other steps' properties
QUALITY_CHECK_FIELDS = (
    "SkipCheck",
    "RegisterNewBaseline",
    "FailOnViolation",
    "ModelPackageGroupName",
    "SuppliedBaselineStatistics",
    "SuppliedBaselineConstraints",
)


@dataclass(frozen=True)
class StepNode:
    """A step of the definition with everything it waits for."""

    name: str
    step: dict
    needs: frozenset[str]
    branch_of: tuple[str, bool] | None = None  # (condition step, outcome that runs it)


def plan(definition: dict) -> dict[str, StepNode]:
    """Every step (condition branches included) with its dependencies: DependsOn, data references, branches."""
    nodes: dict[str, StepNode] = {}

    def add(steps: list, branch: tuple[str, bool] | None) -> None:
        for step in steps:
            name = step["Name"]
            needs = set(step.get("DependsOn", [])) | references(step.get("Arguments", {}))
            for key in QUALITY_CHECK_FIELDS:
                needs |= references(step.get(key))
            if branch:
                needs.add(branch[0])
            needs.discard(name)
            nodes[name] = StepNode(name, step, frozenset(needs), branch)
            if step["Type"] == "Condition":
                add(step["Arguments"].get("IfSteps", []), (name, True))
                add(step["Arguments"].get("ElseSteps", []), (name, False))

    add(definition.get("Steps", []), None)
    for node in nodes.values():
        unknown = node.needs - set(nodes)
        if unknown:
            raise ValueError(f"step {node.name} depends on unknown step(s): {', '.join(sorted(unknown))}")
    return nodes


def typed_parameters(definition: dict, overrides: dict[str, str]) -> dict:
    """Parameter values: defaults of the definition, overridden (and converted) by ``--param``."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)}; declared: {', '.join(sorted(declared))}")
    values = {}
    for name, spec in declared.items():
        raw = overrides.get(name, spec.get("DefaultValue"))
        kind = spec.get("Type", "String")
        try:
            if raw is None:
                raise ValueError("no value and no default")
            values[name] = parameter_value(kind, raw)
        except ValueError as exc:
            raise UsageError(f"parameter {name} must be {kind}, got {raw!r} ({exc})") from exc
    return values


def new_execution_id() -> str:
    """A fresh execution id: 12 lowercase letters and digits."""
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=12))
