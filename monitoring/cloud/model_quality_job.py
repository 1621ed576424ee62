"""Lambda target of the model-quality schedule: one merge-and-check Processing job per scheduled time.

The schedule passes ``{"scheduled_time": ..., "execution_id": ...}`` as for the data-quality check. A check at T (the
scheduled time, rounded down to the hour) covers, as Model Monitor's model-quality jobs do, capture records with
inferenceTime in [T + START_TIME_OFFSET, T + END_TIME_OFFSET] (the job filters by inferenceTime) joined with the
ground truth ingested in [T + START_TIME_OFFSET, T] (the hour folders it reads). Windows of successive checks overlap;
that is intended (labels arrive late), unlike the data-quality check's "no hour checked twice".

A window spans up to ~25 hour folders of capture and as many of ground truth, and a Processing job takes at most 10
inputs, so the function lists the files of those hours (only folders that exist contribute) and writes one manifest
per input (``[{"prefix": <root>/}, "yyyy/mm/dd/hh/<file>", ...]``), which the job copies under its local paths with
their hour folders kept (below the key relative to the prefix, or below the whole key, as reports of training jobs
say: the analyzer reads both inputs recursively, ordered by path, so either layout gives the same order). The job
runs the project's analyzer (``monitoring.container_entry``, analysis_type MODEL_QUALITY) against the live version's
model-quality constraints (the live pointer written by every deploy).

Each check also publishes the live version's threshold of every alarmed metric to ``THRESHOLDS_NAMESPACE``, at T: the
stack's alarms compare each model-quality metric with it (metric math), so a deploy moves the alarms' thresholds with
no stack update. Outcomes: ``Started``, ``AlreadyStarted`` (a duplicate delivery), ``NoData`` (no capture or no
ground truth in the window), ``NoBaselines`` (no pointer, or the live version has no model-quality baseline).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from monitoring.cloud.check_job import (
    CAPTURE_DIR,
    CONSTRAINTS_DIR,
    OUTPUT_DIR,
    ROOT,
    hour_job_name,
    job_request,
    parse_scheduled_time,
    s3_input,
    start_job,
)
from monitoring.cloud.check_settings import LivePointer, read_pointer
from monitoring.cloud.model_quality_settings import THRESHOLDS_NAMESPACE, ModelQualitySettings, alarm_thresholds
from monitoring.cloud.s3util import aws_call, encryption_args, list_keys, split_s3_uri

log = logging.getLogger(__name__)

GROUND_TRUTH_DIR = f"{ROOT}/groundtruth"  # the other container paths are the data-quality check's


@dataclass(frozen=True)
class ModelQualityWindow:
    """What a check at ``at`` covers: capture in [capture_start, capture_end], labels in [capture_start, at]."""

    at: datetime
    capture_start: datetime
    capture_end: datetime

    @property
    def capture_hours(self) -> list[str]:
        """The ``yyyy/mm/dd/hh`` folders overlapping [capture_start, capture_end] (the end is inclusive)."""
        return hours_between(self.capture_start, self.capture_end)

    @property
    def ground_truth_hours(self) -> list[str]:
        """The ``yyyy/mm/dd/hh`` folders of the labels ingested in [capture_start, at)."""
        return hours_between(self.capture_start, self.at - timedelta(microseconds=1))


def hours_between(start: datetime, end: datetime) -> list[str]:
    """``yyyy/mm/dd/hh`` of every hour that overlaps [start, end], in order."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    found = []
    while hour <= end:
        found.append(hour.strftime("%Y/%m/%d/%H"))
        hour += timedelta(hours=1)
    return found


def check_window(scheduled: datetime, start_offset: timedelta, end_offset: timedelta) -> ModelQualityWindow:
    """The window of the check scheduled at ``scheduled`` (rounded down to the hour, as Model Monitor runs them)."""
    at = scheduled.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return ModelQualityWindow(at, at + start_offset, at + end_offset)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def window_files(s3, root_uri: str, hours: list[str]) -> list[str]:
    """The files under ``<root>/<hour>/`` for each hour, as keys relative to ``<root>/``, in hour then key order."""
    bucket, root = split_s3_uri(root_uri)
    root = f"{root.rstrip('/')}/" if root else ""
    found: list[str] = []
    for hour in hours:
        prefix = f"{root}{hour}/"
        keys = aws_call(f"Listing s3://{bucket}/{prefix}", list, list_keys(s3, bucket, prefix))
        found += [key[len(root) :] for key, _ in keys]
    return found


