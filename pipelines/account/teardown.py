"""What ``mlops destroy --backend sagemaker`` deletes: the names it looks for, and the resources of them that exist.

The plan lists only what exists, in the order it is deleted: the endpoints' monitoring schedules (Model Monitor;
SageMaker does not delete an endpoint that still has schedules) and the checks' EventBridge Scheduler schedules
first, so nothing fires against what goes next; then the endpoints (what costs most), their endpoint configs and
models (the deploy names them ``<endpoint>-v<version>-<hash>``); the monitoring and deploy-on-approval stacks;
then, unless the data is kept, every version of every object in the bucket, the bootstrap stack (its key and roles)
and the bucket itself, which the stack retains (so that deleting the stack never loses data by itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.account.bootstrap import stack_name as bootstrap_stack_name
from pipelines.cloud import CloudError
from pipelines.config import Config
from pipelines.monitoring_stack import changeset
from pipelines.monitoring_stack.names import model_quality_schedule_name, schedule_name
from pipelines.monitoring_stack.names import stack_name as monitoring_stack_name

_DEPLOYED = re.compile(r"(.+)-v\d+-[0-9a-f]{8}")
GONE_STACK = ("DELETE_COMPLETE",)


@dataclass(frozen=True)
class Resource:
    """One thing to delete."""

    kind: str  # monitoring schedule | scheduler schedule | endpoint | endpoint config | model | stack | bucket objects
    # | bucket
    name: str
    detail: str = ""
    prefix: str = ""  # bucket objects: only those under it (empty: the whole bucket)

    def describe(self) -> str:
        where = f"s3://{self.name}/{self.prefix}" if self.kind == "bucket objects" else self.name
        return f"{self.kind:<20} {where}{f' ({self.detail})' if self.detail else ''}"


@dataclass(frozen=True)
class TeardownClients:
    """The boto3 clients a teardown uses (injected: moto or Stubber in tests). ``monitoring`` makes the monitoring
    schedule calls (default: ``sagemaker``)."""

    # boto3 clients are untyped (no stubs pinned): Any, so their calls are not checked
    sagemaker: Any
    scheduler: Any
    cloudformation: Any
    s3: Any
    monitoring: Any = None

    @classmethod
    def from_session(cls, session) -> TeardownClients:
        return cls(*(session.client(n) for n in ("sagemaker", "scheduler", "cloudformation", "s3")))

    @property
    def schedules(self) -> Any:
        return self.monitoring or self.sagemaker


@dataclass(frozen=True)
class Names:
    """The project's resource names the teardown looks for."""

    endpoints: tuple[str, ...]
    schedules: tuple[str, ...]  # the checks' EventBridge Scheduler schedules (and Model Monitor's, same names)
    stacks: tuple[str, ...]  # monitoring, deploy-on-approval
    bootstrap_stack: str
    bucket: str
    pipeline: str  # a bucket the bootstrap stack did not create loses only the objects under <pipeline>/


def deploy_stack_name(config: Config) -> str:
    """The deploy-on-approval stack's default name: ``<endpoint>-deploy-on-approval`` (its CodeBuild project's)."""
    return f"{config.endpoint_name}-deploy-on-approval"


def project_names(config: Config, endpoints: Sequence[str] = (), deploy_stack: str | None = None) -> Names:
    """The names from the configuration (``endpoints`` given replace ``serving.endpoint_name``)."""
    return Names(
        tuple(endpoints) or (config.endpoint_name,),
        (schedule_name(config), model_quality_schedule_name(config)),
        (monitoring_stack_name(config), deploy_stack or deploy_stack_name(config)),
        bootstrap_stack_name(config),
        config.sagemaker.bucket or "",
        config.pipeline_name,
    )


