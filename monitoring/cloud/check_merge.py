"""The merge stage of a data-quality check on several instances (``INSTANCE_COUNT`` > 1).

The scheduled execution starts the profile job ``<prefix>-p-<yyyymmddhh>-<8 hex>`` (``monitoring.cloud.check_job``):
N instances, each profiling its ShardedByS3Key part of the hour's capture into ``partial_profile-<host>.json``. When
that job completes, the stack's EventBridge rule on "SageMaker Processing Job State Change" (status Completed, name
``<prefix>-p-*``) invokes the check function again, and ``start_merge`` starts the one-instance merge job
``<prefix>-m-<yyyymmddhh>-<8 hex>``: ``analysis_stage=merge`` over the profile job's output (``partial_profiles``),
with the baselines, output (the hour's report folder) and metrics of a one-instance check.

Why a rule and the same function, not Step Functions: the stack already has the function, its dead-letter queue
and alarm, and the job-state rule that alerts on failed checks; the rule adds one resource and one invoke permission,
and the function only DescribeProcessingJob and ListTags on its own profile jobs. A state machine waiting on the
profile job (``createProcessingJob.sync``) would need its own role with CreateProcessingJob, DescribeProcessingJob,
StopProcessingJob, iam:PassRole and events:PutRule/PutTargets/DescribeRule on the managed rule Step Functions creates,
its own failure alerting and dead letters, and moto cannot run it.

The merge takes from the profile job (not from the live pointer or today's stack parameters) what the two stages must
agree on, so a deploy or a stack update between them cannot mix two checks: the window (its ``start_time`` /
``end_time``), the baselines (its inputs), the analyzer's code and image, and the model version it was tagged with.
Role, instance type, KMS key, network and time limit come from the function's environment, as for any check.

Delivery: the merge job's name follows from the profile job's, so a second delivery of the completion event is
refused by SageMaker and reported ``AlreadyStarted``. A profile job that did not complete (Failed, Stopped, or still
running when the function is invoked by hand) starts nothing (``ProfileNotCompleted``): the job-state rule has
already alerted, and the hour has no report. A window is checked, and its report written, only by its merge job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from monitoring.cloud.check_job import (
    MERGE,
    PARTIALS_DIR,
    PROFILE,
    CheckWindow,
    baseline_inputs,
    check_environment,
    job_request,
    parse_scheduled_time,
    report_uri,
    s3_input,
    start_job,
)
from monitoring.cloud.check_settings import CheckSettings
from monitoring.cloud.s3util import aws_call

log = logging.getLogger(__name__)
MODEL_PACKAGE_TAG = "mlops:model-package"


def profile_job_name(event: Mapping) -> str:
    """The profile job an invocation is about: the state change's ``detail.ProcessingJobName``, or
    ``profile_job_name`` in a hand-made redrive (``{"profile_job_name": "<prefix>-p-..."}``)."""
    detail = event.get("detail")
    name = detail.get("ProcessingJobName") if isinstance(detail, Mapping) else event.get("profile_job_name")
    if not isinstance(name, str) or not name:
        raise ValueError(
            "a profile job's state change must name its job in detail.ProcessingJobName (or a redrive in "
            f"profile_job_name), got {name!r}"
        )
    return name


def merge_job_name(prefix: str, profile_job: str) -> str:
    """``<prefix>-m-<yyyymmddhh>-<8 hex>`` of the profile job ``<prefix>-p-<yyyymmddhh>-<8 hex>``; ValueError for a
    job that is not a profile job of this check."""
    mark = f"{prefix}-{PROFILE}-"
    if not profile_job.startswith(mark) or len(profile_job) == len(mark):
        raise ValueError(f"{profile_job!r} is not a profile job of this check: expected a name {mark}<hour>-<id>")
    return f"{prefix}-{MERGE}-{profile_job[len(mark) :]}"


def _field(described: Mapping, what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"profile job {described.get('ProcessingJobName')}: {what} is missing; got {value!r}")
    return value


def _profile_window(described: Mapping) -> CheckWindow:
    environment = described.get("Environment") or {}
    times = []
    for key in ("start_time", "end_time"):
        text = _field(described, f"Environment {key}", environment.get(key))
        try:
            times.append(parse_scheduled_time(text))
        except ValueError as exc:
            raise ValueError(
                f"profile job {described['ProcessingJobName']}: Environment {key} must be an ISO-8601 time such as "
                f"2025-01-31T12:00:00Z, got {text!r}"
            ) from exc
    return CheckWindow(*times)


def merge_job_request(settings: CheckSettings, described: Mapping, tags: Mapping[str, str]) -> dict:
    """The CreateProcessingJob request of the merge job of the completed profile job ``described`` (its
    DescribeProcessingJob answer) and its ``tags``: one instance, ``analysis_stage=merge``, the profile job's output
    as ``partial_profiles``, its baselines, code and image, and the hour's report folder as output."""
    profile = described["ProcessingJobName"]
    inputs = {i.get("InputName"): (i.get("S3Input") or {}).get("S3Uri") for i in described.get("ProcessingInputs", [])}
    outputs = (described.get("ProcessingOutputConfig") or {}).get("Outputs", [])
    partials = {o.get("OutputName"): (o.get("S3Output") or {}).get("S3Uri") for o in outputs}.get("result")
    window = _profile_window(described)
    merged = replace(
        settings,
        instance_count=1,
        baseline_statistics_uri=_field(described, "input baseline_statistics", inputs.get("baseline_statistics")),
        baseline_constraints_uri=_field(described, "input baseline_constraints", inputs.get("baseline_constraints")),
        lib_uri=_field(described, "input lib", inputs.get("lib")),
        image_uri=_field(
            described, "AppSpecification.ImageUri", (described.get("AppSpecification") or {}).get("ImageUri")
        ),
        serving_model_package_arn=tags.get(MODEL_PACKAGE_TAG, ""),
    )
    environment = {**check_environment(merged, window), "analysis_stage": "merge", "partial_profiles": PARTIALS_DIR}
    partials_prefix = _field(described, "output result", partials).rstrip("/") + "/"
    job_inputs = [s3_input("partial_profiles", partials_prefix, PARTIALS_DIR), *baseline_inputs(merged)]
    name = merge_job_name(settings.job_name_prefix, profile)
    return job_request(merged, name, job_inputs, environment, report_uri(merged, window))


