"""``mlops bootstrap --backend sagemaker``: create (or update) the account's project infrastructure, the bootstrap
stack, through a change set, and write its role, bucket and key into ``mlops.yaml``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import UsageError

BACKENDS = ("sagemaker",)


def register(commands) -> None:
    parser = commands.add_parser(
        "bootstrap",
        help="create the project's AWS infrastructure (role, bucket, key, build project) and fill mlops.yaml",
        description="Deploy infrastructure/bootstrap.yaml as <project.name>-bootstrap through a change set, print "
        "what changes, then write its ExecutionRoleArn, ArtifactBucketName and KmsKeyArn outputs into mlops.yaml's "
        "sagemaker.role_arn, sagemaker.bucket and sagemaker.kms_key_id (comments and layout kept), or print the lines "
        "to add when the file is not writable. --dry-run shows the change set and changes nothing.",
    )
    add_backend(parser)
    parser.add_argument("--dry-run", action="store_true", help="create and print the change set, then delete it")
    parser.add_argument("--project-id", default="", help="SageMaker project id (ProjectId; default none)")
    parser.add_argument("--alert-email", default="", help="subscribe this address to the project's alert topic")
    code = parser.add_argument_group("the build project's code source")
    code.add_argument("--code-source", default="none", help="none (default) | codecommit | codeconnections")
    code.add_argument("--repository", default="", help="codecommit: the repository name; codeconnections: owner/repo")
    code.add_argument("--connection-arn", default="", help="codeconnections: the connection's ARN")
    code.add_argument("--branch", default="main", help="the branch whose pushes start a build (default main)")
    parser.set_defaults(handler=_bootstrap)


def add_backend(parser: argparse.ArgumentParser, config_help: str = "configuration file (default mlops.yaml)") -> None:
    """``--backend`` (checked by ``check_backend`` so a wrong one gets one clear line), ``--config`` and ``--region``:
    what every command acting on an AWS account takes."""
    parser.add_argument("--backend", required=True, help="where (sagemaker: an AWS account)")
    parser.add_argument("--config", default=None, help=config_help)
    parser.add_argument("--region", default=None, help="AWS region (default project.region)")


def check_backend(backend: str, command: str) -> None:
    """UsageError unless ``backend`` is sagemaker."""
    if backend not in BACKENDS:
        raise UsageError(
            f"--backend {backend!r}: mlops {command} acts on an AWS account, so the only backend is sagemaker "
            "(the local backend needs no setup or teardown)"
        )


def _bootstrap(args: argparse.Namespace, cfn=None, image_account: str | None = None) -> int:
    from pipelines.account.bootstrap import CodeSource, deploy_bootstrap, image_accounts, parameters
    from pipelines.build import config_from_kwargs

    check_backend(args.backend, "bootstrap")
    config = config_from_kwargs({"region": args.region}, args.config)
    codeconnections = args.code_source == "codeconnections"
    source = CodeSource(
        args.code_source,
        repository="" if codeconnections else args.repository,
        connection_arn=args.connection_arn,
        full_repository_id=args.repository if codeconnections else "",
        branch=args.branch,
    )
    accounts = image_accounts(config) if image_account is None else (image_account, "")
    values = parameters(config, source, args.alert_email, args.project_id, *accounts)
    if cfn is None:
        import boto3

        cfn = boto3.Session(region_name=config.project.region).client("cloudformation")
    deployment = deploy_bootstrap(config, cfn, values, dry_run=args.dry_run)
    print_changes(deployment)
    return write_config(Path(args.config or "mlops.yaml"), deployment)


def print_changes(deployment, out: Callable[[str], None] = print) -> None:
    """The change set: what it adds, modifies or removes, the parameters it changes, the stack's status."""
    verb = {"dry-run": "Would apply", "executed": "Applied", "no-changes": "No changes to"}[deployment.status]
    out(f"{verb} stack {deployment.stack_name} ({deployment.change_set_type})")
    for change in deployment.changes:
        out(f"  {change.describe()}")
    for key, (old, new) in sorted(deployment.parameter_changes.items()):
        out(f"  parameter {key}: {old or '(empty)'} -> {new or '(empty)'}")
    if deployment.stack_status:
        out(f"Stack status: {deployment.stack_status}")
    for key, value in sorted(deployment.outputs.items()):
        out(f"  {key}: {value}")


def write_config(path: Path, deployment) -> int:
    """Write the stack's role, bucket and key into ``path`` (a dry run writes nothing); 0."""
    from pipelines.account.bootstrap import config_values
    from pipelines.account.config_edit import lines_to_add, write_sagemaker_values

    if deployment.status == "dry-run":
        print(f"Dry run: nothing changed. Once deployed, {path} gets sagemaker.role_arn, bucket and kms_key_id.")
        return 0
    values = config_values(deployment.outputs, deployment.stack_name)
    update = write_sagemaker_values(path, values)
    if update.written:
        print(f"Wrote sagemaker.role_arn, sagemaker.bucket and sagemaker.kms_key_id into {path}")
    else:
        print(f"mlops bootstrap: {path} not written ({update.reason}); add under sagemaker:", file=sys.stderr)
        for line in lines_to_add(values):
            print(line)
    print("Next: mlops doctor --backend sagemaker, then run-pipeline --wait")
    return 0
