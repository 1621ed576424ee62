"""``mlops monitor baseline --kind model-quality``: Model Monitor's model-quality baseline of a labelled CSV."""

from __future__ import annotations

import argparse

from mlops_errors import MlopsError
from pipelines.objectstore import local_path

MODEL_QUALITY_OPTIONS = (
    "problem_type",
    "ground_truth_attribute",
    "inference_attribute",
    "probability_attribute",
    "probability_threshold",
    "margin",
)


class BaselineOptionsError(MlopsError, ValueError):
    """``mlops monitor baseline`` options that do not go together."""


def add_model_quality_options(parser: argparse.ArgumentParser) -> None:
    """The ``--kind`` switch and the model-quality options of ``mlops monitor baseline``."""
    parser.add_argument(
        "--kind",
        choices=("data-quality", "model-quality"),
        default="data-quality",
        help="data quality (feature statistics, default) or model quality (labels against predictions)",
    )
    group = parser.add_argument_group("model quality (--kind model-quality)")
    group.add_argument("--problem-type", choices=("regression", "binary"), help="the model's problem type")
    group.add_argument("--ground-truth-attribute", help="CSV column of the ground truth (label)")
    group.add_argument("--inference-attribute", help="CSV column of the prediction (binary: the predicted label)")
    group.add_argument("--probability-attribute", help="binary: CSV column of the probability of the positive class")
    group.add_argument(
        "--probability-threshold",
        type=float,
        default=None,
        help="binary: a probability at or above it predicts the positive class (default 0.5)",
    )
    group.add_argument(
        "--margin",
        type=float,
        default=None,
        help="suggested thresholds: the baseline value worsened by this fraction of it (default 0, as Model Monitor)",
    )


def _given(args: argparse.Namespace) -> list[str]:
    return [f"--{name.replace('_', '-')}" for name in MODEL_QUALITY_OPTIONS if getattr(args, name, None) is not None]


def check_kind_options(args: argparse.Namespace) -> None:
    """Model-quality options only with ``--kind model-quality``, and its three required ones there; the probability
    options only for a binary problem (a regression would ignore them, silently)."""
    if args.kind != "model-quality":
        given = _given(args)
        if given:
            raise BaselineOptionsError(
                f"{', '.join(given)} must come with --kind model-quality, got --kind {args.kind}"
            )
        return
    missing = [
        f"--{name.replace('_', '-')}"
        for name in ("problem_type", "ground_truth_attribute", "inference_attribute")
        if not getattr(args, name)
    ]
    if missing:
        raise BaselineOptionsError(f"--kind model-quality needs {', '.join(missing)}")
    binary_only = [
        f"--{name.replace('_', '-')}"
        for name in ("probability_attribute", "probability_threshold")
        if getattr(args, name, None) is not None
    ]
    if binary_only and args.problem_type != "binary":
        raise BaselineOptionsError(
            f"{', '.join(binary_only)}: for binary classification only (--problem-type binary), got --problem-type "
            f"{args.problem_type}"
        )
    if getattr(args, "header", None) is False or getattr(args, "format", None) not in (None, "csv"):
        raise BaselineOptionsError("--kind model-quality reads a CSV with a header line: drop --no-header and --format")


def model_quality_baseline(args: argparse.Namespace) -> int:
    """Write statistics.json and constraints.json of a labelled CSV; print where."""
    from monitoring.model_quality_job import run_model_quality_baseline

    check_kind_options(args)
    result = run_model_quality_baseline(
        local_path(args.dataset, args.state_dir),
        local_path(args.output, args.state_dir),
        problem_type=args.problem_type,
        ground_truth_attribute=args.ground_truth_attribute,
        inference_attribute=args.inference_attribute,
        probability_attribute=args.probability_attribute,
        probability_threshold=0.5 if args.probability_threshold is None else args.probability_threshold,
        margin=0.0 if args.margin is None else args.margin,
    )
    print(f"Model-quality baseline ({args.problem_type}) of {result.item_count} records")
    for path in result.paths.values():
        print(f"  {path}")
    return 0
