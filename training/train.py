"""Train step: script-mode XGBoost training for the SageMaker XGBoost framework container.

The container runs ``python train.py --num_round 300 --max_depth 5 ...`` (hyperparameters as command-line
arguments, all strings) with ``SM_MODEL_DIR``, ``SM_CHANNEL_TRAIN``, ``SM_CHANNEL_VALIDATION``,
``SM_CHANNEL_TRANSFORM`` and ``SM_OUTPUT_DATA_DIR`` in the environment. The model directory it leaves is
everything an endpoint needs: ``xgboost-model.json`` (the booster as XGBoost JSON, never a pickle, cut at the
best iteration), ``transform.json`` (the Preprocess step's, plus the serving ``input_policy`` from the
``allow_non_finite`` and ``allow_empty_records`` hyperparameters) and the serving handler in ``code/``
(``HANDLER_FILES``: ``inference.py`` and the sibling modules it imports).

Imports only the standard library, numpy, pandas, xgboost and ``hyperparameters.py`` (the rules the
configuration also checks at load, staged next to this script); Python 3.10 compatible.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xgboost as xgb

if TYPE_CHECKING or __package__:  # imported from the repository as training.train (mypy checks this branch)
    from .hyperparameters import POLICY_FLAGS, TrainingError, TrainParams, parse_args, parse_hyperparameters
    from .multihost import Cluster, ClusterError, collective_ring, global_sum, read_cluster, validation_share
else:  # the container runs train.py as a script from the flat sourcedir.tar.gz
    from hyperparameters import POLICY_FLAGS, TrainingError, TrainParams, parse_args, parse_hyperparameters
    from multihost import Cluster, ClusterError, collective_ring, global_sum, read_cluster, validation_share

logger = logging.getLogger(__name__)

MODEL_FILE = "xgboost-model.json"
TRANSFORM_FILE = "transform.json"
HANDLER_FILES = ("inference.py", "feature_transform.py", "handler_input.py")  # the handler and its siblings


@dataclass(frozen=True)
class TrainResult:
    """What training produced: the model file, where it stopped and its scores at the best iteration."""

    model_path: str
    best_iteration: int
    num_boosted_rounds: int
    eval_metric: str
    validation_score: float
    train_score: float
    train_rows: int
    validation_rows: int


def read_split(
    directory: str | os.PathLike, name: str, empty_width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, features) from the headerless CSV files of a channel (``<name>.csv`` or every ``*.csv``, in name
    order). An empty file holds no rows (Preprocess writes empty shards when the split has fewer rows than files).

    A channel without rows is an error, unless ``empty_width`` is given: then it is no rows of that many features
    (a host of a distributed job whose shard of the train channel is empty or holds only empty files).
    """
    root = Path(directory)
    files = [root / f"{name}.csv"] if (root / f"{name}.csv").is_file() else sorted(root.glob("*.csv"))
    frames = [frame for frame in (_read_rows(path) for path in files) if frame is not None]
    if not frames and empty_width is not None:
        return np.empty(0), np.empty((0, empty_width))
    if not frames:
        found = f"the {len(files)} .csv file(s) in {root} are empty" if files else f"expected {root / (name + '.csv')}"
        raise TrainingError(f"No {name} data: {found} (target first, no header)")
    data = pd.concat(frames, ignore_index=True).to_numpy()
    if data.shape[1] < 2:
        raise TrainingError(f"{files[0]} has {data.shape[1]} column(s): expected the target and at least one feature")
    labels, features = data[:, 0], data[:, 1:]
    if np.isnan(labels).any():
        raise TrainingError(f"{name} data has {int(np.isnan(labels).sum())} row(s) with no target in {root}")
    return labels, features


def _read_rows(path: Path) -> pd.DataFrame | None:
    """One headerless numeric CSV file; None when it holds nothing (no bytes, or blank lines only)."""
    try:
        return pd.read_csv(path, header=None, dtype=np.float64)
    except pd.errors.EmptyDataError:
        return None
    except ValueError as exc:
        raise TrainingError(f"{path} must hold only numbers (target first, no header): {exc}") from None


