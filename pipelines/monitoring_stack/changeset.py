"""Deploying a CloudFormation stack through a change set: create or update, show what changes, execute, wait.

A stack that does not exist (or only exists as a REVIEW_IN_PROGRESS shell left by an unexecuted change set) gets a
CREATE change set, any other deployable stack an UPDATE one. A change set without changes is deleted and reported
as such. A dry run describes the change set and deletes it again (and the empty shell stack a CREATE leaves).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from pipelines.cloud import CloudError

log = logging.getLogger(__name__)
CAPABILITIES = ("CAPABILITY_IAM",)
UNDEPLOYABLE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED")
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class ResourceChange:
    """One line of a change set: what happens to which resource."""

    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""  # True | False | Conditional (Modify only)

    def describe(self) -> str:
        replacing = f" (replacement: {self.replacement})" if self.replacement in ("True", "Conditional") else ""
        return f"{self.action:<7} {self.resource_type:<34} {self.logical_id}{replacing}"


@dataclass(frozen=True)
class StackDeployment:
    """The outcome of one deploy: what changed and how it ended."""

    stack_name: str
    change_set_type: str  # CREATE | UPDATE
    status: str  # executed | no-changes | dry-run
    changes: tuple[ResourceChange, ...] = ()
    parameter_changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    stack_status: str = ""


@dataclass(frozen=True)
class WaitPolicy:
    """How long to wait for CloudFormation (seconds between polls, attempts)."""

    delay: int = 10
    max_attempts: int = 360


DEFAULT_WAIT = WaitPolicy()


def cloud_call(what: str, func: Callable, **kwargs):
    """``func(**kwargs)``; a botocore error becomes a CloudError saying what failed (the original chained)."""
    try:
        return func(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise CloudError(f"{what} failed: {exc}") from exc


def describe_stack(cfn, name: str) -> dict | None:
    """The stack's description, or None when there is no such stack."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            return None
        raise CloudError(f"DescribeStacks {name} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise CloudError(f"DescribeStacks {name} failed: {exc}") from exc


def stack_parameters(stack: dict | None) -> dict[str, str]:
    """The parameters a deployed stack was given."""
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])}


def _changes(cfn, stack: str, change_set: str) -> tuple[dict, tuple[ResourceChange, ...]]:
    described, changes, token = None, [], None
    while True:
        page = cloud_call(
            f"DescribeChangeSet {change_set}",
            cfn.describe_change_set,
            StackName=stack,
            ChangeSetName=change_set,
            **({"NextToken": token} if token else {}),
        )
        described = described or page
        for change in page.get("Changes", []):
            rc = change.get("ResourceChange", {})
            changes.append(
                ResourceChange(
                    rc.get("Action", "?"),
                    rc.get("LogicalResourceId", "?"),
                    rc.get("ResourceType", "?"),
                    str(rc.get("Replacement", "")),
                )
            )
        token = page.get("NextToken")
        if not token:
            return described, tuple(changes)


def _failure_events(cfn, stack: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except (ClientError, BotoCoreError):
        return ""
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("FAILED")][:5]
    return "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in failed)


def _change_set_type(stack_name: str, stack: dict | None, use_previous_template: bool) -> str:
    """CREATE for a stack that does not exist (or an unexecuted CREATE's shell), UPDATE for a deployable one;
    CloudError for a stack that cannot be deployed now, saying what to do."""
    status = (stack or {}).get("StackStatus", "")
    if status in UNDEPLOYABLE:
        raise CloudError(
            f"Stack {stack_name} is {status}: it cannot be updated. Look at its events, delete it "
            f"(aws cloudformation delete-stack --stack-name {stack_name}) and deploy again"
        )
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise CloudError(f"Stack {stack_name} is {status}: wait until it finishes, then deploy again")
    kind = "CREATE" if stack is None or status == "REVIEW_IN_PROGRESS" else "UPDATE"
    if use_previous_template and kind == "CREATE":
        raise CloudError(f"Stack {stack_name} is not deployed: deploy it before updating its parameters")
    return kind


