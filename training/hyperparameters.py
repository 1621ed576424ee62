"""The Train step's hyperparameters: names, types and bounds, parsed from the strings CreateTrainingJob passes.

The one copy of these rules: ``train.py`` applies them in the container (values given at StartPipelineExecution
bypass the configuration file) and the configuration applies them at load, so a typo fails before any step runs.
Standard library only (importing it costs nothing, unlike xgboost); Python 3.10 compatible. Staged next to
``train.py`` in the flat ``sourcedir.tar.gz``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_errors import MlopsError

# An upper bound of ours, not an AWS limit: each round adds a tree, and 100,000 trees of the default depth are
# already a model of hundreds of MB (serving.max_model_mib caps its extracted size at 2 GiB by default).
MAX_NUM_ROUND = 100_000
POLICY_FLAGS = ("allow_non_finite", "allow_empty_records")  # feature_transform.InputPolicy, under "input_policy"
OBJECTIVES = {"reg:squarederror": "rmse", "binary:logistic": "logloss"}
EVAL_METRICS = {
    "reg:squarederror": ("rmse", "mae", "mape", "rmsle"),
    "binary:logistic": ("logloss", "auc", "aucpr", "error"),
}


class TrainingError(MlopsError, ValueError):
    """Bad hyperparameters or training data; the message says what was expected and what was received."""


@dataclass(frozen=True)
class TrainParams:
    """The supported hyperparameters, typed (CreateTrainingJob passes them as strings)."""

    objective: str = "reg:squarederror"
    num_round: int = 100
    max_depth: int = 6
    eta: float = 0.3
    subsample: float = 1.0
    min_child_weight: float = 1.0
    colsample_bytree: float = 1.0
    early_stopping_rounds: int = 10
    eval_metric: str | None = None  # default: rmse for regression, logloss for binary
    seed: int = 0
    nthread: int = 0  # 0: every available core
    allow_non_finite: bool = False  # serving: inf/NaN feature values answered, not refused (400)
    allow_empty_records: bool = False  # serving: records with every feature missing answered, not refused

    @property
    def metric(self) -> str:
        """The evaluation metric used for early stopping."""
        return self.eval_metric or OBJECTIVES[self.objective]

    def booster_params(self) -> dict[str, object]:
        """The parameters as ``xgboost.train`` takes them."""
        return {
            "objective": self.objective,
            "max_depth": self.max_depth,
            "eta": self.eta,
            "subsample": self.subsample,
            "min_child_weight": self.min_child_weight,
            "colsample_bytree": self.colsample_bytree,
            "eval_metric": self.metric,
            "seed": self.seed,
            "tree_method": "hist",
            **({"nthread": self.nthread} if self.nthread > 0 else {}),
        }


def _number(name: str, text: str, kind: type, low: float, high: float, low_open: bool = False) -> int | float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        expected = "an integer" if kind is int else "a number"
        raise TrainingError(f"Hyperparameter {name} must be {expected}, got {text!r}") from None
    if not math.isfinite(value):  # NaN compares False with any bound
        raise TrainingError(f"Hyperparameter {name} must be a finite number, got {text!r}")
    if value < low or value > high or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise TrainingError(f"Hyperparameter {name} must be in {bracket}{low}, {high}], got {text!r}")
    return value


def parse_hyperparameters(values: Mapping[str, str]) -> TrainParams:
    """Typed, validated hyperparameters from their string form; TrainingError names the bad or unknown one."""
    known = set(TrainParams.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainingError(
            f"Unknown hyperparameter(s): {', '.join(unknown)}; supported: {', '.join(TrainParams.__dataclass_fields__)}"
        )
    inf = float("inf")
    v = {k: str(x).strip() for k, x in values.items()}
    objective = v.get("objective", TrainParams.objective)
    if objective not in OBJECTIVES:
        raise TrainingError(f"Hyperparameter objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    metric = v.get("eval_metric") or None
    if metric is not None and metric not in EVAL_METRICS[objective]:
        raise TrainingError(
            f"Hyperparameter eval_metric must be one of {', '.join(EVAL_METRICS[objective])} for {objective}, "
            f"got {metric!r}"
        )
    spec = {
        "num_round": (int, 1, MAX_NUM_ROUND, False),
        "max_depth": (int, 0, inf, False),
        "eta": (float, 0.0, 1.0, True),
        "subsample": (float, 0.0, 1.0, True),
        "min_child_weight": (float, 0.0, inf, False),
        "colsample_bytree": (float, 0.0, 1.0, True),
        "early_stopping_rounds": (int, 0, inf, False),
        "seed": (int, 0, 2**31 - 1, False),
        "nthread": (int, 0, 1024, False),
    }
    typed: dict[str, Any] = {name: _number(name, v[name], *rule) for name, rule in spec.items() if name in v}
    for name in POLICY_FLAGS:
        if name in v and v[name].lower() not in ("true", "false"):
            raise TrainingError(f"Hyperparameter {name} must be true or false, got {v[name]!r}")
    flags = {name: v[name].lower() == "true" for name in POLICY_FLAGS if name in v}
    return TrainParams(objective=objective, eval_metric=metric, **typed, **flags)


def parse_args(argv: Sequence[str] | None) -> dict[str, str]:
    """``--name value`` pairs (also ``--name=value``) as given by the container; TrainingError on anything else."""
    args = list(sys.argv[1:] if argv is None else argv)
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) == 2:
            raise TrainingError(f"Expected --name value pairs of hyperparameters, got {token!r}")
        name, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise TrainingError(f"Hyperparameter --{name} has no value")
            value, i = args[i + 1], i + 1
        values[name.replace("-", "_")] = value
        i += 1
    return values