def handler_sources(search: Sequence[Path] | None = None) -> Path:
    """The directory holding the ``HANDLER_FILES``: next to this script (the staged training tarball is flat),
    else the repository's ``inference/``."""
    here = Path(__file__).resolve().parent
    for directory in search or (here, here.parent / "inference"):
        if all((directory / f).is_file() for f in HANDLER_FILES):
            return directory
    raise TrainingError(f"Cannot find {' and '.join(HANDLER_FILES)} next to {here} or in {here.parent / 'inference'}")


def _transform(transform_dir: str | os.PathLike) -> tuple[Path, dict]:
    path = Path(transform_dir) / TRANSFORM_FILE
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"Feature transform not found: expected {path} (written by the Preprocess step)") from None
    except json.JSONDecodeError as exc:
        raise TrainingError(f"{path} is not valid JSON: {exc}") from None


def train(
    train_dir: str | os.PathLike,
    validation_dir: str | os.PathLike,
    transform_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    params: TrainParams | Mapping[str, str],
    output_data_dir: str | os.PathLike | None = None,
    source_dir: str | os.PathLike | None = None,
    cluster: Cluster | None = None,
) -> TrainResult:
    """Train with early stopping on the validation split and write a self-contained model directory.

    ``params`` is a TrainParams or the hyperparameters as strings. ``output_data_dir`` receives
    ``training_metrics.json``; ``source_dir`` overrides where the handler files are copied from. With a
    ``cluster`` of several hosts, this host trains on its shard of ``train_dir`` in the cluster's XGBoost ring
    (training/multihost.py), scores its share of the validation rows (``validation_share``), and only the first
    host writes the model and the metrics file.
    """
    if not isinstance(params, TrainParams):
        params = parse_hyperparameters(params)
    cluster = cluster or Cluster()
    transform_path, transform = _transform(transform_dir)
    sources = handler_sources([Path(source_dir)] if source_dir else None)
    with collective_ring(cluster):
        (y_train, x_train), (y_valid, x_valid) = _load(
            train_dir, validation_dir, transform_path, transform, params, cluster
        )
        train_rows = int(global_sum([len(y_train)], cluster)[0])
        scored = validation_share(len(y_valid), params.metric, cluster)
        logger.info(
            "%s trains on %d of the %d train row(s) and scores %d of the %d validation row(s)",
            *(cluster.current_host, len(y_train), train_rows, scored.stop - scored.start, len(y_valid)),
        )
        if train_rows == 0:
            raise TrainingError(f"No host of {', '.join(cluster.hosts)} received train data")
        dvalid = xgb.DMatrix(x_valid[scored], label=y_valid[scored])  # every host's share: the metric's sums add up
        booster, history = _fit(params, xgb.DMatrix(x_train, label=y_train), dvalid)
    rounds = booster.num_boosted_rounds()
    scores = history["validation"][params.metric]
    best = booster.best_iteration if params.early_stopping_rounds else rounds - 1
    booster = booster[: best + 1]  # keep the best trees only: every consumer then predicts the same thing

    model = Path(model_dir)
    if cluster.is_leader:
        _write_model(model, booster, transform, params, sources)
    result = TrainResult(
        model_path=str(model / MODEL_FILE) if cluster.is_leader else "",
        best_iteration=best,
        num_boosted_rounds=best + 1,
        eval_metric=params.metric,
        validation_score=float(scores[best]),
        train_score=float(history["train"][params.metric][best]),
        train_rows=train_rows,
        validation_rows=len(y_valid),
    )
    _report(result, params, rounds, output_data_dir if cluster.is_leader else None)
    return result


def _fit(params: TrainParams, dtrain: xgb.DMatrix, dvalid: xgb.DMatrix) -> tuple[xgb.Booster, dict]:
    """Boost with early stopping on the validation split; the booster and the metrics of every round."""
    history: dict = {}
    booster = xgb.train(
        params.booster_params(),
        dtrain,
        num_boost_round=params.num_round,
        evals=[(dtrain, "train"), (dvalid, "validation")],
        early_stopping_rounds=params.early_stopping_rounds or None,
        evals_result=history,
        verbose_eval=False,
    )
    return booster, history


