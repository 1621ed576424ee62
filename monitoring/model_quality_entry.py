"""The container entry's ``analysis_type=MODEL_QUALITY``: Model Monitor's model-quality environment to a job.

Environment (Model Monitor's names):
  problem_type                    Regression | BinaryClassification (the project's regression | binary also read)
  ground_truth_attribute          baseline: the CSV column of the ground truth
  inference_attribute             baseline: the CSV column of the prediction; check: where the prediction is in a
                                  capture record's output (absent: the project's own outputs)
  probability_attribute           binary: where the probability is (absent: the prediction value itself)
  probability_threshold_attribute binary: a probability at or above it predicts the positive class (default 0.5)
  baseline mode (no baseline_constraints):
    dataset_source                the baseline CSV (with a header), or a directory holding exactly one .csv file
    constraint_margin             suggested thresholds: baseline value worsened by this fraction (default 0)
  check mode (baseline_constraints set), of a labelled data set (ground_truth_attribute set, as a QualityCheck
  step's check job over Evaluate's predictions): dataset_source and the attributes as for a baseline; every record
  counts (min_pairs 1 unless set)
  check mode (baseline_constraints set), of captured traffic:
    dataset_source                capture files (default /opt/ml/processing/input/endpoint)
    ground_truth_source           ground-truth files (default /opt/ml/processing/groundtruth), read in folder-hour
                                  then file-name order, the latest label of a key winning
    start_time, end_time          ISO 8601 bounds of the capture records' inferenceTime
    min_pairs                     fewer matched pairs: NoData, no metric published (default 50)
    publish_cloudwatch_metrics, sagemaker_endpoint_name, sagemaker_monitoring_schedule_name
                                  as for data quality; namespace aws/sagemaker/Endpoints/model-metrics
  output_path                     where the JSON files go (default /opt/ml/processing/resultdata)
  analysis_stage                  full (default): on several hosts (/opt/ml/config/resourceconfig.json) only the
                                  leader, the first of the sorted hosts, runs the job and the others write nothing;
                                  profile (a check of captured traffic, capture ShardedByS3Key, ground truth
                                  FullyReplicated): each host writes model_quality_partial-<current_host>.parquet
                                  into output_path (monitoring/model_quality_profile.py), no constraints needed;
                                  merge (one instance, baseline_constraints set): the partials under
                                  partial_profiles (default /opt/ml/processing/input/partials) merged into what a
                                  one-host check writes (monitoring/model_quality_reduce.py). A baseline or a check
                                  of a labelled data set reads one CSV: full only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from monitoring.model_quality import ModelQualityError, problem_type_key
from monitoring.model_quality_job import ModelQualityResult, run_model_quality_baseline, run_model_quality_check

log = logging.getLogger(__name__)
DEFAULT_CAPTURE = "/opt/ml/processing/input/endpoint"
DEFAULT_GROUND_TRUTH = "/opt/ml/processing/groundtruth"
DEFAULT_OUTPUT = "/opt/ml/processing/resultdata"
DEFAULT_MIN_PAIRS = 50


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ModelQualityError(f"{name} must be a number, got {text!r}") from None


def _required(env: Mapping[str, str], name: str, mode: str) -> str:
    value = env.get(name)
    if not value:
        raise ModelQualityError(f"model-quality {mode} needs the environment variable {name}")
    return value


def _baseline_csv(source: Path) -> Path:
    if source.is_dir():
        files = sorted(source.rglob("*.csv"))
        if len(files) != 1:
            raise ModelQualityError(f"dataset_source {source} must hold exactly one .csv file, found {len(files)}")
        return files[0]
    return source


def files_under(root: Path, suffixes: tuple[str, ...] = (".jsonl", ".json")) -> list[Path]:
    """Capture files under ``root`` by path (yyyy/mm/dd/hh folders in time order, then names); no hidden ones."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"input not found: {root}")
    chosen = (p for p in root.rglob("*") if p.is_file() and p.suffix in suffixes and not p.name.startswith("."))
    return sorted(chosen, key=lambda p: p.parts)


def _baseline(env: Mapping[str, str], problem: str, output: Path) -> ModelQualityResult:
    return run_model_quality_baseline(
        _baseline_csv(Path(_required(env, "dataset_source", "baseline"))),
        output,
        problem_type=problem,
        ground_truth_attribute=_required(env, "ground_truth_attribute", "baseline"),
        inference_attribute=_required(env, "inference_attribute", "baseline"),
        probability_attribute=env.get("probability_attribute") or None,
        probability_threshold=_number(env, "probability_threshold_attribute", 0.5),
        margin=_number(env, "constraint_margin", 0.0),
    )


def _check(env: Mapping[str, str], problem: str, output: Path, stage: str = "full") -> ModelQualityResult:
    """A check of captured traffic joined with ground truth (``stage`` merge: the hosts' partials merged), or of a
    labelled data set (``ground_truth_attribute``)."""
    constraints_path = Path(env["baseline_constraints"])
    constraints = json.loads(constraints_path.read_text(encoding="utf-8"))
    labelled = bool(env.get("ground_truth_attribute"))
    min_pairs = _number(env, "min_pairs", 1 if labelled else DEFAULT_MIN_PAIRS)
    if min_pairs < 1 or min_pairs != int(min_pairs):
        raise ModelQualityError(f"min_pairs must be a whole number >= 1, got {env.get('min_pairs')!r}")
    if labelled:
        pairs, counts = _dataset_pairs(env, problem), None
    else:
        merged = _merged_partials(env, problem) if stage == "merge" else _merged(env, problem)
        pairs, counts = merged.pairs, merged.counts
    return run_model_quality_check(
        pairs, constraints, output, problem_type=problem, min_pairs=int(min_pairs), merge_counts=counts
    )


