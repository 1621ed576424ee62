"""A served model version with data-quality and model-quality baselines, traffic with inference ids and ground
truth, built in a temporary state directory with the project's own functions (registry, object store, capture
writer, ground-truth writer, both baseline jobs) instead of a pipeline run."""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from inference.capture import CaptureWriter
from inference.endpoint_state import EndpointState, write_state
from monitoring.analyzer import run_baseline
from monitoring.ground_truth_records import ground_truth_key, ground_truth_lines, write_whole
from monitoring.model_quality_job import run_model_quality_baseline
from pipelines.build import config_from_kwargs, local_config
from pipelines.config import Config
from pipelines.deploy.local import capture_settings
from pipelines.monitor.loop import MonitorEnvironment
from pipelines.objectstore import local_path
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ABALONE, ROOT
from tests.pipelines.monitor.clock import Clock

CONFIG = str(ROOT / "mlops.yaml")
ENDPOINT = "abalone-endpoint"
VARIANT = "AllTraffic"
BASELINES = "s3://mlops-local/abalone-pipeline/executions/exec-1"
T = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)  # a check's time: capture [T-1D, T-1H], labels [T-1D, T]


def abalone_rows() -> list[dict[str, str]]:
    with open(ABALONE, newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = abalone_rows()
FEATURES = [name for name in ROWS[0] if name != "rings"]


@dataclass
class Served:
    """The state directory, its configuration and monitor environment, and what retraining was asked to start."""

    state: Path
    config: Config
    clock: Clock
    env: MonitorEnvironment
    started: list[str] = field(default_factory=list)

    def traffic(
        self, start: datetime, rows: list[dict], predictions: np.ndarray, prefix: str, scale: float = 1.0
    ) -> list[str]:
        """Invocations at ``start`` + 10 s each, through the endpoint's capture writer, with inference ids
        ``<prefix>-<i>``; ``scale`` multiplies the numeric features (drifted inputs). Returns the ids."""
        moment = [start]
        writer = CaptureWriter(
            capture_settings(self.config),
            local_path(self.config.capture_destination, self.state),
            ENDPOINT,
            VARIANT,
            clock=lambda: moment[0].timestamp(),
        )
        ids = []
        for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True)):
            moment[0] = start + timedelta(seconds=10 * i)
            values = [row[f] if f == "sex" else f"{float(row[f]) * scale:.4f}" for f in FEATURES]
            ids.append(f"{prefix}-{i}")
            writer.capture(",".join(values).encode(), "text/csv", f"{prediction:.4f}".encode(), "text/csv", ids[-1])
        writer.close()
        return ids

    def labels(self, ingested: datetime, ids: list[str], labels: list[float]) -> Path:
        """Ground truth for ``ids``, written whole under the hour folder of ``ingested``."""
        key = ground_truth_key(self.config.ground_truth_destination, ingested)
        body = ground_truth_lines((i, f"{label:g}") for i, label in zip(ids, labels, strict=True))
        return write_whole(local_path(key, self.state), body)

    def retraining_data(self, name: str = "snapshot.csv") -> Path:
        path = local_path(self.config.retrain_data_uri, self.state) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ABALONE.read_text())
        return path


def configured(**model_quality) -> Config:
    """The bundled configuration (local), with some ``monitoring.model_quality`` settings replaced."""
    config = local_config(config_from_kwargs({"config": CONFIG}))
    values = dataclasses.asdict(config.monitoring.model_quality)
    values.update(model_quality)
    return config.with_overrides(monitoring={"model_quality": values})


def _model_quality_baseline(state: Path, tmp_path: Path) -> str:
    """The model-quality baseline of predictions that miss the rings by about 1: rmse ~1, threshold with margin."""
    rng = np.random.default_rng(7)
    data = tmp_path / "predictions.csv"
    with open(data, "w") as handle:
        handle.write("label,prediction\n")
        for row in ROWS[:500]:
            rings = float(row["rings"])
            handle.write(f"{rings},{rings + rng.normal(0, 1):.4f}\n")
    folder = local_path(f"{BASELINES}/model-quality", state)
    run_model_quality_baseline(
        data, folder, problem_type="regression", ground_truth_attribute="label", inference_attribute="prediction",
        margin=0.2,
    )  # fmt: skip
    return f"{BASELINES}/model-quality"