def start_merge(settings: CheckSettings, event: Mapping, sagemaker) -> dict:
    """Start the merge job of the profile job ``event`` names, once it has completed; returns what happened (never
    raises on a duplicate delivery or a profile job that did not complete)."""
    profile = profile_job_name(event)
    name = merge_job_name(settings.job_name_prefix, profile)
    outcome = {"job_name": name, "stage": "merge", "profile_job_name": profile}
    described = aws_call(
        f"DescribeProcessingJob {profile}", sagemaker.describe_processing_job, ProcessingJobName=profile
    )
    status = described.get("ProcessingJobStatus")
    if status != "Completed":
        why = described.get("FailureReason") or described.get("ExitMessage") or "no reason given"
        reason = f"profile job {profile} is {status} ({why}): no merge job, and no report for its hour"
        log.warning("%s", reason)
        return {**outcome, "status": "ProfileNotCompleted", "profile_status": status, "reason": reason}
    arn = described["ProcessingJobArn"]
    listed = aws_call(f"ListTags {arn}", sagemaker.list_tags, ResourceArn=arn)
    request = merge_job_request(settings, described, {t["Key"]: t["Value"] for t in listed.get("Tags", [])})
    environment = request["Environment"]
    outcome.update(window_start=environment["start_time"], window_end=environment["end_time"])
    log.info("merge job %s of profile job %s", name, profile)
    return start_job(sagemaker, request, outcome, f"{profile}'s completion")
