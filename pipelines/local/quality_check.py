"""A QualityCheck step locally, as SageMaker Pipelines runs one (CheckType DATA_QUALITY or MODEL_QUALITY).

The step always calculates a new baseline of its dataset (``CalculatedBaseline*``). Unless ``SkipCheck``, it also
checks that dataset against the previous baseline (the supplied baseline files, which take priority, else the
DriftCheckBaselines of the latest Approved version of ``ModelPackageGroupName``: ModelDataQuality for a data-quality
check, ModelQuality for a model-quality one) and writes
``constraint_violations.json`` next to its outputs. The previous baseline must exist when ``SkipCheck`` or
``RegisterNewBaseline`` is false. A violation fails the step when ``FailOnViolation`` (SageMaker's default), with
SageMaker's failure reason ("ClientError: Quality check failed. See violation report ..."); otherwise the step
succeeds and reports the violations in its log and its ``ViolationReport`` property.

Both jobs run the project's analyzer (``monitoring.container_entry``) in a subprocess, in Model Monitor's place,
with the step's environment (``analysis_type`` MODEL_QUALITY and the problem type and attributes for model quality):
baseline mode for the new baseline, check mode (``baseline_statistics`` / ``baseline_constraints``) for the check.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipelines.local.expressions import Context, evaluate
from pipelines.local.jobs import ContainerPaths, run_processing
from pipelines.local.store import ObjectStore, StepFailure

DATA_QUALITY = "DATA_QUALITY"
MODEL_QUALITY = "MODEL_QUALITY"
# where a registered version keeps each check type's DriftCheckBaselines (pipelines.registry.model)
DRIFT_KEYS = {DATA_QUALITY: ("statistics", "constraints"), MODEL_QUALITY: ("model_statistics", "model_constraints")}
SKIP_PARAMETER = {DATA_QUALITY: "SkipDataQualityCheck", MODEL_QUALITY: "SkipModelQualityCheck"}
VIOLATIONS = "constraint_violations.json"
CHECK_FAILED = "ClientError: Quality check failed. See violation report"  # SageMaker's FailureReason prefix
BASELINE_DIR = "/opt/ml/processing/baseline"
CHECK_OUTPUT = "/opt/ml/processing/resultdata"
NAMED_VIOLATIONS = 10


@dataclass(frozen=True)
class Baseline:
    """A statistics.json / constraints.json pair and where it came from."""

    statistics: str
    constraints: str
    source: str


@dataclass(frozen=True)
class CheckSettings:
    """The QualityCheck fields of a step, evaluated."""

    check_type: str
    skip_check: bool
    register_new_baseline: bool
    fail_on_violation: bool
    group: str | None
    supplied_statistics: str | None
    supplied_constraints: str | None


def settings(step: dict, ctx: Context) -> CheckSettings:
    """The step's check settings with parameters resolved; a wrong type is a ClientError naming the field."""
    check_type = step.get("CheckType", DATA_QUALITY)
    if check_type not in DRIFT_KEYS:
        raise StepFailure(
            f"QualityCheck {step['Name']}: CheckType {check_type!r} is not supported by the local runner "
            f"(only {' and '.join(DRIFT_KEYS)}: the project's analyzer does data and model quality)",
            "ClientError",
        )

    def flag(key: str, default: bool) -> bool:
        value = evaluate(step.get(key, default), ctx)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise StepFailure(f"QualityCheck {step['Name']}: {key} must be true or false, got {value!r}", "ClientError")
        return value

    def text(key: str) -> str | None:
        value = evaluate(step.get(key), ctx)
        if value in (None, ""):  # an unset ParameterString reads as ""
            return None
        if not isinstance(value, str):
            raise StepFailure(f"QualityCheck {step['Name']}: {key} must be a string, got {value!r}", "ClientError")
        return value

    return CheckSettings(
        check_type=check_type,
        skip_check=flag("SkipCheck", False),
        register_new_baseline=flag("RegisterNewBaseline", False),
        fail_on_violation=flag("FailOnViolation", True),
        group=text("ModelPackageGroupName"),
        supplied_statistics=text("SuppliedBaselineStatistics"),
        supplied_constraints=text("SuppliedBaselineConstraints"),
    )


