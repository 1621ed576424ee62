"""``mlops smoke --backend sagemaker``: the opt-in end-to-end run in a real account, one stage after the other.

Stages: bootstrap (the stack, and its values into mlops.yaml), run-pipeline --wait, approve the version it
registered, deploy it, invoke the endpoint, one monitoring run (deploy the monitoring stack, invoke its check
function once), destroy. Each stage is the project's own code for that command. The first stage that fails stops
the run with a ``SmokeError`` naming the stage and what the finished stages left in the account (which
``mlops destroy --backend sagemaker`` removes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlops_errors import MlopsError
from pipelines.cloud import CloudError
from pipelines.config import Config
from pipelines.errors import StateError


class SmokeError(CloudError):
    """A smoke stage failed; the message names it and what is left in the account."""


@dataclass(frozen=True)
class Stage:
    """One step of the run: ``run`` returns what it did; ``leaves`` is what it leaves in the account."""

    name: str
    run: Callable[[], str]
    leaves: str = ""


def run_stages(stages: Sequence[Stage], progress: Callable[[str], None] = print) -> None:
    """Run ``stages`` in order; SmokeError at the first that fails (a ``MlopsError``), naming what is left."""
    left: list[str] = []
    for stage in stages:
        progress(f"== {stage.name}")
        try:
            progress(f"   {stage.run()}")
        except MlopsError as exc:
            remaining = "; ".join(left) or "nothing this run created"
            raise SmokeError(
                f"smoke stage {stage.name!r} failed: {exc}. Left in the account: {remaining}. Remove it with: "
                "mlops destroy --backend sagemaker"
            ) from exc
        if stage.leaves:
            left.append(stage.leaves)
        if stage.name == "destroy":
            left.clear()


@dataclass
class SmokeRun:
    """The state the stages share: the configuration (reloaded once bootstrap wrote mlops.yaml), the session, the
    version approved and deployed."""

    config_path: Path
    config: Config
    session: Any  # boto3.Session
    version: Any = None  # the approved ModelVersion
    deployer: Any = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))

    def bootstrap(self) -> str:
        from pipelines.account.bootstrap import (
            CodeSource,
            config_values,
            deploy_bootstrap,
            image_accounts,
            parameters,
        )
        from pipelines.account.config_edit import write_sagemaker_values
        from pipelines.build import config_from_kwargs

        values = parameters(self.config, CodeSource(), "", "", *image_accounts(self.config))
        deployment = deploy_bootstrap(self.config, self.session.client("cloudformation"), values)
        update = write_sagemaker_values(self.config_path, config_values(deployment.outputs, deployment.stack_name))
        if not update.written:
            raise StateError(
                f"{self.config_path} not written ({update.reason}): the run needs the role and bucket in it"
            )
        self.config = config_from_kwargs({"region": self.config.project.region}, str(self.config_path))
        return f"stack {deployment.stack_name} {deployment.status}; {self.config_path} has its role, bucket and key"

    def run_pipeline(self) -> str:
        from pipelines.entrypoints import run_pipeline

        code = run_pipeline(
            ["--config", str(self.config_path), "--wait"],
            self.session.client("sagemaker"),
            self.session.client("s3"),
        )
        if code != 0:
            raise StateError(f"run-pipeline --wait exited {code} (the execution did not succeed; its steps are above)")
        return f"pipeline {self.config.pipeline_name} succeeded"

    def approve(self) -> str:
        from pipelines.registry.model import APPROVED, PENDING
        from pipelines.registry.sagemaker import SageMakerRegistry

        group = self.config.model_package_group
        registry = SageMakerRegistry(
            self.session.client("sagemaker"),
            self.session.client("s3"),
            self.config.sagemaker.bucket or "",
            self.config.pipeline_name,
        )
        pending = registry.list_versions(group, PENDING)
        if not pending:
            raise StateError(f"no version of {group} is pending approval: did the pipeline's gate register none?")
        newest = pending[0]
        self.version = registry.set_status(group, newest.version, APPROVED, "mlops smoke", "smoke run")
        return f"{self.version.reference} Approved"

    def deploy(self) -> str:
        from pipelines.deploy.sagemaker import Clients, SageMakerDeployer

        self.deployer = SageMakerDeployer(
            self.config, Clients.from_session(self.session), progress=lambda m: print(f"   {m}", flush=True)
        )
        return self.deployer.deploy(self.version.group, self.version.version).message

    def invoke(self) -> str:
        return f"{self.deployer.endpoint} answered {self.deployer.target.smoke_test(self.deployer.chosen)}"

    def monitor(self) -> str:
        from pipelines.monitoring_stack.deploy import MonitoringClients, deploy_monitoring
        from pipelines.monitoring_stack.names import name_prefix

        deployed = deploy_monitoring(
            self.config, clients=MonitoringClients.from_session(self.session), model_version=self.version
        )
        function = f"{name_prefix(self.config)}-monitor-check"
        event = {"scheduled_time": f"{self.now():%Y-%m-%dT%H:%M:%SZ}", "execution_id": "mlops-smoke", "attempt": "1"}
        try:
            answer = self.session.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
        except Exception as exc:  # botocore's errors, whichever
            raise CloudError(f"Invoke {function} failed: {exc}") from exc
        payload = answer["Payload"].read().decode("utf-8", "replace")
        if answer.get("FunctionError"):
            raise CloudError(f"{function} failed: {payload[:300]}")
        return f"stack {deployed.stack.stack_name} {deployed.stack.status}; {function} answered {payload[:300]}"

    def destroy(self) -> str:
        from pipelines.account.teardown import TeardownClients
        from pipelines.commands.destroy import run_destroy

        run_destroy(self.config, TeardownClients.from_session(self.session), yes=True)
        return "everything the run created is deleted"

    def stages(self) -> list[Stage]:
        """The run's stages, in order."""
        from pipelines.account.bootstrap import stack_name
        from pipelines.monitoring_stack.names import stack_name as monitoring_stack

        endpoint = self.config.endpoint_name
        return [
            Stage("bootstrap", self.bootstrap, f"stack {stack_name(self.config)} (bucket, key, roles)"),
            Stage(
                "run-pipeline --wait", self.run_pipeline, f"objects in the bucket under {self.config.pipeline_name}/"
            ),
            Stage("approve", self.approve),
            Stage("deploy", self.deploy, f"endpoint {endpoint} (billed per hour) with its endpoint config and model"),
            Stage("invoke", self.invoke),
            Stage("monitoring run", self.monitor, f"stack {monitoring_stack(self.config)}"),
            Stage("destroy", self.destroy),
        ]