def binary_configured(**model_quality) -> Config:
    """The bundled configuration turned binary (is the abalone older than 10 rings?), scored by auc."""
    config = configured(**model_quality)
    return config.with_overrides(
        data={"problem_type": "binary", "positive_class": "1"},
        training={"objective": "binary:logistic", "eval_metric": "auc"},
        gate={"metric": "auc", "threshold": 0.7},
    )


def binary_labels(rows: list[dict]) -> np.ndarray:
    return (rings(rows) > 10).astype(float)


def good_probabilities(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Probabilities that rank most positives above most negatives (auc about 0.9)."""
    noise = np.random.default_rng(seed).uniform(-0.35, 0.35, len(labels))
    return np.clip(np.where(labels == 1, 0.7, 0.3) + noise, 0.01, 0.99)


def _binary_baseline(state: Path, tmp_path: Path) -> str:
    labels = binary_labels(ROWS[:500])
    data = tmp_path / "binary-predictions.csv"
    with open(data, "w") as handle:
        handle.write("label,prediction,probability\n")
        for label, p in zip(labels, good_probabilities(labels, 7), strict=True):
            handle.write(f"{int(label)},{int(p >= 0.5)},{p:.4f}\n")
    folder = local_path(f"{BASELINES}/model-quality", state)
    run_model_quality_baseline(
        data, folder, problem_type="binary", ground_truth_attribute="label", inference_attribute="prediction",
        probability_attribute="probability", margin=0.1,
    )  # fmt: skip
    return f"{BASELINES}/model-quality"


def serve(tmp_path: Path, config: Config | None = None, clock: Clock | None = None) -> Served:
    """A registered, approved and deployed version with both baselines (the model-quality one of the configured
    problem type); nothing captured yet."""
    state = tmp_path / "state"
    config = config or configured(min_pairs=20)
    run_baseline(ABALONE, local_path(f"{BASELINES}/baseline", state))
    binary = config.data.problem_type == "binary"
    quality = (_binary_baseline if binary else _model_quality_baseline)(state, tmp_path)

    def files(prefix: str) -> dict:
        return {
            "Statistics": {"ContentType": "application/json", "S3Uri": f"{prefix}/statistics.json"},
            "Constraints": {"ContentType": "application/json", "S3Uri": f"{prefix}/constraints.json"},
        }

    request = {
        "ModelPackageGroupName": "abalone",
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://mlops-local/model.tar.gz"}]},
        "ModelMetrics": {"ModelQuality": files(quality)},
        "DriftCheckBaselines": {"ModelDataQuality": files(f"{BASELINES}/baseline"), "ModelQuality": files(quality)},
    }
    registry = SQLiteRegistry(state / "registry.db")
    version = registry.register(request)
    assert version.drift_baselines["model_constraints"] == f"{quality}/constraints.json"
    registry.set_status("abalone", version.version, "Approved", by="test", note="serve")
    deployed = EndpointState(ENDPOINT, "abalone", version.version, "arn", "s3://mlops-local/model.tar.gz", VARIANT,
                             "2026-11-24T00:00:00Z", capture_settings(config), {})  # fmt: skip
    write_state(state, deployed)
    clock = clock or Clock(T)
    served = Served(state, config, clock, MonitorEnvironment(config, state, clock))

    def start(data_uri: str) -> tuple[str, str]:
        served.started.append(data_uri)
        return f"retrain-{len(served.started)}", "Succeeded"

    served.env.start_retraining = start
    return served


def rings(rows: list[dict]) -> np.ndarray:
    return np.array([float(r["rings"]) for r in rows])
