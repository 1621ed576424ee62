"""Cross-field rules of the configuration, as pydantic after-validators of the section holding the fields, and the
rules of AWS names and limits that single fields and the command-line options standing for them share.

Each rule collects every problem of its section and raises them together (``check``). The hyperparameter
rules are the training script's own (training/hyperparameters.py), applied at load so a typo fails before any
step runs; the script applies them again to values given at StartPipelineExecution. ``hyperparameter_error`` adds
what the script does not check yet: a finite value for every float hyperparameter (NaN passes its range checks, as
every comparison with NaN is false) and an upper bound on ``num_round``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import Field

from monitoring.model_quality_constraints import CONSTRAINED
from pipelines.config_values import Expect, Problem, check, expect_value
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
_NAMED = re.compile(r"^Hyperparameter (\w+) ")

# -- AWS names and limits ---------------------------------------------------------------------------------------
# Pipeline, model package group and endpoint names (CreatePipeline, CreateModelPackageGroup, CreateEndpoint). An
# endpoint name also names the local endpoint's state file and model directory: the pattern keeps them inside the
# state directory (no "/", "." or "..").
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
NAME_EXPECTED = "1-63 letters, digits or hyphens"
_NAME = re.compile(NAME_PATTERN)
Name = Annotated[str, Field(strict=True, pattern=NAME_PATTERN), Expect(NAME_EXPECTED)]

# S3 general purpose bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
# 3-63 lowercase letters, digits, dots and hyphens, a letter or digit first and last, no two adjacent dots, not an
# IP address, not starting with the reserved prefixes. The reserved suffixes (-s3alias, --ol-s3, --x-s3, .mrap ...)
# stay allowed: access point aliases and directory buckets stand where a bucket name does.
BUCKET_EXPECTED = (
    "an S3 bucket name (3-63 lowercase letters, digits, dots or hyphens; a letter or digit first and last)"
)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_URI_EXPECTED = "an s3://<bucket>/<key> URI naming a valid S3 bucket"

# ml.<family>.<size>, e.g. ml.m5.xlarge, ml.g4dn.12xlarge, ml.p4de.24xlarge (CreateProcessingJob / CreateTrainingJob
# / CreateEndpointConfig InstanceType)
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z][a-z0-9]*(-[a-z0-9]+)*\.[a-z0-9]+$"
INSTANCE_TYPE_EXPECTED = "a SageMaker instance type ml.<family>.<size> such as ml.m5.xlarge"
_INSTANCE_TYPE = re.compile(INSTANCE_TYPE_PATTERN)
InstanceType = Annotated[str, Field(strict=True, pattern=INSTANCE_TYPE_PATTERN), Expect(INSTANCE_TYPE_EXPECTED)]

# One setting limits both the processing and the training jobs: ProcessingStoppingCondition.MaxRuntimeInSeconds is
# at most 777,600 (9 days), the training StoppingCondition's at most 2,419,200 (28 days); the smaller one holds.
MAX_RUNTIME_SECONDS = 777_600
# SageMaker Pipelines' RetryPolicy MaxAttempts is 1 to 20 (the SDK's MAX_ATTEMPTS_CAP); a step makes
# retry_attempts + 1 attempts (pipelines/definition/context.py).
MAX_RETRY_ATTEMPTS = 19
# Preprocess keys its split hash (BLAKE2b, processing/split.py) with the seed's decimal text; a BLAKE2b key is at
# most 64 bytes, so the seed has at most 64 digits.
MAX_SEED = 10**64 - 1


def is_name(value: str) -> bool:
    """A pipeline, model package group or endpoint name SageMaker accepts."""
    return bool(_NAME.match(value))


def is_bucket_name(value: str) -> bool:
    """An S3 bucket name by the general purpose bucket naming rules."""
    return (
        bool(_BUCKET.match(value))
        and ".." not in value
        and not _IP_ADDRESS.match(value)
        and not value.startswith(_RESERVED_PREFIXES)
    )


def is_s3_uri(value: str) -> bool:
    """``s3://<bucket>`` or ``s3://<bucket>/<key>`` with a valid bucket name."""
    return value.startswith("s3://") and is_bucket_name(value[len("s3://") :].partition("/")[0])


def is_instance_type(value: str) -> bool:
    """A SageMaker instance type, ``ml.<family>.<size>``."""
    return bool(_INSTANCE_TYPE.match(value))


def hyperparameter_error(settings: Mapping[str, str], name: str, value: Any) -> TrainingError | None:
    """Why ``value`` is no value of the hyperparameter ``name`` (``settings``: objective and eval_metric), told as
    the training script tells it (finite floats, ``num_round`` at most ``MAX_NUM_ROUND`` included), or None."""
    try:
        parse_hyperparameters({**settings, name: value})
    except TrainingError as exc:
        return exc
    return None


def data_rules(data: DataConfig) -> DataConfig:
    """A positive class for binary data and only for it, at least one feature, each feature once and never the
    target."""
    problems = []
    if data.problem_type == "binary" and data.positive_class is None:
        problems.append(Problem("positive_class", "set for binary classification", None))
    if data.problem_type != "binary" and data.positive_class is not None:
        expected = f"null for {data.problem_type} (a positive class is only meaningful for binary classification)"
        problems.append(Problem("positive_class", expected, data.positive_class))
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
        elif error := hyperparameter_error(settings, name, value):
            problems.append(_training_problem(error, f"hyperparameters.{name}"))
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
        ("serving.endpoint_name", config.endpoint_name),
    ):
        if not is_name(name):
            problems.append(Problem(path, f"{NAME_EXPECTED} (derived from project.name)", name))
    check(problems)
    return config


def data_input(value: str) -> str:
    """``data.input``: a local path, or an s3:// URI that names its bucket (``s3://`` alone is no location); another
    URL scheme (``http://``, ``file:``) would be read as a relative path and fail later under a mangled name."""
    other_scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", value) is not None and not value.startswith("s3://")
    expect_value(not other_scheme, f"a local path or {S3_URI_EXPECTED} (no other URL scheme)")
    expect_value(not value.startswith("s3://") or is_s3_uri(value), f"a local path or {S3_URI_EXPECTED}")
    return value
