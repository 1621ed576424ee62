"""Deleting what ``pipelines.account.teardown.plan`` found, in its order, each resource gone before the next.

A resource that is already gone is skipped; any other failure stops the teardown with a ``TeardownError`` naming
the resource, why, and what is left (so a second ``mlops destroy`` picks up where this one stopped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botocore.exceptions import WaiterError

from pipelines.account.teardown import Resource, TeardownClients, call
from pipelines.cloud import CloudError
from pipelines.monitoring_stack import changeset


class TeardownError(CloudError):
    """A resource could not be deleted; the message names it and what is left."""


@dataclass(frozen=True)
class DeleteWait:
    """Seconds between checks and how many checks until a deletion counts as stuck."""

    delay: float = 15.0
    max_attempts: int = 120
    sleep: Callable[[float], None] = time.sleep


def _until_gone(what: str, exists: Callable[[], bool], wait: DeleteWait) -> None:
    for _ in range(wait.max_attempts):
        if not exists():
            return
        wait.sleep(wait.delay)
    raise CloudError(f"{what} was still being deleted after {wait.max_attempts} checks")


def _monitoring_schedule(clients: TeardownClients, name: str, wait: DeleteWait) -> None:
    sm = clients.schedules
    call(f"DeleteMonitoringSchedule {name}", sm.delete_monitoring_schedule, MonitoringScheduleName=name)
    _until_gone(
        f"Monitoring schedule {name}",
        lambda: (
            call("DescribeMonitoringSchedule", sm.describe_monitoring_schedule, MonitoringScheduleName=name) is not None
        ),
        wait,
    )


def _endpoint(clients: TeardownClients, name: str, wait: DeleteWait) -> None:
    sm = clients.sagemaker
    call(f"DeleteEndpoint {name}", sm.delete_endpoint, EndpointName=name)
    _until_gone(
        f"Endpoint {name}",
        lambda: call("DescribeEndpoint", sm.describe_endpoint, EndpointName=name) is not None,
        wait,
    )


def _stack(clients: TeardownClients, name: str, wait: DeleteWait) -> None:
    cfn = clients.cloudformation
    call(f"DeleteStack {name}", cfn.delete_stack, StackName=name)
    try:
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=name, WaiterConfig={"Delay": max(1, int(wait.delay)), "MaxAttempts": wait.max_attempts}
        )
    except WaiterError as exc:
        stack = changeset.describe_stack(cfn, name) or {}
        reason = stack.get("StackStatusReason") or str(exc)
        raise CloudError(f"Stack {name} is {stack.get('StackStatus', 'not deleted')}: {reason}") from exc


def _bucket_objects(clients: TeardownClients, bucket: str, prefix: str) -> int:
    """Delete every object version and delete marker under ``prefix``; how many."""
    s3, deleted = clients.s3, 0
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in call(f"ListObjectVersions {bucket}", lambda: list(pages)) or []:
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            answer = call(
                f"DeleteObjects {bucket}", s3.delete_objects, Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
            )
            errors = (answer or {}).get("Errors", [])
            if errors:
                first = errors[0]
                raise CloudError(
                    f"DeleteObjects {bucket}: {len(errors)} not deleted, e.g. {first.get('Key')}: "
                    f"{first.get('Message')}"
                )
            deleted += len(batch)
    return deleted


def delete(clients: TeardownClients, resource: Resource, wait: DeleteWait) -> str:
    """Delete one resource and wait until it is gone; what was done."""
    kind, name, sm = resource.kind, resource.name, clients.sagemaker
    if kind == "monitoring schedule":
        _monitoring_schedule(clients, name, wait)
    elif kind == "scheduler schedule":
        call(f"DeleteSchedule {name}", clients.scheduler.delete_schedule, Name=name)
    elif kind == "endpoint":
        _endpoint(clients, name, wait)
    elif kind == "endpoint config":
        call(f"DeleteEndpointConfig {name}", sm.delete_endpoint_config, EndpointConfigName=name)
    elif kind == "model":
        call(f"DeleteModel {name}", sm.delete_model, ModelName=name)
    elif kind == "stack":
        _stack(clients, name, wait)
    elif kind == "bucket":
        call(f"DeleteBucket {name}", clients.s3.delete_bucket, Bucket=name)
    elif kind == "bucket objects":
        count = _bucket_objects(clients, name, resource.prefix)
        return f"Deleted {count} object versions and delete markers from s3://{name}/{resource.prefix}"
    else:
        raise ValueError(f"unknown resource kind {kind!r}")
    return f"Deleted {kind} {name}"


def destroy(
    clients: TeardownClients,
    resources: Sequence[Resource],
    wait: DeleteWait = DeleteWait(),
    progress: Callable[[str], None] = print,
) -> None:
    """Delete ``resources`` in order; TeardownError at the first failure, naming it and what is left."""
    for index, resource in enumerate(resources):
        try:
            progress(delete(clients, resource, wait))
        except CloudError as exc:
            left = "; ".join(f"{r.kind} {r.name}" for r in resources[index:])
            raise TeardownError(
                f"Could not delete {resource.kind} {resource.name}: {exc}. Not deleted: {left}. "
                "Fix the cause and run mlops destroy --backend sagemaker again"
            ) from exc