def previous_baseline(step: dict, config: CheckSettings, registry) -> Baseline | None:
    """The baseline to check against: the supplied files, else the latest Approved version's drift baselines.

    Raises StepFailure when the step needs one (SkipCheck or RegisterNewBaseline false) and there is none."""
    if config.skip_check and config.register_new_baseline:
        return None
    name = step["Name"]
    statistics, constraints = config.supplied_statistics, config.supplied_constraints
    if statistics or constraints:
        if not statistics or not constraints:
            missing = "SuppliedBaselineStatistics" if not statistics else "SuppliedBaselineConstraints"
            raise StepFailure(
                f"QualityCheck {name}: {missing} is missing; a supplied baseline needs both "
                "SuppliedBaselineStatistics and SuppliedBaselineConstraints",
                "ClientError",
            )
        return Baseline(statistics, constraints, "the supplied baseline")
    needs = "SkipCheck" if not config.skip_check else "RegisterNewBaseline"
    if not config.group:
        raise StepFailure(
            f"QualityCheck {name} has {needs}=false but no previous baseline: it supplies no "
            "baseline files and names no ModelPackageGroupName",
            "ClientError",
        )
    try:
        approved = registry.list_versions(config.group, "Approved")
    except ValueError:  # a group nothing was registered in yet
        approved = []
    if not approved:
        raise StepFailure(
            f"QualityCheck {name} has {needs}=false, but model package group {config.group!r} has no "
            "Approved version whose DriftCheckBaselines it could use (SageMaker requires the previous baseline then). "
            f"Run with the check skipped (e.g. {SKIP_PARAMETER[config.check_type]}=true, as on a first run), "
            "or approve a version",
            "ClientError",
        )
    latest = approved[0]
    files = latest.drift_baselines
    statistics_key, constraints_key = DRIFT_KEYS[config.check_type]
    if not {statistics_key, constraints_key} <= set(files):
        kind = "data-quality" if config.check_type == DATA_QUALITY else "model-quality"
        raise StepFailure(
            f"QualityCheck {name} has {needs}=false, but the latest Approved version "
            f"{latest.reference} has no {kind} DriftCheckBaselines ({statistics_key} and {constraints_key}); "
            f"it has: {', '.join(sorted(files)) or 'none'}",
            "ClientError",
        )
    source = f"the DriftCheckBaselines of {latest.reference}"
    return Baseline(files[statistics_key], files[constraints_key], source)


def cache_key(key: str, step: dict, ctx: Context, registry) -> str:
    """The step cache key extended by what decides the check's outcome: a cached result is only reused for the
    same baseline and the same FailOnViolation."""
    config = settings(step, ctx)
    previous = previous_baseline(step, config, registry)
    extra = {
        "FailOnViolation": config.fail_on_violation,
        "previous": [previous.statistics, previous.constraints] if previous else None,
    }
    return hashlib.sha256(f"{key}:{json.dumps(extra, sort_keys=True)}".encode()).hexdigest()


def _check_job(arguments: dict, previous: Baseline) -> dict:
    """The check job: the baseline job's request with the previous baseline as inputs, in check mode."""
    inputs = list(arguments.get("ProcessingInputs", []))
    environment = dict(arguments.get("Environment") or {})
    for kind, uri in (("statistics", previous.statistics), ("constraints", previous.constraints)):
        local = f"{BASELINE_DIR}/{kind}"
        inputs.append(
            {
                "InputName": f"baseline_{kind}",
                "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"},
            }
        )
        environment[f"baseline_{kind}"] = f"{local}/{PurePosixPath(uri).name}"
    environment["output_path"] = CHECK_OUTPUT
    return {
        **arguments,
        "ProcessingInputs": inputs,
        "Environment": environment,
        "ProcessingOutputConfig": {"Outputs": []},
    }


