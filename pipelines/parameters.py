"""The pipeline's parameters as the definition declares them, known without the SDK.

``--param Name=value`` (``mlops run``, ``run-pipeline``) is checked here before any definition is built: an
unknown name or a value of the wrong type fails at once, not after the SDK's import and the build. A test
keeps this list equal to the built definition's ``Parameters``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipelines.config import Config, ConfigError
from pipelines.definition import hyperparameter_parameter_name
from pipelines.local.expressions import parameter_value
from training.hyperparameters import TrainingError, parse_hyperparameters

APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")


def declared_parameters(config: Config) -> dict[str, str]:
    """Name -> type ("String", "Float", "Integer", "Boolean") of every parameter the definition declares."""
    declared = {
        "InputDataUrl": "String",
        "GateThreshold": "Float",
        "ModelApprovalStatus": "String",
        "ProcessingInstanceType": "String",
        "ProcessingInstanceCount": "Integer",
        "TrainingInstanceType": "String",
        "TrainingInstanceCount": "Integer",
    }
    declared.update({hyperparameter_parameter_name(key): "String" for key in config.training.hyperparameters})
    if config.monitoring.engine == "model-monitor":
        for name in ("SkipDataQualityCheck", "RegisterNewDataQualityBaseline", "FailOnDataQualityViolation"):
            declared[name] = "Boolean"
    return declared


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
    if kind == "String" and not typed:
        return problem
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
    # hyperparameters travel as strings: the training script's own rules say which strings it takes
    training = {"objective": config.training.objective, "eval_metric": config.training.eval_metric}
    for key in config.training.hyperparameters:
        name = hyperparameter_parameter_name(key)
        if name in params:
            try:
                parse_hyperparameters({**training, key: params[name]})
            except TrainingError as exc:
                problems.append(f"--param {name}: {exc}")
    found = [p for p in problems if p]
    if found:
        raise ConfigError("\n".join(found))
