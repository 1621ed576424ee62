"""What each step type does locally. The runner never imports step internals: jobs run the staged code
in subprocesses; the register step writes the local registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.local.expressions import Context, condition_holds, evaluate
from pipelines.local.jobs import run_processing, run_training
from pipelines.local.quality_check import run_quality_check
from pipelines.local.store import ObjectStore, StepFailure
from pipelines.registry.model import ModelRegistry


@dataclass
class StepEnvironment:
    """What a step executor needs from the runner."""

    store: ObjectStore
    execution_dir: Path
    execution_id: str
    pipeline: str
    registry: ModelRegistry


def job_name(env: StepEnvironment, step: str) -> str:
    """The job name SageMaker would give the step's job in this execution (at most 63 characters)."""
    return f"{env.pipeline}-{step}-{env.execution_id}"[:63].rstrip("-")


def run_step(step: dict, ctx: Context, env: StepEnvironment, log: Path) -> dict:
    """Execute one step; returns its properties. Raises StepFailure."""
    kind, name = step["Type"], step["Name"]
    work = env.execution_dir / "steps" / name
    if kind == "Processing":
        return run_processing(evaluate(step["Arguments"], ctx), work, env.store, log, job_name(env, name))
    if kind == "Training":
        return run_training(evaluate(step["Arguments"], ctx), work, env.store, log, job_name(env, name))
    if kind == "QualityCheck":
        return run_quality_check(step, ctx, env.store, env.registry, work, log, job_name(env, name))
    if kind == "RegisterModel":
        request = evaluate(step["Arguments"], ctx)
        version = env.registry.register(request, source=env.execution_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"registered {version.reference} ({version.status}) from {version.model_data_url}\n")
        return {
            "ModelPackageArn": version.arn,
            "ModelPackageVersion": version.version,
            "ModelPackageGroupName": version.group,
            "ModelApprovalStatus": version.status,
        }
    if kind == "Condition":
        outcome = all(condition_holds(c, ctx) for c in step["Arguments"].get("Conditions", []))
        return {"Outcome": outcome}
    if kind == "Fail":
        message = evaluate(step.get("Arguments", {}).get("ErrorMessage", ""), ctx)
        raise StepFailure(str(message) or f"Fail step {name} reached", "Fail")
    raise StepFailure(f"step type {kind} is not supported by the local runner", "ClientError")


def read_property_file(step: dict, properties: dict, file_name: str, store: ObjectStore) -> dict:
    """The JSON of a step's property file, read from its output in the object store."""
    for spec in step.get("PropertyFiles", []):
        if spec.get("PropertyFileName") == file_name:
            output = properties["ProcessingOutputConfig"]["Outputs"][spec["OutputName"]]
            path = store.path(output["S3Output"]["S3Uri"].rstrip("/") + "/" + spec["FilePath"])
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise StepFailure(f"property file {file_name} of {step['Name']} unreadable at {path}: {exc}") from exc
    raise StepFailure(f"step {step['Name']} declares no property file {file_name}", "ClientError")