def call(what: str, func, **kwargs):
    """``func(**kwargs)``; None when the resource does not exist, CloudError for any other failure."""
    try:
        return func(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        text = f"{error.get('Code', '')} {error.get('Message', '')}".lower()
        if any(s in text for s in ("not found", "notfound", "does not exist", "could not find", "nosuch")):
            return None
        raise CloudError(f"{what} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise CloudError(f"{what} failed: {exc}") from exc


def _pages(what: str, func, key: str, **kwargs) -> Iterator[dict]:
    token = None
    while True:
        page = call(what, func, **kwargs, **({"NextToken": token} if token else {})) or {}
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return


def _deployed_by(name: str, endpoint: str) -> bool:
    """Whether ``name`` is one the deploy gives a model or endpoint config of ``endpoint``."""
    match = _DEPLOYED.fullmatch(name)
    if match is None:
        return False
    return match.group(1) == endpoint or (len(name) == 63 and endpoint.startswith(match.group(1)))


def _endpoint_resources(clients: TeardownClients, endpoint: str) -> list[Resource]:
    sm = clients.sagemaker
    found: list[Resource] = []
    described = call(f"DescribeEndpoint {endpoint}", sm.describe_endpoint, EndpointName=endpoint)
    if described:
        found.append(Resource("endpoint", endpoint, described.get("EndpointStatus", "")))
    live = {described["EndpointConfigName"]} if described else set()
    search = endpoint[:40]
    listed = _pages("ListEndpointConfigs", sm.list_endpoint_configs, "EndpointConfigs", NameContains=search)
    configs = sorted(
        live | {c["EndpointConfigName"] for c in listed if _deployed_by(c["EndpointConfigName"], endpoint)}
    )
    models: set[str] = set()
    for name in configs:
        config = call(f"DescribeEndpointConfig {name}", sm.describe_endpoint_config, EndpointConfigName=name) or {}
        models |= {v["ModelName"] for v in config.get("ProductionVariants", [])}
    listed = _pages("ListModels", sm.list_models, "Models", NameContains=search)
    models |= {m["ModelName"] for m in listed if _deployed_by(m["ModelName"], endpoint)}
    found += [Resource("endpoint config", name) for name in configs]
    return found + [Resource("model", name) for name in sorted(models)]


def _stack(cfn, name: str) -> Resource | None:
    stack = changeset.describe_stack(cfn, name)
    if stack is None or stack.get("StackStatus") in GONE_STACK:
        return None
    return Resource("stack", name, stack.get("StackStatus", ""))


def _bucket_of(clients: TeardownClients, names: Names) -> tuple[str, str]:
    """(bucket, prefix): the bootstrap stack's bucket whole (ArtifactBucketName, the project's own), else only
    ``<pipeline>/`` of the configured bucket (which may hold others' data)."""
    stack = changeset.describe_stack(clients.cloudformation, names.bootstrap_stack) or {}
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    own = outputs.get("ArtifactBucketName", "")
    if own and (not names.bucket or names.bucket == own):
        return own, ""
    return names.bucket, f"{names.pipeline}/" if names.bucket else ""


def _bucket(clients: TeardownClients, bucket: str, prefix: str) -> Resource | None:
    if not bucket or call(f"HeadBucket {bucket}", clients.s3.head_bucket, Bucket=bucket) is None:
        return None
    listed = call(
        f"ListObjectVersions {bucket}", clients.s3.list_object_versions, Bucket=bucket, Prefix=prefix, MaxKeys=1000
    )
    listed = listed or {}
    count = len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))
    more = "+" if listed.get("IsTruncated") else ""
    return Resource("bucket objects", bucket, f"{count}{more} object versions and delete markers", prefix)


def plan(clients: TeardownClients, names: Names, keep_data: bool = False) -> list[Resource]:
    """What exists of ``names``, in the order it is deleted (see the module docstring)."""
    found: list[Resource] = []
    for endpoint in names.endpoints:
        listed = _pages(
            f"ListMonitoringSchedules {endpoint}",
            clients.schedules.list_monitoring_schedules,
            "MonitoringScheduleSummaries",
            EndpointName=endpoint,
        )
        found += [Resource("monitoring schedule", s["MonitoringScheduleName"]) for s in listed]
    for name in names.schedules:
        if call(f"GetSchedule {name}", clients.scheduler.get_schedule, Name=name):
            found.append(Resource("scheduler schedule", name))
    for endpoint in names.endpoints:
        found += _endpoint_resources(clients, endpoint)
    found += [r for r in (_stack(clients.cloudformation, name) for name in names.stacks) if r]
    if not keep_data:
        bucket, prefix = _bucket_of(clients, names)
        objects = _bucket(clients, bucket, prefix)
        found += [r for r in (objects, _stack(clients.cloudformation, names.bootstrap_stack)) if r]
        if objects and not prefix:  # the stack retains its bucket (DeletionPolicy Retain): the emptied bucket goes last
            found.append(Resource("bucket", bucket))
    return found
