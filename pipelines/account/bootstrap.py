"""``mlops bootstrap --backend sagemaker``: deploy ``infrastructure/bootstrap.yaml`` as ``<project.name>-bootstrap``
through the change-set code that deploys the monitoring stack, and the values its outputs give ``mlops.yaml``.

The template goes inline (TemplateBody): before this stack exists there is no bucket to stage a larger one in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipelines.cloud import CloudError
from pipelines.config import Config, ConfigError
from pipelines.errors import UsageError
from pipelines.monitoring_stack import changeset
from pipelines.monitoring_stack.template import INFRASTRUCTURE, MAX_BODY

TEMPLATE = INFRASTRUCTURE / "bootstrap.yaml"
CODE_SOURCES = ("none", "codecommit", "codeconnections")
# the bootstrap stack's outputs -> the sagemaker.* fields of mlops.yaml they fill
CONFIG_OUTPUTS = {"ExecutionRoleArn": "role_arn", "ArtifactBucketName": "bucket", "KmsKeyArn": "kms_key_id"}
# the template's ProjectName pattern, starting with a letter (it starts the stack's name) and at most 32 characters
_PROJECT_NAME = re.compile(r"^(?=.{1,32}$)[a-z](-*[a-z0-9])*$")
_IMAGE_ACCOUNT = re.compile(r"^(\d{12})\.dkr\.ecr\.")


@dataclass(frozen=True)
class CodeSource:
    """Where the CodeBuild project's code comes from (``none``: no build project trigger)."""

    kind: str = "none"
    repository: str = ""  # codecommit: the repository's name
    connection_arn: str = ""  # codeconnections: the connection
    full_repository_id: str = ""  # codeconnections: owner/repo
    branch: str = "main"

    def check(self) -> None:
        """UsageError naming the option when the source is incomplete."""
        if self.kind not in CODE_SOURCES:
            raise UsageError(f"--code-source must be one of {', '.join(CODE_SOURCES)}, got {self.kind!r}")
        if self.kind == "codecommit" and not self.repository:
            raise UsageError("--code-source codecommit needs --repository NAME (the CodeCommit repository)")
        if self.kind == "codeconnections":
            if not self.connection_arn.startswith("arn:"):
                raise UsageError(
                    f"--code-source codeconnections needs --connection-arn ARN, got {self.connection_arn!r}"
                )
            if not re.fullmatch(r"[^/\s]+/[^/\s]+", self.full_repository_id):
                raise UsageError(
                    f"--repository must be owner/repo for codeconnections, got {self.full_repository_id!r}"
                )


def stack_name(config: Config) -> str:
    """The bootstrap stack: ``<project.name>-bootstrap``."""
    return f"{config.project.name}-bootstrap"


def check_project_name(name: str) -> None:
    """ConfigError unless ``project.name`` can name the stack's resources (lower case, at most 32 characters)."""
    if not _PROJECT_NAME.match(name):
        raise ConfigError(
            f"project.name {name!r}: the bootstrap stack names its bucket and roles after it, so it must be lower-case "
            "letters, digits and hyphens, start with a letter, not end with a hyphen and be at most 32 characters"
        )


def image_accounts(config: Config) -> tuple[str, str]:
    """The ECR accounts of the SageMaker XGBoost and Model Monitor images in the configured region (the SDK's
    offline image table): the stack's FrameworkImageAccount and ModelMonitorImageAccount."""
    from pipelines.monitoring_stack.deploy import resolve_images

    images = resolve_images(config)
    accounts = []
    for field, uri in (("sagemaker.framework_version", images.processing), ("monitoring.engine", images.model_monitor)):
        match = _IMAGE_ACCOUNT.match(uri)
        if match is None:
            raise ConfigError(f"{field}: cannot read the ECR account from the image {uri}")
        accounts.append(match.group(1))
    return accounts[0], accounts[1]


def framework_image_account(config: Config) -> str:
    """The ECR account of the SageMaker XGBoost image in the configured region."""
    return image_accounts(config)[0]