def manifest(root_uri: str, relative_keys: list[str]) -> bytes:
    """A SageMaker manifest file: the root prefix, then each object's key relative to it."""
    return json.dumps([{"prefix": f"{root_uri.rstrip('/')}/"}, *relative_keys], indent=0).encode()


def manifest_uris(settings: ModelQualitySettings, window: ModelQualityWindow, name: str) -> dict[str, str]:
    """Where the check's manifests go: ``<manifests>/yyyy/mm/dd/hh/<job name>/{capture,ground-truth}.json``."""
    base = f"{settings.manifests_uri}/{window.at:%Y/%m/%d/%H}/{name}"
    return {"capture": f"{base}/capture.json", "ground_truth": f"{base}/ground-truth.json"}


def processing_job_request(
    settings: ModelQualitySettings, window: ModelQualityWindow, name: str, pointer: LivePointer, manifests: dict
) -> dict:
    """The CreateProcessingJob request of one model-quality check."""
    job = settings.job.with_pointer(pointer)
    constraints_file = pointer.model_quality_constraints_uri.rsplit("/", 1)[-1]
    environment = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": settings.problem_type,
        "dataset_source": CAPTURE_DIR,
        "ground_truth_source": GROUND_TRUTH_DIR,
        "output_path": OUTPUT_DIR,
        "baseline_constraints": f"{CONSTRAINTS_DIR}/{constraints_file}",
        "start_time": _iso(window.capture_start),
        "end_time": _iso(window.capture_end),
        "min_pairs": str(settings.min_pairs),
    }
    if settings.inference_attribute:
        environment["inference_attribute"] = settings.inference_attribute
    if settings.problem_type == "BinaryClassification":
        environment["probability_threshold_attribute"] = settings.probability_threshold
        if settings.probability_attribute:
            environment["probability_attribute"] = settings.probability_attribute
    inputs = [
        s3_input("endpoint", manifests["capture"], CAPTURE_DIR, "ManifestFile"),
        s3_input("groundtruth", manifests["ground_truth"], GROUND_TRUTH_DIR, "ManifestFile"),
        s3_input("baseline_constraints", pointer.model_quality_constraints_uri, CONSTRAINTS_DIR),
    ]
    report = f"{job.reports_uri}/{job.endpoint_name}/{job.schedule_name}/{window.at:%Y/%m/%d/%H}"
    return job_request(job, name, inputs, environment, report)


def threshold_metric_data(settings: ModelQualitySettings, window: ModelQualityWindow, thresholds) -> list[dict]:
    """One datum per alarmed metric: the live version's threshold, at the check's time, with the alarms' dimensions."""
    dimensions = [
        {"Name": "Endpoint", "Value": settings.job.endpoint_name},
        {"Name": "MonitoringSchedule", "Value": settings.job.schedule_name},
    ]
    return [
        {"MetricName": t.metric, "Dimensions": dimensions, "Timestamp": window.at, "Value": t.threshold, "Unit": "None"}
        for t in thresholds
    ]


def _put(s3, uri: str, body: bytes, kms_key_id: str) -> None:
    bucket, key = split_s3_uri(uri)
    aws_call(
        f"Writing the manifest {uri}",
        s3.put_object,
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        **encryption_args(kms_key_id),
    )


def _live_constraints(settings: ModelQualitySettings, s3) -> tuple[LivePointer | None, str]:
    """(the live pointer, "") when it names a model-quality baseline; else (None, why no check can start)."""
    uri = settings.job.live_pointer_uri
    pointer = read_pointer(s3, uri)
    if pointer is None:
        return None, f"no live pointer at {uri}: deploy a model version (mlops deploy --backend sagemaker)"
    if pointer.endpoint_name != settings.job.endpoint_name:
        raise ValueError(
            f"live pointer {uri} is for endpoint {pointer.endpoint_name!r}, expected {settings.job.endpoint_name!r}"
        )
    if not pointer.model_quality_constraints_uri:
        return None, (
            f"the live version {pointer.reference} has no model-quality baseline (DriftCheckBaselines.ModelQuality): "
            "register one with the pipeline's model-quality baseline, then deploy it"
        )
    return pointer, ""


