"""A local data-quality check on several hosts, as the processing engine runs one on AWS with
``sagemaker.processing_instance_count`` > 1 (``monitoring.cloud.check_job`` / ``check_merge``).

The profile job (named as on AWS, ``<prefix>-p-<yyyymmddhh>-<8 hex>``) runs the analyzer's container entry on N local
hosts (``pipelines.monitor.hosts``, the local runner's cluster code: spawned processes ``algo-1`` .. ``algo-N``, each
with its own ``/opt/ml`` and resourceconfig.json, one failing host stopping the others, ``MaxRuntimeInSeconds``).
The window's capture objects (those whose hour folder overlaps the window, at their paths under
``<capture>/<endpoint>/<variant>``) are sharded by object, as ``ShardedByS3Key`` does: each host profiles about 1/N
of them into ``partial_profile-<host>.json``; the baselines reach every host whole. The environment is the AWS
profile job's (``analysis_stage=profile``, the capture format, the window, the schedule's names). The merge (on AWS
the one-instance job ``<prefix>-m-...``) runs in this process, as the local one-host check does: the partial
profiles merged (``monitoring.profile_merge``) and checked against the baseline into the window's report folder, equal
to a one-host check within issue 13's bounds. The job's directory, ``<state>/monitoring/jobs/<profile job>``, keeps
each host's log, ``hosts.json`` (also in the execution record) and the partial profiles (``merged/``, as they stay in
S3 on AWS); the hosts' copies of the inputs are removed once merged. A failed host leaves everything in place.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitoring.analysis_results import CheckResult

CAPTURE_FORMAT = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}})


def job_names(endpoint: str, start: datetime, execution_id: str) -> tuple[str, str]:
    """(profile job, merge job) of a check: ``<prefix>-p-<yyyymmddhh>-<8 hex>`` and ``<prefix>-m-...``, the prefix
    being the stack's ``job_name_prefix`` (``<endpoint prefix>-dq``), as on AWS."""
    from monitoring.local.alarm_names import name_prefix

    prefix = f"{name_prefix(endpoint)[:34].rstrip('-')}-dq"
    suffix = f"{start:%Y%m%d%H}-{execution_id.rsplit('-', 1)[-1][:8]}"
    return f"{prefix}-p-{suffix}", f"{prefix}-m-{suffix}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CheckInputs:
    """What a data-quality check reads and where it reports: the capture of ``window`` against a baseline."""

    capture: Path  # <capture>/<endpoint>/<variant>
    statistics: Path
    constraints: Path
    report_dir: Path
    window: tuple[datetime, datetime]
    endpoint: str
    schedule: str
    now: datetime


def data_quality_check(
    check: CheckInputs, count: int, jobs_dir: Path, execution_id: str, max_runtime: int
) -> tuple[CheckResult, list[dict]]:
    """The check on one host (in this process), or profiled on ``count`` hosts and merged here; (result, each
    host's record). A window without capture objects starts no job (as on AWS): its NoData comes from this process.
    StepFailure naming the host when one fails."""
    from monitoring.analyzer import run_check
    from monitoring.capture import capture_files
    from monitoring.sources import DatasetFormat

    files = capture_files(check.capture, *check.window) if check.capture.is_dir() else []
    if count == 1 or not files:
        result = run_check(
            check.capture,
            check.statistics,
            check.constraints,
            check.report_dir,
            DatasetFormat("capture"),
            *check.window,
            endpoint=check.endpoint,
            schedule=check.schedule,
            now=check.now,
        )
        return result, []
    job = job_names(check.endpoint, check.window[0], execution_id)[0]
    return _on_hosts(check, files, count, jobs_dir / job, max_runtime)


def profile_environment(check: CheckInputs, opt_ml: Path) -> dict[str, str]:
    """A host's analyzer environment for the profile stage (its inputs and output under its ``opt_ml``)."""
    from pipelines.monitor.hosts import INPUT, OUTPUT

    return {
        "analysis_stage": "profile",
        "dataset_source": str(opt_ml / INPUT / "endpoint"),
        "dataset_format": CAPTURE_FORMAT,
        "output_path": str(opt_ml / OUTPUT),
        "baseline_statistics": str(opt_ml / INPUT / "baseline_statistics" / check.statistics.name),
        "baseline_constraints": str(opt_ml / INPUT / "baseline_constraints" / check.constraints.name),
        "start_time": _iso(check.window[0]),
        "end_time": _iso(check.window[1]),
        "sagemaker_endpoint_name": check.endpoint,
        "sagemaker_monitoring_schedule_name": check.schedule,
        "publish_cloudwatch_metrics": "Disabled",
    }


def _on_hosts(
    check: CheckInputs, files: list[Path], count: int, job_dir: Path, max_runtime: int
) -> tuple[CheckResult, list[dict]]:
    from monitoring.analysis_results import check_from_profile
    from monitoring.constraints import read_constraints
    from monitoring.partial_profile import read_partials
    from monitoring.profile_merge import merge_profiles
    from monitoring.statistics import read_statistics
    from pipelines.monitor.hosts import HostInput, run_analyzer_hosts

    inputs = [
        HostInput("endpoint", check.capture, tuple(files), sharded=True),
        HostInput("baseline_statistics", check.statistics.parent, (check.statistics,), sharded=False),
        HostInput("baseline_constraints", check.constraints.parent, (check.constraints,), sharded=False),
    ]
    merged, hosts = run_analyzer_hosts(
        job_dir, count, inputs, lambda opt_ml: profile_environment(check, opt_ml), max_runtime
    )
    profile, report = merge_profiles(read_partials(merged))
    for host in (job_dir / "hosts").iterdir():  # the hosts' copies of the inputs go; logs and partials stay
        shutil.rmtree(host / "opt_ml", ignore_errors=True)
    baseline, constraints = read_statistics(check.statistics), read_constraints(check.constraints)
    result = check_from_profile(
        profile,
        report,
        baseline,
        constraints,
        check.report_dir,
        check.capture,
        *check.window,
        check.endpoint,
        check.schedule,
        check.now,
    )
    return result, hosts
