"""SageMaker Pipelines service calls (boto3): upsert, start, wait. Every AWS error is re-raised with context."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from mlops_errors import MlopsError

log = logging.getLogger(__name__)
TERMINAL = ("Succeeded", "Failed", "Stopped")


class CloudError(MlopsError, RuntimeError):
    """An AWS call failed; the message says which and what to check."""


def _call(what: str, func: Callable, **kwargs):
    try:
        return func(**kwargs)
    except NoCredentialsError as exc:
        raise CloudError(f"{what}: no AWS credentials found (configure a profile, or the CodeBuild role)") from exc
    except (ClientError, BotoCoreError) as exc:
        raise CloudError(f"{what} failed: {exc}") from exc


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def upsert_pipeline(
    client, name: str, definition: str, role_arn: str, tags: dict[str, str], description: str = ""
) -> tuple[str, str]:
    """Create the pipeline, or update it when it exists; returns (pipeline ARN, "created" | "updated")."""
    try:
        client.describe_pipeline(PipelineName=name)
        exists = True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("ResourceNotFound", "ValidationException"):
            raise CloudError(f"DescribePipeline {name} failed: {exc}") from exc
        exists = False
    except NoCredentialsError as exc:
        raise CloudError(
            "DescribePipeline: no AWS credentials found (configure a profile, or the CodeBuild role)"
        ) from exc
    extra = {"PipelineDescription": description} if description else {}
    if exists:
        arn = _call(
            f"UpdatePipeline {name}",
            client.update_pipeline,
            PipelineName=name,
            PipelineDefinition=definition,
            RoleArn=role_arn,
            **extra,
        )["PipelineArn"]
        if tags:
            _call(f"AddTags {arn}", client.add_tags, ResourceArn=arn, Tags=tag_list(tags))
        return arn, "updated"
    arn = _call(
        f"CreatePipeline {name}",
        client.create_pipeline,
        PipelineName=name,
        PipelineDefinition=definition,
        RoleArn=role_arn,
        Tags=tag_list(tags),
        **extra,
    )["PipelineArn"]
    return arn, "created"


def ensure_model_package_group(client, group: str, tags: dict[str, str]) -> str:
    """Create the model package group if missing (tagged); returns its ARN."""
    try:
        return client.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
            raise CloudError(f"DescribeModelPackageGroup {group} failed: {exc}") from exc
    return _call(
        f"CreateModelPackageGroup {group}",
        client.create_model_package_group,
        ModelPackageGroupName=group,
        ModelPackageGroupDescription=f"Models of the {group} pipeline",
        Tags=tag_list(tags),
    )["ModelPackageGroupArn"]


def start_execution(client, name: str, parameters: dict[str, str], display_name: str | None = None) -> str:
    """Start an execution with parameter overrides; returns its ARN."""
    extra = {"PipelineExecutionDisplayName": display_name} if display_name else {}
    response = _call(
        f"StartPipelineExecution {name}",
        client.start_pipeline_execution,
        PipelineName=name,
        PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in sorted(parameters.items())],
        **extra,
    )
    return response["PipelineExecutionArn"]


def wait_for_execution(
    client,
    arn: str,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 4 * 3600,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll until the execution ends, reporting each step's state change; returns the final status."""
    seen: dict[str, str] = {}
    waited = 0.0
    while True:
        status = _call("DescribePipelineExecution", client.describe_pipeline_execution, PipelineExecutionArn=arn)[
            "PipelineExecutionStatus"
        ]
        steps = _call(
            "ListPipelineExecutionSteps",
            client.list_pipeline_execution_steps,
            PipelineExecutionArn=arn,
            SortOrder="Ascending",
        )["PipelineExecutionSteps"]
        for step in steps:
            name, state = step["StepName"], step["StepStatus"]
            if seen.get(name) != state:
                seen[name] = state
                reason = f": {step['FailureReason']}" if step.get("FailureReason") else ""
                report(f"  {name:<22} {state}{reason}")
        if status in TERMINAL:
            report(f"Execution {status}: {arn}")
            return status
        if waited >= timeout_seconds:
            raise CloudError(f"Execution {arn} still {status} after {timeout_seconds:.0f} s")
        sleep(poll_seconds)
        waited += poll_seconds