def _load(
    train_dir: str | os.PathLike,
    validation_dir: str | os.PathLike,
    transform_path: Path,
    transform: dict,
    params: TrainParams,
    cluster: Cluster,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """This host's train shard and the validation split, checked; with several hosts, every host fails together
    when one host's data is bad (a host leaving the ring alone would leave the others waiting)."""
    width = len(transform.get("feature_names", [])) if cluster.distributed else None
    error: TrainingError | None = None
    try:
        train_split = read_split(train_dir, "train", width)
        validation_split = read_split(validation_dir, "validation")
        _check_splits(transform_path, transform, params, {"train": train_split, "validation": validation_split})
    except TrainingError as exc:
        error = exc
    failed = int(global_sum([1.0 if error else 0.0], cluster)[0])
    if error is not None:
        raise error
    if failed:
        raise TrainingError(f"{failed} other host(s) of {', '.join(cluster.hosts)} could not read their data")
    return train_split, validation_split


def _report(result: TrainResult, params: TrainParams, rounds: int, output_data_dir: str | os.PathLike | None) -> None:
    """The scores as a log line SageMaker's metric definitions read, and training_metrics.json if asked for."""
    # the SageMaker metric-definition style, e.g. regex "validation-rmse:([0-9.]+)"
    m, best = params.metric, result.best_iteration
    logger.info(
        f"[{best}] train-{m}:{result.train_score:.6f} validation-{m}:{result.validation_score:.6f} (of {rounds})"
    )
    if output_data_dir is not None:
        out = Path(output_data_dir)
        out.mkdir(parents=True, exist_ok=True)
        metrics = {**asdict(result), "hyperparameters": asdict(params), "rounds_trained": rounds}
        (out / "training_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def _check_splits(
    transform_path: Path, transform: dict, params: TrainParams, splits: dict[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    """Every split has the transform's feature columns, and 0/1 targets for binary:logistic; else TrainingError."""
    width = len(transform.get("feature_names", []))
    for name, (labels, matrix) in splits.items():
        if matrix.shape[1] != width:
            raise TrainingError(
                f"The {name} data has {matrix.shape[1]} feature column(s) but {transform_path} describes {width}"
            )
        if params.objective == "binary:logistic" and not np.isin(labels, (0.0, 1.0)).all():
            bad = labels[~np.isin(labels, (0.0, 1.0))][0]
            raise TrainingError(f"binary:logistic needs 0/1 targets, but the {name} data holds {bad!r}")


def _write_model(model: Path, booster: xgb.Booster, transform: dict, params: TrainParams, sources: Path) -> Path:
    """The model directory: the booster, transform.json with the serving input policy, the handler in code/."""
    (model / "code").mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model / MODEL_FILE))
    policy = {name: getattr(params, name) for name in POLICY_FLAGS}
    text = json.dumps({**transform, "input_policy": policy}, indent=2) + "\n"
    (model / TRANSFORM_FILE).write_text(text, encoding="utf-8")
    for name in HANDLER_FILES:
        shutil.copyfile(sources / name, model / "code" / name)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """Container entry: hyperparameters from the command line, directories from the SM_* environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ
    failure = Path(env.get("SM_OUTPUT_DIR", "/opt/ml/output")) / "failure"
    try:
        params = parse_hyperparameters(parse_args(argv))
        cluster = read_cluster(env)
        logger.info("Hyperparameters: %s", asdict(params))
        logger.info("Host %s of %s", cluster.current_host, ", ".join(cluster.hosts))
        train(
            env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"),
            env.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"),
            env.get("SM_CHANNEL_TRANSFORM", "/opt/ml/input/data/transform"),
            env.get("SM_MODEL_DIR", "/opt/ml/model"),
            params,
            output_data_dir=env.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"),
            cluster=cluster,
        )
    except (TrainingError, ClusterError) as exc:
        logger.error("%s", exc)
        _write_failure(failure, str(exc))
        return 1
    except Exception as exc:
        _write_failure(failure, f"Training failed unexpectedly: {type(exc).__name__}: {exc}")
        raise
    return 0


def _write_failure(path: Path, message: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message[:1024] + "\n", encoding="utf-8")
    except OSError as exc:
        logger.warning("Could not write the failure message to %s: %s", path, exc)


if __name__ == "__main__":
    sys.exit(main())
