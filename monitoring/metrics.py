"""CloudWatch metrics of a data-quality check, in the shape Model Monitor's container emits them.

Each metric is one PutMetricData datum (``MetricName``, ``Timestamp``, ``Dimensions`` Endpoint and
MonitoringSchedule, and ``Value`` or ``StatisticValues``) in namespace ``aws/sagemaker/Endpoints/data-metrics``.
In a container they are written as JSON lines to ``/opt/ml/output/metrics/cloudwatch``; with
``publish_cloudwatch_metrics=Enabled`` the entry also publishes them (boto3 imported only then).
A model-quality check's metrics go to ``aws/sagemaker/Endpoints/model-metrics`` (``model_quality_metric_data``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monitoring.constraints import Constraints
from monitoring.statistics import DatasetStatistics
from monitoring.violations import FeatureDrift

NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
# model quality: every scalar metric of the statistics (mae, mse, rmse, r2; accuracy ... au_prc and the
# *_best_constant_classifier ones), named as in statistics.json, as Model Monitor sends "all metrics" there
MODEL_QUALITY_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
PUT_BATCH = 500
log = logging.getLogger(__name__)


def build_metrics(
    current: DatasetStatistics,
    constraints: Constraints,
    drifts: Sequence[FeatureDrift],
    endpoint: str,
    schedule: str,
    timestamp: datetime,
) -> list[dict]:
    """The metric data of one check: per feature drift, completeness, type shares and value statistics."""
    stamp = timestamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    dims = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}]
    drift_by_name = {d.feature_name: d.distance for d in drifts}
    data: list[dict] = []

    def put(name: str, value: float | None = None, stats: dict | None = None, unit: str = "None") -> None:
        datum: dict[str, Any] = {"MetricName": name, "Timestamp": stamp, "Dimensions": dims, "Unit": unit}
        if stats is not None:
            datum["StatisticValues"] = stats
        elif value is not None:
            datum["Value"] = float(value)
        else:
            raise TypeError(f"metric {name}: neither a value nor statistics")
        data.append(datum)

    for feat in current.features:
        rule = constraints.feature(feat.name)
        if rule is not None and not rule.config.emit_metrics:
            continue
        put(f"feature_non_null_{feat.name}", feat.completeness)
        present = sum(feat.type_counts.values())
        if present:
            for kind, count in feat.type_counts.items():
                put(f"feature_{kind.lower()}_{feat.name}", count / present)
        if feat.sum is not None and feat.min is not None and feat.max is not None:
            put(
                f"feature_data_{feat.name}",
                stats={
                    "SampleCount": float(feat.num_present),
                    "Sum": feat.sum,
                    "Minimum": feat.min,
                    "Maximum": feat.max,
                },
            )
        if feat.name in drift_by_name:
            put(f"feature_baseline_drift_{feat.name}", drift_by_name[feat.name])
    return data


def model_quality_metric_data(
    values: Mapping[str, float], endpoint: str, schedule: str, timestamp: datetime
) -> list[dict]:
    """One datum per model-quality metric (name -> finite value), dimensions Endpoint and MonitoringSchedule."""
    stamp = timestamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    dims = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}]
    return [
        {"MetricName": name, "Timestamp": stamp, "Dimensions": dims, "Unit": "None", "Value": float(value)}
        for name, value in values.items()
    ]


def write_metrics(data: Sequence[dict], path: str | Path) -> Path:
    """Write metric data as JSON lines, the container's ``/opt/ml/output/metrics/cloudwatch`` format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for datum in data:
            handle.write(json.dumps(datum) + "\n")
    return path


def publish_metrics(data: Sequence[dict], client=None, namespace: str = NAMESPACE) -> int:
    """PutMetricData in batches; returns the number of data published. boto3 is imported only here."""
    if client is None:
        import boto3  # lazily: the container only needs it when publishing

        client = boto3.client("cloudwatch")
    sent = 0
    for start in range(0, len(data), PUT_BATCH):
        batch = []
        for datum in data[start : start + PUT_BATCH]:
            item = dict(datum)
            item["Timestamp"] = datetime.strptime(item["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            batch.append(item)
        client.put_metric_data(Namespace=namespace, MetricData=batch)
        sent += len(batch)
    log.info("published %d metric data to CloudWatch namespace %s", sent, namespace)
    return sent