def _violations(report: Path, name: str) -> list[dict]:
    try:
        document = json.loads(report.read_text(encoding="utf-8"))
        return list(document["violations"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise StepFailure(f"QualityCheck {name}: the check wrote no readable {VIOLATIONS} ({report}): {exc}") from exc


def _subject(violation: dict) -> object:
    """What a violation is about: a feature (data quality) or a metric (model quality)."""
    return violation.get("feature_name") or violation.get("metric_name")


def _describe(violations: list[dict]) -> str:
    named = [f"{_subject(v)} ({v.get('constraint_check_type')})" for v in violations[:NAMED_VIOLATIONS]]
    more = len(violations) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def run_quality_check(
    step: dict, ctx: Context, store: ObjectStore, registry, work: Path, log: Path, job_name: str
) -> dict:
    """Execute a QualityCheck step; returns its properties (the QualityCheck step metadata's fields)."""
    name = step["Name"]
    config = settings(step, ctx)
    previous = previous_baseline(step, config, registry)
    arguments = evaluate(step["Arguments"], ctx)
    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
    if len(outputs) != 1:
        raise StepFailure(f"QualityCheck {name}: expected one processing output, got {len(outputs)}", "ClientError")
    prefix = outputs[0]["S3Output"]["S3Uri"].rstrip("/")
    properties = run_processing(arguments, work, store, log, job_name)
    calculated = Baseline(f"{prefix}/statistics.json", f"{prefix}/constraints.json", "this step")
    # no previous baseline only when SkipCheck and RegisterNewBaseline are both true (previous_baseline)
    used = calculated if config.register_new_baseline or previous is None else previous
    properties.update(
        {
            "CheckType": config.check_type,
            "ModelPackageGroupName": config.group,
            "SkipCheck": config.skip_check,
            "RegisterNewBaseline": config.register_new_baseline,
            "CalculatedBaselineStatistics": calculated.statistics,
            "CalculatedBaselineConstraints": calculated.constraints,
            "BaselineUsedForDriftCheckStatistics": used.statistics,
            "BaselineUsedForDriftCheckConstraints": used.constraints,
            "CheckJobArn": f"arn:aws:sagemaker:local:000000000000:processing-job/{job_name}",
        }
    )
    if config.skip_check or previous is None:
        return properties
    check_name = f"{job_name[:57]}-check"
    checked = run_processing(_check_job(arguments, previous), work / "check", store, log, check_name)
    report_path = ContainerPaths(work / "check" / "container").map(f"{CHECK_OUTPUT}/{VIOLATIONS}")
    violations = _violations(report_path, name)
    report_uri = f"{prefix}/{VIOLATIONS}"
    store.put_bytes(report_uri, report_path.read_bytes())
    properties["CheckJobArn"] = f"arn:aws:sagemaker:local:000000000000:processing-job/{check_name}"
    properties["ExitMessage"] = checked["ExitMessage"]
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"drift check against {previous.source} ({previous.statistics}, {previous.constraints}): ")
        if not violations:
            out.write(f"no violations; report {report_uri}\n")
            return properties
        out.write(f"{len(violations)} violations: {_describe(violations)}; report {report_uri}\n")
        for violation in violations:
            out.write(f"  {_subject(violation)}: {violation.get('description')}\n")
    if config.fail_on_violation:
        raise StepFailure(
            f"{CHECK_FAILED} {report_uri} ({len(violations)} violations against {previous.source}: "
            f"{_describe(violations)})",
            "ClientError",
        )
    with open(log, "a", encoding="utf-8") as out:
        out.write("FailOnViolation is false: the step succeeds with these violations\n")
    properties["ViolationReport"] = report_uri
    return properties