def _dataset_pairs(env: Mapping[str, str], problem: str):
    """The labelled predictions of the data set a QualityCheck step's check job is given."""
    from monitoring.model_quality_dataset import read_labelled_csv

    return read_labelled_csv(
        _baseline_csv(Path(_required(env, "dataset_source", "check"))),
        problem_type=problem,
        ground_truth_attribute=_required(env, "ground_truth_attribute", "check"),
        inference_attribute=_required(env, "inference_attribute", "check"),
        probability_attribute=env.get("probability_attribute") or None,
        probability_threshold=_number(env, "probability_threshold_attribute", 0.5),
    )


def _join_settings(env: Mapping[str, str], problem: str) -> dict:
    """The join's settings from the environment: attributes, threshold and the window of ``start_time`` /
    ``end_time``."""
    from monitoring.iso_time import parse_time

    return {
        "problem_type": problem,
        "inference_attribute": env.get("inference_attribute") or None,
        "probability_attribute": env.get("probability_attribute") or None,
        "probability_threshold": _number(env, "probability_threshold_attribute", 0.5),
        "start": parse_time(env["start_time"], "start_time") if env.get("start_time") else None,
        "end": parse_time(env["end_time"], "end_time") if env.get("end_time") else None,
    }


def _inputs(env: Mapping[str, str]) -> tuple[list[Path], list[Path]]:
    """(capture files, ground-truth files in folder-hour then file-name order) of ``dataset_source`` and
    ``ground_truth_source``. On several hosts an existing but empty capture folder is an empty shard."""
    from monitoring.ground_truth import ground_truth_files

    capture = Path(env.get("dataset_source") or DEFAULT_CAPTURE)
    return files_under(capture), ground_truth_files(Path(env.get("ground_truth_source") or DEFAULT_GROUND_TRUTH))


def _merged(env: Mapping[str, str], problem: str):
    """Captured predictions joined with ground truth, in the window of ``start_time`` / ``end_time``."""
    from monitoring.model_quality_merge import merge_capture_with_ground_truth

    capture, truth = _inputs(env)
    merged = merge_capture_with_ground_truth(capture, truth, **_join_settings(env, problem))
    log.info("merge: %s", merged.counts)
    return merged


def _merged_partials(env: Mapping[str, str], problem: str):
    """The merge stage's join: the partials under ``partial_profiles``, of this check's problem type."""
    from monitoring.host_role import DEFAULT_PARTIALS
    from monitoring.model_quality_partial import read_partials
    from monitoring.model_quality_reduce import merge_partials

    partials = read_partials(Path(env.get("partial_profiles") or DEFAULT_PARTIALS))
    written = partials[0].settings.get("problem_type")
    if written != problem:
        raise ModelQualityError(f"the partials were profiled as {written}, the merge is asked for {problem}")
    merged = merge_partials(partials)
    log.info("merge of %d hosts: %s", len(partials), merged.counts)
    return merged


def _profile(env: Mapping[str, str], problem: str, output: Path, role) -> tuple[int, str]:
    """The profile stage: this host's capture (an absent folder: no objects) joined with all ground truth."""
    from monitoring.ground_truth import ground_truth_files
    from monitoring.model_quality_profile import run_profile_stage

    capture = Path(env.get("dataset_source") or DEFAULT_CAPTURE)
    files = files_under(capture) if capture.exists() or len(role.hosts) == 1 else []
    truth = ground_truth_files(Path(env.get("ground_truth_source") or DEFAULT_GROUND_TRUTH))
    return run_profile_stage(files, truth, output, role, **_join_settings(env, problem))


def run_model_quality(env: Mapping[str, str], opt_ml: Path, cloudwatch=None) -> tuple[int, str]:
    """One model-quality baseline or check as ``env`` configures it; (exit code, exit message). Raises on bad input."""
    from monitoring.host_role import IDLE, analysis_stage, read_resource_config
    from monitoring.metrics import MODEL_QUALITY_NAMESPACE, model_quality_metric_data, publish_metrics, write_metrics

    role = read_resource_config(opt_ml)
    stage = analysis_stage(env, role)
    if stage == IDLE:  # full on several hosts: the leader runs the whole job, the others write nothing
        return (
            0,
            f"Completed: Job completed successfully. Host {role.current_host} left the model-quality job to "
            f"{role.leader}.",
        )
    problem = problem_type_key(_required(env, "problem_type", "monitoring"))
    output = Path(env.get("output_path") or DEFAULT_OUTPUT)
    baseline = not env.get("baseline_constraints") and stage != "profile"  # the profile stage needs no constraints
    if stage != "full" and (env.get("ground_truth_attribute") or baseline):
        raise ModelQualityError(
            f"analysis_stage={stage} shards a check of captured traffic joined with ground truth; a model-quality "
            "baseline or a check of a labelled data set reads one CSV: run it with analysis_stage=full"
        )
    if stage == "profile":
        return _profile(env, problem, output, role)
    if not env.get("baseline_constraints"):
        return 0, _baseline(env, problem, output).exit_message
    result = _check(env, problem, output, stage)
    data = model_quality_metric_data(
        result.metrics,
        env.get("sagemaker_endpoint_name") or "unknown",
        env.get("sagemaker_monitoring_schedule_name") or "on-demand",
        datetime.now(timezone.utc),
    )
    write_metrics(data, opt_ml / "output" / "metrics" / "cloudwatch")
    if data and env.get("publish_cloudwatch_metrics", "Disabled") == "Enabled":
        publish_metrics(data, cloudwatch, namespace=MODEL_QUALITY_NAMESPACE)
    return 0, result.exit_message