def check_names(config: Config, project_id: str) -> None:
    """ConfigError when ``sagemaker.pipeline_name`` or ``model_package_group`` differ from the names the stack's
    roles are scoped to (``<project>-pipeline``; ``<project>`` or ``<project>-<project id>``)."""
    name, sm = config.project.name, config.sagemaker
    expected = {  # set explicitly only: unset, the build derives both names as the stack does
        "sagemaker.pipeline_name": (sm.pipeline_name, f"{name}-pipeline"),
        "sagemaker.model_package_group": (sm.model_package_group, f"{name}-{project_id}" if project_id else name),
    }
    for field, (got, want) in expected.items():
        if got is not None and got != want:
            raise ConfigError(
                f"{field} {got!r}: the bootstrap stack scopes its roles to {want!r} (from project.name"
                f"{' and --project-id' if project_id and 'group' in field else ''}); leave {field} unset or set it to"
                f" {want!r}"
            )


def parameters(
    config: Config,
    source: CodeSource,
    alert_email: str = "",
    project_id: str = "",
    image_account: str = "",
    monitor_image_account: str = "",
) -> dict[str, str]:
    """The stack's parameters from the configuration and the options (the template's defaults for the rest)."""
    check_project_name(config.project.name)
    check_names(config, project_id)
    source.check()
    sm = config.sagemaker
    values = {
        "ProjectName": config.project.name,
        "ProjectId": project_id,
        "SubnetIds": ",".join(sm.subnets),
        "SecurityGroupIds": ",".join(sm.security_group_ids),
        "CodeSource": source.kind,
        "CodeCommitRepositoryName": source.repository if source.kind == "codecommit" else "",
        "ConnectionArn": source.connection_arn if source.kind == "codeconnections" else "",
        "FullRepositoryId": source.full_repository_id if source.kind == "codeconnections" else "",
        "BranchName": source.branch,
        "AlertEmail": alert_email,
    }
    if image_account:
        values["FrameworkImageAccount"] = image_account
    if monitor_image_account:
        values["ModelMonitorImageAccount"] = monitor_image_account
    return values


def template_body(path: Path) -> str:
    """The template's text; CloudError when it is missing or too large to send inline."""
    if not path.is_file():
        raise CloudError(f"{path} not found: the bootstrap template is part of the repository (infrastructure/)")
    body = path.read_text(encoding="utf-8")
    if len(body.encode()) > MAX_BODY:
        raise CloudError(
            f"{path} is {len(body.encode())} bytes, over CreateChangeSet's {MAX_BODY}-byte TemplateBody limit "
            "(there is no bucket to stage it in before this stack exists)"
        )
    return body


def config_values(outputs: Mapping[str, str], stack: str) -> dict[str, str]:
    """The ``sagemaker.*`` values from the stack's outputs; CloudError naming the missing outputs."""
    missing = [key for key in CONFIG_OUTPUTS if not outputs.get(key)]
    if missing:
        raise CloudError(f"Stack {stack} has no output {', '.join(missing)}: is it the bootstrap template's?")
    return {field: outputs[key] for key, field in CONFIG_OUTPUTS.items()}


def deploy_bootstrap(
    config: Config,
    cfn,
    stack_parameters: Mapping[str, str],
    *,
    dry_run: bool = False,
    template: Path | None = None,
    wait: changeset.WaitPolicy = changeset.DEFAULT_WAIT,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> changeset.StackDeployment:
    """Create or update the bootstrap stack through a change set (``dry_run``: describe it, change nothing). A stack
    that has no changes still reports its outputs."""
    name = stack_name(config)
    deployment = changeset.deploy_stack(
        cfn,
        name,
        stack_parameters,
        template_body=template_body(template or TEMPLATE),
        tags={"mlops:project": config.project.name},
        description="mlops bootstrap",
        dry_run=dry_run,
        wait=wait,
        now=now,
    )
    if deployment.status == "no-changes":
        stack = changeset.describe_stack(cfn, name) or {}
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
        return changeset.StackDeployment(
            name, deployment.change_set_type, "no-changes", (), {}, outputs, stack.get("StackStatus", "")
        )
    return deployment
