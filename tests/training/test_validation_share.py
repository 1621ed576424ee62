"""Each host of a distributed training scores only its share of the replicated validation set when XGBoost sums the
metric across the ring (training.multihost.validation_share), and every row for auc / aucpr, which XGBoost only
approximates across hosts. The oracle: the score the job reports equals scikit-learn's metric of the saved model
on the whole validation set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

from tests.training.hosts import run_job, wait_all
from tests.training.steps import SMALL, prepared
from training.hyperparameters import EVAL_METRICS
from training.multihost import SUMMED_METRICS, Cluster, validation_share

JOB_TIMEOUT = 180.0
HOSTS = ("algo-1", "algo-2")


def cluster(hosts: int, rank: int) -> Cluster:
    names = tuple(f"algo-{i + 1}" for i in range(hosts))
    return Cluster(names, names[rank])


@pytest.mark.parametrize("hosts", [1, 2, 3, 8])
@pytest.mark.parametrize("rows", [0, 1, 2, 7, 835])
def test_summed_metrics_split_the_rows_into_disjoint_shares(hosts, rows):
    shares = [validation_share(rows, "rmse", cluster(hosts, rank)) for rank in range(hosts)]
    covered = [i for share in shares for i in range(rows)[share]]
    assert covered == list(range(rows))  # every row once, in order
    sizes = [share.stop - share.start for share in shares]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("metric", ["auc", "aucpr"])
def test_rank_metrics_and_single_hosts_score_every_row(metric):
    assert validation_share(835, metric, cluster(2, 1)) == slice(0, 835)
    assert validation_share(835, "rmse", cluster(1, 0)) == slice(0, 835)


def test_every_supported_metric_is_classified():
    """A metric added to the hyperparameters must be placed: summed by XGBoost, or one of the rank metrics."""
    supported = {m for metrics in EVAL_METRICS.values() for m in metrics}
    assert supported - SUMMED_METRICS == {"auc", "aucpr"}


def two_host_job(root: Path, data: Path, hyperparameters: dict[str, str]) -> tuple[dict, list[str]]:
    """Train on two hosts (train files shared out alternately); the leader's training_metrics.json and each
    host's log."""
    files = sorted((data / "train").glob("*.csv"))
    hosts = run_job(root, {"algo-1": files[0::2], "algo-2": files[1::2]}, data, hyperparameters)
    codes = wait_all(hosts, JOB_TIMEOUT)
    logs = [h.log.read_text(encoding="utf-8", errors="replace") for h in hosts]
    assert codes == {"algo-1": 0, "algo-2": 0}, [log[-2000:] for log in logs]
    metrics = json.loads((hosts[0].base / "output" / "data" / "training_metrics.json").read_text(encoding="utf-8"))
    metrics["model"] = hosts[0].model_dir / "xgboost-model.json"
    return metrics, logs


def whole_validation(data: Path, model: Path) -> tuple[np.ndarray, np.ndarray]:
    """The validation labels and the saved (best-iteration) model's predictions on every validation row."""
    rows = np.loadtxt(data / "validation" / "validation.csv", delimiter=",", ndmin=2)
    booster = xgb.Booster(model_file=str(model))
    return rows[:, 0], booster.predict(xgb.DMatrix(rows[:, 1:]))


@pytest.fixture(scope="module")
def regression(tmp_path_factory) -> Path:
    return prepared(tmp_path_factory.mktemp("regression"))


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    return prepared(tmp_path_factory.mktemp("binary"), binary=True)


def test_two_hosts_scoring_halves_report_the_whole_validation_sets_rmse(regression, tmp_path):
    metrics, logs = two_host_job(tmp_path, regression, SMALL)
    labels, predictions = whole_validation(regression, metrics["model"])
    assert metrics["validation_score"] == pytest.approx(root_mean_squared_error(labels, predictions), rel=1e-6)
    rows = metrics["validation_rows"]
    assert rows == len(labels)
    assert "algo-1 trains on" in logs[0] and f"scores {rows // 2} of the {rows} validation row(s)" in logs[0]
    assert f"scores {rows - rows // 2} of the {rows} validation row(s)" in logs[1]


def test_two_hosts_scoring_halves_report_the_whole_validation_sets_logloss(binary, tmp_path):
    hyperparameters = {**SMALL, "objective": "binary:logistic", "eval_metric": "logloss"}
    metrics, logs = two_host_job(tmp_path, binary, hyperparameters)
    labels, predictions = whole_validation(binary, metrics["model"])
    assert metrics["validation_score"] == pytest.approx(log_loss(labels, predictions), rel=1e-6)
    assert f"scores {len(labels) // 2} of the {len(labels)} validation row(s)" in logs[0]


def per_host_auc(labels: np.ndarray, scores: np.ndarray, hosts: int) -> float:
    """What XGBoost reports for AUC when hosts hold shares of the rows: the per-host areas weighted by each host's
    positive x negative pairs (src/metric/auc.cc), not the AUC of all rows."""
    areas, pairs = 0.0, 0.0
    for rank in range(hosts):
        share = validation_share(len(labels), "rmse", cluster(hosts, rank))
        y, s = labels[share], scores[share]
        weight = float((y == 1).sum() * (y == 0).sum())
        areas, pairs = areas + roc_auc_score(y, s) * weight, pairs + weight
    return areas / pairs


def test_two_hosts_score_every_validation_row_for_auc(binary, tmp_path):
    hyperparameters = {**SMALL, "objective": "binary:logistic", "eval_metric": "auc"}
    metrics, logs = two_host_job(tmp_path, binary, hyperparameters)
    labels, predictions = whole_validation(binary, metrics["model"])
    exact = roc_auc_score(labels, predictions)
    assert abs(per_host_auc(labels, predictions, 2) - exact) > 1e-4  # halves would be told apart by this test
    assert metrics["validation_score"] == pytest.approx(exact, rel=1e-6)
    rows = len(labels)
    assert all(f"scores {rows} of the {rows} validation row(s)" in log for log in logs)


def test_a_host_whose_validation_share_is_empty_still_trains(regression, tmp_path):
    """One validation row and two hosts: the leader scores none, the other host the row."""
    data = tmp_path / "data"
    shutil.copytree(regression, data)
    path = data / "validation" / "validation.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    metrics, logs = two_host_job(tmp_path / "job", data, SMALL)
    labels, predictions = whole_validation(data, metrics["model"])
    assert metrics["validation_rows"] == 1
    assert metrics["validation_score"] == pytest.approx(root_mean_squared_error(labels, predictions), rel=1e-6)
    assert "scores 0 of the 1 validation row(s)" in logs[0] and "scores 1 of the 1 validation row(s)" in logs[1]
