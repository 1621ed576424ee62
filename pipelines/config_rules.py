"""Cross-field rules of the configuration, as pydantic after-validators of the section holding the fields.

Each rule collects every problem of its section and raises them together (``check``). The hyperparameter
rules are the training script's own (training/hyperparameters.py), applied at load so a typo fails before any
step runs; the script applies them again to values given at StartPipelineExecution.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, get_args

from monitoring.model_quality_constraints import CONSTRAINED
from pipelines.config_values import Problem, check
from training.hyperparameters import TrainingError, parse_hyperparameters

if TYPE_CHECKING:
    from pipelines.config import Config, DataConfig, SageMakerConfig, TrainingConfig

LOWER_IS_BETTER = ("mse", "rmse", "mae")
RegressionMetric = Literal["mse", "rmse", "mae", "r2"]
BinaryMetric = Literal["auc", "accuracy", "precision", "recall", "f1"]
Metric = Literal[RegressionMetric, BinaryMetric]  # gate.metric: one of either
METRICS = {"regression": get_args(RegressionMetric), "binary": get_args(BinaryMetric)}
OBJECTIVE_PREFIX = {
    "regression": ("reg:", "a regression objective (reg:squarederror)"),
    "binary": ("binary:", "a binary objective (binary:logistic)"),
}
# set elsewhere in the configuration, and passed to the Train step by the definition
NOT_HYPERPARAMETERS = {
    "objective": "training.objective",
    "eval_metric": "training.eval_metric",
    "allow_non_finite": "serving.allow_non_finite",
    "allow_empty_records": "serving.allow_empty_records",
}
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"  # pipeline, model package group and endpoint names
_NAME = re.compile(NAME_PATTERN)
_NAMED = re.compile(r"^Hyperparameter (\w+) ")


def data_rules(data: DataConfig) -> DataConfig:
    """A positive class for binary data, at least one feature, each feature once and never the target."""
    problems = []
    if data.problem_type == "binary" and data.positive_class is None:
        problems.append(Problem("positive_class", "set for binary classification", None))
    if not (data.numeric or data.categorical):
        problems.append(Problem("numeric/categorical", "at least one feature", []))
    features = [*data.numeric, *data.categorical]
    repeated = sorted({f for f in features if features.count(f) > 1} | ({data.target} & set(features)))
    if repeated:
        problems.append(Problem("", "features listed once and not including the target", repeated))
    check(problems)
    return data


def _training_problem(error: TrainingError, path: str) -> Problem:
    """The training script's own message, at the path of the value it names."""
    named = _NAMED.match(str(error))
    if named and named.group(1) in ("objective", "eval_metric"):
        path = named.group(1)
    return Problem(path, "", None, message=str(error))


def training_rules(training: TrainingConfig) -> TrainingConfig:
    """Objective, metric and every hyperparameter as training/hyperparameters.py parses them, each problem told."""
    problems = []
    settings = {"objective": training.objective, "eval_metric": training.eval_metric}
    try:
        parse_hyperparameters(settings)
    except TrainingError as exc:
        problems.append(_training_problem(exc, "objective"))
        settings = {}
    for name, value in training.hyperparameters.items():
        if name in NOT_HYPERPARAMETERS:
            problems.append(Problem(f"hyperparameters.{name}", f"set as {NOT_HYPERPARAMETERS[name]}", value))
            continue
        try:
            parse_hyperparameters({**settings, name: value})
        except TrainingError as exc:
            problems.append(_training_problem(exc, f"hyperparameters.{name}"))
    check(problems)
    return training


def sagemaker_rules(sagemaker: SageMakerConfig) -> SageMakerConfig:
    """A VPC needs both its subnets and its security groups."""
    if bool(sagemaker.subnets) != bool(sagemaker.security_group_ids):
        got = {"subnets": list(sagemaker.subnets), "security_group_ids": list(sagemaker.security_group_ids)}
        check([Problem("subnets/security_group_ids", "both set or both empty", got)])
    return sagemaker


def config_rules(config: Config) -> Config:
    """The gate metric, the alarmed model-quality metrics and the objective fit the problem type; derived names are
    names AWS accepts."""
    problems = []
    problem_type = config.data.problem_type
    metrics = METRICS[problem_type]
    if config.gate.metric not in metrics:
        problems.append(Problem("gate.metric", f"one of {', '.join(metrics)} for {problem_type}", config.gate.metric))
    alarmable = CONSTRAINED[problem_type]  # the metrics a model-quality baseline constrains for this problem type
    for index, metric in enumerate(config.monitoring.model_quality.alarmed_metrics):
        if metric not in alarmable:
            expected = f"a model-quality metric of {problem_type} ({', '.join(alarmable)})"
            problems.append(Problem(f"monitoring.model_quality.alarmed_metrics.{index}", expected, metric))
    prefix, objective = OBJECTIVE_PREFIX[problem_type]
    if not config.training.objective.startswith(prefix):
        expected = f"{objective} for {'binary classification' if problem_type == 'binary' else problem_type}"
        problems.append(Problem("training.objective", expected, config.training.objective))
    for path, name in (
        ("sagemaker.pipeline_name", config.pipeline_name),
        ("sagemaker.model_package_group", config.model_package_group),
    ):
        if not _NAME.match(name):
            problems.append(Problem(path, "1-63 letters, digits or hyphens (derived from project.name)", name))
    check(problems)
    return config