def _created(cfn, stack_name: str, name: str, waiter_config: dict) -> bool:
    """Wait for the change set; False when CloudFormation found nothing to change, CloudError when it failed."""
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig=waiter_config
        )
    except WaiterError as exc:
        described = cloud_call("DescribeChangeSet", cfn.describe_change_set, StackName=stack_name, ChangeSetName=name)
        reason = described.get("StatusReason", "") or str(exc)
        if not any(text in reason for text in NO_CHANGES):
            raise CloudError(f"Change set {name} of {stack_name} failed: {reason}") from exc
        return False
    return True


def _executed(cfn, stack_name: str, name: str, kind: str, waiter_config: dict) -> dict:
    """Execute the change set and wait for the stack; its final description."""
    cloud_call(f"ExecuteChangeSet {name}", cfn.execute_change_set, StackName=stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig=waiter_config)
    except WaiterError as exc:
        raise CloudError(
            f"Stack {stack_name} did not reach {kind}_COMPLETE: {_failure_events(cfn, stack_name) or exc}"
        ) from exc
    return describe_stack(cfn, stack_name) or {}


def _parameter_list(parameters: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """CreateChangeSet's Parameters: a None value keeps the stack's current one (UsePreviousValue)."""
    return [
        {"ParameterKey": k, "UsePreviousValue": True} if v is None else {"ParameterKey": k, "ParameterValue": v}
        for k, v in parameters.items()
    ]


def deploy_stack(
    cfn,
    stack_name: str,
    parameters: Mapping[str, str | None],
    *,
    template_body: str | None = None,
    template_url: str | None = None,
    tags: dict[str, str] | None = None,
    dry_run: bool = False,
    wait: WaitPolicy = DEFAULT_WAIT,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    use_previous_template: bool = False,
    description: str = "mlops monitor deploy",
) -> StackDeployment:
    """Create or update ``stack_name`` through a change set (module docstring); a None parameter keeps its value
    (UsePreviousValue), ``use_previous_template`` updates parameters only, ``description`` names the command."""
    stack = describe_stack(cfn, stack_name)
    kind = _change_set_type(stack_name, stack, use_previous_template)
    name = f"mlops-{now():%Y%m%d-%H%M%S}"
    source: dict[str, Any] = {"UsePreviousTemplate": True} if use_previous_template else {}
    if not use_previous_template:
        source = {"TemplateURL": template_url} if template_url else {"TemplateBody": template_body}
    cloud_call(
        f"CreateChangeSet {name} of {stack_name}",
        cfn.create_change_set,
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=kind,
        Parameters=_parameter_list(parameters),
        Capabilities=list(CAPABILITIES),
        Tags=[{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())],
        Description=description,
        **source,
    )
    waiter_config = {"Delay": wait.delay, "MaxAttempts": wait.max_attempts}
    nothing_to_do = not _created(cfn, stack_name, name, waiter_config)
    _described, changes = _changes(cfn, stack_name, name)
    previous = stack_parameters(stack)
    parameter_changes = {
        k: (previous.get(k, ""), v)
        for k, v in parameters.items()
        if kind == "UPDATE" and v is not None and previous.get(k, "") != v
    }
    # CloudFormation fails a change set that changes nothing; one that was created is executed, even when a
    # parameter change lists no resource (the parameter may only reach a resource through a condition)
    nothing_to_do = nothing_to_do or (kind == "UPDATE" and not changes and not parameter_changes)
    if dry_run or nothing_to_do:
        cloud_call("DeleteChangeSet", cfn.delete_change_set, StackName=stack_name, ChangeSetName=name)
        if kind == "CREATE" and stack is None:
            cloud_call(f"DeleteStack {stack_name} (a dry run's empty shell)", cfn.delete_stack, StackName=stack_name)
        status = "dry-run" if dry_run else "no-changes"
        return StackDeployment(stack_name, kind, status, changes, parameter_changes)
    final = _executed(cfn, stack_name, name, kind, waiter_config)
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in final.get("Outputs", [])}
    log.info("stack %s: %s", stack_name, final.get("StackStatus"))
    return StackDeployment(
        stack_name, kind, "executed", changes, parameter_changes, outputs, final.get("StackStatus", "")
    )
