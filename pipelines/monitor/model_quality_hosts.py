"""A local model-quality check on ``sagemaker.processing_instance_count`` > 1 simulated hosts: the analyzer's profile
stage on every host (``pipelines.monitor.hosts``: the window's capture files sharded by file, the ground-truth files
replicated), then its merge stage in this process (``monitoring.model_quality_reduce``), whose pairs and counts equal
a one-host join's (integers exactly, regression sums within 1e-12 relative). The job's directory
(``<state>/monitoring/jobs/<T>-<id>``) keeps each host's log and ``hosts.json`` (timings, also in the execution
record); the hosts' copies of the inputs and their partials are removed once merged. A failed host leaves everything
in place."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.monitor.hosts import INPUT, OUTPUT, HostInput, run_analyzer_hosts
from pipelines.monitor.model_quality_windows import CheckWindow


def _environment(config: Any, window: CheckWindow) -> dict[str, str]:
    quality = config.monitoring.model_quality
    env = {
        "analysis_type": "MODEL_QUALITY",
        "analysis_stage": "profile",
        "problem_type": config.data.problem_type,
        "probability_threshold_attribute": repr(float(quality.probability_threshold)),
        "start_time": window.capture_start.isoformat(),
        "end_time": window.capture_end.isoformat(),
    }
    if quality.inference_attribute is not None:
        env["inference_attribute"] = quality.inference_attribute
    if quality.probability_attribute is not None:
        env["probability_attribute"] = quality.probability_attribute
    return env


def merge_on_hosts(
    config: Any,
    count: int,
    window: CheckWindow,
    capture: tuple[Path, Sequence[Path]],
    truth: tuple[Path, Sequence[Path]],
    jobs_dir: Path,
) -> tuple[Any, list[dict]]:
    """(the merged join, each host's timing and log) of the ``capture`` files (root, files) sharded over ``count``
    hosts, each joining its share with all ``truth`` files (root, files)."""
    from monitoring.model_quality_reduce import merge_partials_in

    job_dir = Path(jobs_dir) / f"{window.at:%Y%m%d%H%M}-{uuid.uuid4().hex[:8]}"
    base = _environment(config, window)

    def environment(opt_ml: Path) -> dict[str, str]:
        return {
            **base,
            "dataset_source": str(opt_ml / INPUT / "endpoint"),
            "ground_truth_source": str(opt_ml / INPUT / "groundtruth"),
            "output_path": str(opt_ml / OUTPUT),
        }

    inputs = [
        HostInput("endpoint", capture[0], tuple(capture[1]), sharded=True),
        HostInput("groundtruth", truth[0], tuple(truth[1]), sharded=False),
    ]
    runtime = config.sagemaker.max_runtime_seconds  # MaxRuntimeInSeconds of the job, as for data quality
    partials, timings = run_analyzer_hosts(job_dir, count, inputs, environment, runtime)
    merged = merge_partials_in(partials)
    for host in (job_dir / "hosts").iterdir():  # the logs stay; the copies of the inputs and the partials go
        shutil.rmtree(host / "opt_ml", ignore_errors=True)
    shutil.rmtree(partials, ignore_errors=True)
    return merged, timings