def _thresholds(settings: ModelQualitySettings, pointer: LivePointer, s3) -> tuple:
    """The live version's constraints of the alarmed metrics (read before anything starts, so a constraints file the
    alarms cannot use fails the invocation, which retries, then dead-letters and alerts)."""
    uri = pointer.model_quality_constraints_uri
    bucket, key = split_s3_uri(uri)
    body = aws_call(f"Reading {uri}", s3.get_object, Bucket=bucket, Key=key)["Body"].read()
    return alarm_thresholds(body, uri, settings.problem_type, settings.alarmed_metrics)


def _no_data(settings: ModelQualitySettings, window: ModelQualityWindow, capture: list, labels: list) -> str:
    """Why the window has nothing to check, or "" when it has capture and ground truth."""
    if not capture:
        hours = window.capture_hours
        return f"no capture under {settings.job.capture_uri} in the hours {hours[0]} to {hours[-1]}"
    if not labels:
        hours = window.ground_truth_hours
        return f"no ground truth under {settings.ground_truth_uri} in the hours {hours[0]} to {hours[-1]}"
    return ""


def start_model_quality_check(settings: ModelQualitySettings, event: Mapping, clients: Mapping) -> dict:
    """Start the model-quality check scheduled at ``event["scheduled_time"]``; returns what happened (never raises on
    a duplicate delivery, a window without capture or ground truth, or a live version without a model-quality
    baseline). ``clients`` holds boto3 clients "sagemaker", "s3" and "cloudwatch"."""
    s3 = clients["s3"]
    window = check_window(parse_scheduled_time(event.get("scheduled_time", "")), *settings.window_offsets)
    execution_id = str(event.get("execution_id") or "")
    name = hour_job_name(settings.job.job_name_prefix, window.at, execution_id)
    outcome: dict = {
        "job_name": name,
        "window_start": _iso(window.capture_start),
        "window_end": _iso(window.capture_end),
    }
    pointer, reason = _live_constraints(settings, s3)
    if pointer is None:
        log.info("no model-quality baseline: %s", reason)
        return {**outcome, "status": "NoBaselines", "reason": reason}
    outcome["baselines"] = f"{pointer.reference} (live pointer {settings.job.live_pointer_uri})"
    thresholds = _thresholds(settings, pointer, s3)
    capture = window_files(s3, settings.job.capture_uri, window.capture_hours)
    labels = window_files(s3, settings.ground_truth_uri, window.ground_truth_hours) if capture else []
    outcome |= {"capture_files": len(capture), "ground_truth_files": len(labels)}
    reason = _no_data(settings, window, capture, labels)
    if reason:
        log.info("no check: %s", reason)
        return {**outcome, "status": "NoData", "reason": reason}
    manifests = manifest_uris(settings, window, name)
    _put(s3, manifests["capture"], manifest(settings.job.capture_uri, capture), settings.job.kms_key_id)
    _put(s3, manifests["ground_truth"], manifest(settings.ground_truth_uri, labels), settings.job.kms_key_id)
    request = processing_job_request(settings, window, name, pointer, manifests)
    outcome = start_job(clients["sagemaker"], request, outcome, f"execution {execution_id}")
    if thresholds:  # after the start, so a retried invocation publishes them again (same time, same values)
        aws_call(
            f"PutMetricData {THRESHOLDS_NAMESPACE}",
            clients["cloudwatch"].put_metric_data,
            Namespace=THRESHOLDS_NAMESPACE,
            MetricData=threshold_metric_data(settings, window, thresholds),
        )
    outcome["thresholds"] = {t.metric: t.threshold for t in thresholds}
    log.info("model-quality check %s: %s", name, outcome["status"])
    return outcome


def handler(event, context) -> dict:
    """Lambda entry point (``monitoring.cloud.model_quality_job.handler``)."""
    import boto3

    logging.getLogger().setLevel(logging.INFO)
    settings = ModelQualitySettings.from_env(os.environ)
    clients = {name: boto3.client(name) for name in ("sagemaker", "s3", "cloudwatch")}
    return start_model_quality_check(settings, event, clients)
