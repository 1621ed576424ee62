"""``mlops monitor deploy --backend sagemaker``: deploy the monitoring stack (CloudFormation change set; for the
``model-monitor`` engine it holds the Model Monitor job definitions and schedules). ``mlops monitor repoint``: point
monitoring at the model version live on the endpoint (the retry of a deploy whose repoint failed)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pipelines.commands.options import bucket_option, endpoint_option
from pipelines.errors import StateError

BACKENDS = ("sagemaker",)


def register_cloud_commands(monitor_subparsers) -> None:
    """Add ``deploy`` to the ``mlops monitor`` subcommands."""
    parser = monitor_subparsers.add_parser(
        "deploy",
        help="deploy the monitoring infrastructure on AWS (CloudFormation change set)",
        description="Render infrastructure/monitoring.yaml for the configured features and alert addresses, deploy "
        "it through a change set with values from the configuration (for monitoring.engine model-monitor the stack "
        "holds the Model Monitor job definitions and schedules). --dry-run shows the change set without executing it.",
    )
    parser.add_argument("--backend", required=True, choices=BACKENDS, help="where to deploy (sagemaker: AWS)")
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument("--region", default=None, help="AWS region (default: project.region)")
    parser.add_argument("--role-arn", default=None, help="SageMaker execution role of the check jobs")
    parser.add_argument(
        "--bucket", type=bucket_option, default=None, help="the project's S3 bucket (code, data, reports)"
    )
    parser.add_argument(
        "--model-version",
        default=None,
        metavar="GROUP/VERSION",
        help="monitor against this version's drift baselines (default: the stack's current version, else the "
        "newest Approved one)",
    )
    parser.add_argument("--dry-run", action="store_true", help="create and print the change set, then delete it")
    parser.set_defaults(handler=_deploy)

    repoint = monitor_subparsers.add_parser(
        "repoint",
        help="point monitoring at the model version live on the endpoint",
        description="Read the model version the endpoint serves and write its drift-check baselines (data and model "
        "quality) to the live pointer the scheduled checks read (processing engine: no stack update); for "
        "monitoring.engine model-monitor, also update the monitoring stack's job definitions and thresholds through "
        "a parameters-only change set. This is what mlops deploy --backend sagemaker does after a deploy; run it "
        "when that step failed.",
    )
    repoint.add_argument("--backend", choices=BACKENDS, default="sagemaker", help="where (default sagemaker)")
    repoint.add_argument(
        "--endpoint", type=endpoint_option, default=None, help="endpoint name (default serving.endpoint_name)"
    )
    repoint.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    repoint.add_argument("--region", default=None, help="AWS region (default: project.region)")
    repoint.add_argument(
        "--bucket", type=bucket_option, default=None, help="the project's S3 bucket (where the live pointer is)"
    )
    repoint.set_defaults(handler=_repoint)


def _repoint(args: argparse.Namespace, clients=None) -> int:
    import sys

    from pipelines.build import config_from_kwargs
    from pipelines.deploy.sagemaker import Clients, SageMakerDeployer
    from pipelines.monitoring_stack.repoint import REPOINT_FAILED, RepointClients, RepointError, repoint

    config = config_from_kwargs({"default_bucket": args.bucket, "region": args.region}, args.config)
    if clients is None:
        import boto3

        clients = Clients.from_session(boto3.Session(region_name=config.project.region))
    deployer = SageMakerDeployer(config, clients, endpoint=args.endpoint)
    version = deployer.live_version()
    if version is None:
        raise StateError(
            f"Endpoint {deployer.endpoint} does not exist or serves no model package: nothing to repoint "
            "(deploy a version first: mlops deploy --backend sagemaker)"
        )
    print(f"Endpoint {deployer.endpoint} serves {version.reference}")
    try:
        repointed = repoint(
            config, version, RepointClients(clients.s3, clients.sagemaker, clients.cloudformation), deployer.endpoint
        )
    except RepointError as exc:
        print(f"mlops monitor repoint: error: {exc}", file=sys.stderr)
        return REPOINT_FAILED
    print(repointed.describe())
    return 0


def _deploy(args: argparse.Namespace) -> int:
    import boto3

    from pipelines.build import config_from_kwargs
    from pipelines.monitoring_stack.deploy import MonitoringClients, deploy_monitoring
    from pipelines.registry import parse_reference
    from pipelines.registry.sagemaker import SageMakerRegistry

    overrides = {"role": args.role_arn, "default_bucket": args.bucket, "region": args.region}
    config = config_from_kwargs(overrides, args.config)
    clients = MonitoringClients.from_session(boto3.Session(region_name=config.project.region))
    version = None
    if args.model_version:
        group, number = parse_reference(args.model_version)
        registry = SageMakerRegistry(clients.sagemaker, clients.s3, config.sagemaker.bucket or "", config.pipeline_name)
        version = registry.get(group, number)
    result = deploy_monitoring(config, clients=clients, model_version=version, dry_run=args.dry_run)
    print_deployment(result)
    return 0


def print_deployment(result, out: Callable[[str], None] = print) -> None:
    """The CLI's account of a ``MonitoringDeployment``: the change set, the parameters it changes, the outcome."""
    stack = result.stack
    verb = {"dry-run": "Would apply", "executed": "Applied", "no-changes": "No changes to"}[stack.status]
    out(f"{verb} stack {stack.stack_name} ({stack.change_set_type}, engine {result.engine})")
    for change in stack.changes:
        out(f"  {change.describe()}")
    if stack.parameter_changes:
        out("Parameters changed:")
        for key, (old, new) in sorted(stack.parameter_changes.items()):
            out(f"  {key}: {old or '(empty)'} -> {new or '(empty)'}")
    if stack.stack_status:
        out(f"Stack status: {stack.stack_status}")
    out(f"Baselines: {result.baselines_source}")
    if result.baselines.statistics:
        out(f"  {result.baselines.statistics}")
        out(f"  {result.baselines.constraints}")
    label = "Model Monitor schedule" if result.engine == "model-monitor" else "Check schedule"
    out(f"{label}: {result.schedule}")
    for key, value in sorted(stack.outputs.items()):
        out(f"  {key}: {value}")
    for warning in result.warnings:
        out(f"warning: {warning}")
