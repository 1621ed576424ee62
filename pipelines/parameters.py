"""The pipeline's parameters: the one declaration of their names, types and defaults, known without the SDK.

The definition builds its SDK ``Parameter*`` objects from ``parameter_specs`` (``pipelines.definition.context``),
and ``--param Name=value`` (``mlops run``, ``run-pipeline``) is checked against the same list before any definition
is built: an unknown name or a value of the wrong type fails at once, not after the SDK's import and the build.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pipelines.config import Config, ConfigError
from pipelines.config_rules import (
    INSTANCE_TYPE_EXPECTED,
    S3_URI_EXPECTED,
    hyperparameter_error,
    is_instance_type,
    is_s3_uri,
)
from pipelines.local.expressions import parameter_value
from processing.shards import MAX_INSTANCE_COUNT, SHARD_FILES

APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")
PENDING = APPROVAL_STATUSES[0]
# the model-monitor engine's QualityCheck steps: SageMaker's own switches, one set per check type. A first run
# skips the checks (there is no approved baseline to check against yet) and registers the new baselines.
DATA_QUALITY_SWITCHES = ("SkipDataQualityCheck", "RegisterNewDataQualityBaseline", "FailOnDataQualityViolation")
MODEL_QUALITY_SWITCHES = ("SkipModelQualityCheck", "RegisterNewModelQualityBaseline")
# at most MAX_INSTANCE_COUNT instances: Preprocess writes the sharded data as SHARD_FILES (= 2x) objects
INSTANCE_COUNTS = {
    "ProcessingInstanceCount": "sagemaker.processing_instance_count",
    "TrainingInstanceCount": "sagemaker.training_instance_count",
}
INSTANCE_TYPES = ("ProcessingInstanceType", "TrainingInstanceType")  # checked as sagemaker.*_instance_type


@dataclass(frozen=True)
class ParameterSpec:
    """One pipeline parameter: its stable name, its type and its default (None: set when the definition is built,
    i.e. ``InputDataUrl``'s staged copy of a local file)."""

    name: str
    kind: str  # "String", "Float", "Integer" or "Boolean", as in the definition's JSON
    default: str | float | int | bool | None


def hyperparameter_parameter_name(key: str) -> str:
    """``max_depth`` -> ``MaxDepth``: the pipeline Parameter carrying a hyperparameter."""
    return "".join(part.capitalize() for part in key.split("_"))


def parameter_specs(config: Config, input_data: str | None = None) -> list[ParameterSpec]:
    """Every parameter the definition declares for ``config``, in declaration order, with its default.

    ``input_data``: the default of ``InputDataUrl`` (the definition passes it; checking ``--param`` needs none)."""
    sm = config.sagemaker  # its instance counts are at most MAX_INSTANCE_COUNT (pipelines.config.InstanceCount)
    specs = [
        ParameterSpec("InputDataUrl", "String", input_data),
        ParameterSpec("GateThreshold", "Float", config.gate.threshold),
        ParameterSpec("ModelApprovalStatus", "String", PENDING),
        ParameterSpec("ProcessingInstanceType", "String", sm.processing_instance_type),
        ParameterSpec("ProcessingInstanceCount", "Integer", sm.processing_instance_count),
        ParameterSpec("TrainingInstanceType", "String", sm.training_instance_type),
        ParameterSpec("TrainingInstanceCount", "Integer", sm.training_instance_count),
        *(
            ParameterSpec(hyperparameter_parameter_name(key), "String", value)
            for key, value in config.training.hyperparameters.items()
        ),
    ]
    if config.monitoring.engine == "model-monitor":
        specs += [ParameterSpec(name, "Boolean", True) for name in DATA_QUALITY_SWITCHES]
        if config.monitoring.model_quality.enabled:
            specs += [ParameterSpec(name, "Boolean", True) for name in MODEL_QUALITY_SWITCHES]
    return specs


def declared_parameters(config: Config) -> dict[str, str]:
    """Name -> type ("String", "Float", "Integer", "Boolean") of every parameter the definition declares."""
    return {spec.name: spec.kind for spec in parameter_specs(config)}


def _too_many(count: int) -> str:
    return (
        f"must be at most {MAX_INSTANCE_COUNT} (the largest supported instance count: Preprocess writes the train "
        f"and baseline data as {SHARD_FILES} objects for the hosts to share), got {count}"
    )


_EXPECTED = {
    "Integer": "an integer >= 1",
    "Float": "a number",
    "Boolean": "true or false",
    "String": "a non-empty string",
}


def _type_problem(name: str, kind: str, value: str) -> str | None:
    """Why ``value`` is no value of the parameter ``name`` (read as the local runner reads it), or None."""
    problem = f"--param {name}: must be {_EXPECTED.get(kind, _EXPECTED['String'])}, got {value!r}"
    try:
        typed = parameter_value(kind, value)
    except ValueError:
        return problem
    if kind == "Integer" and not (isinstance(typed, int) and typed >= 1):
        return problem
    if kind == "Float" and not math.isfinite(float(typed)):
        # NaN compares false with every metric, inf (also 1e999) always the same way: GateThreshold=inf passes any model
        return f"--param {name}: must be a finite number, got {value!r}"
    if name in INSTANCE_COUNTS and isinstance(typed, int) and typed > MAX_INSTANCE_COUNT:
        return f"--param {name}: {_too_many(typed)}"
    if kind == "String" and not typed:
        return problem
    return _value_problem(name, str(typed))


def _value_problem(name: str, value: str) -> str | None:
    """The configuration's own rule for the setting a String parameter stands for (instance types, an s3:// input)."""
    if name in INSTANCE_TYPES and not is_instance_type(value):
        return f"--param {name}: must be {INSTANCE_TYPE_EXPECTED}, got {value!r}"
    if name == "InputDataUrl" and value.startswith("s3://") and not is_s3_uri(value):
        return f"--param {name}: must be a local path or {S3_URI_EXPECTED}, got {value!r}"
    return None


def check_params(params: Mapping[str, str], config: Config) -> None:
    """Every ``--param`` names a declared parameter and has a value of its type; ConfigError lists each problem."""
    declared = declared_parameters(config)
    problems = []
    unknown = sorted(set(params) - set(declared))
    if unknown:
        problems.append(f"--param: unknown parameter(s) {', '.join(unknown)}; declared: {', '.join(sorted(declared))}")
    for name, value in params.items():
        if name in declared and (problem := _type_problem(name, declared[name], value)):
            problems.append(problem)
    if "ModelApprovalStatus" in params and params["ModelApprovalStatus"] not in APPROVAL_STATUSES:
        got = params["ModelApprovalStatus"]
        problems.append(f"--param ModelApprovalStatus: must be one of {', '.join(APPROVAL_STATUSES)}, got {got!r}")
    # hyperparameters travel as strings: the training script's own rules (and the configuration's additions: finite
    # floats, a bounded num_round) say which strings it takes
    training = {"objective": config.training.objective, "eval_metric": config.training.eval_metric}
    for key in config.training.hyperparameters:
        name = hyperparameter_parameter_name(key)
        if name in params and (error := hyperparameter_error(training, key, params[name])):
            problems.append(f"--param {name}: {error}")
    found = [p for p in problems if p]
    if found:
        raise ConfigError("\n".join(found))
