"""``mlops deploy``: deploy the newest Approved model version (or the one given) to the local endpoint or to a
SageMaker endpoint; idempotent, and never an older version over a newer one without ``--force``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines.commands.options import bucket_option, endpoint_option, state_dir_option
from pipelines.errors import UsageError
from pipelines.invocation import as_typed


def register(commands) -> None:
    parser = commands.add_parser("deploy", help="deploy an approved model version to the endpoint (local or SageMaker)")
    add_arguments(parser)
    parser.set_defaults(handler=_deploy)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--group", default=None, help="model package group (default from config)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, default=None, help="this version (default: the newest Approved)")
    which.add_argument("--model-package-arn", default=None, help="this model package (e.g. from an approval event)")
    parser.add_argument(
        "--endpoint", type=endpoint_option, default=None, help="endpoint name (default serving.endpoint_name)"
    )
    parser.add_argument("--force", action="store_true", help="deploy even an older or not Approved version")
    parser.add_argument("--backend", choices=("local", "sagemaker"), default="local", help="where (default local)")
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument(
        "--state-dir", type=state_dir_option, default=None, help="local state directory (default from config)"
    )
    cloud = parser.add_argument_group("sagemaker backend")
    cloud.add_argument("--role-arn", default=None, help="execution role of the SageMaker model")
    cloud.add_argument("--bucket", type=bucket_option, default=None, help="bucket of the default capture destination")
    cloud.add_argument("--region", default=None, help="AWS region (default project.region)")
    cloud.add_argument(
        "--rollback-alarm",
        action="append",
        default=None,
        metavar="NAME",
        help="CloudWatch alarm that rolls an update back (repeatable; default: the rollback alarms of "
        "infrastructure/deploy-on-approval.yaml, <endpoint>-invocation-5xx-rate, <endpoint>-invocation-4xx-rate "
        "and <endpoint>-model-latency-p99)",
    )
    cloud.add_argument(
        "--alert-topic-arn",
        default=None,
        help="SNS topic alerted when monitoring cannot be repointed after a deploy (the monitoring stack's "
        "AlertsTopicArn output; default: no alert, only the exit code)",
    )
    cloud.add_argument("--poll-seconds", type=float, default=30.0, help="progress interval while waiting (default 30)")
    cloud.add_argument("--timeout-seconds", type=float, default=3600.0, help="give up waiting after (default 3600)")


def _deploy(args, clients=None) -> int:
    from pipelines.build import config_from_kwargs, local_config

    if args.version is not None and args.version < 1:
        raise UsageError(f"--version must be 1 or more, got {args.version}")
    overrides = {"role_arn": args.role_arn, "bucket": args.bucket, "region": args.region}
    config = config_from_kwargs(overrides, args.config)
    if args.backend == "local":
        from pipelines.commands import state_directory
        from pipelines.deploy.local import deploy_local
        from pipelines.registry.factory import open_registry

        config = local_config(config)
        state = state_directory(args.state_dir, config, reading=True)  # a mistyped one is named, not created
        result = deploy_local(
            config,
            state,
            open_registry("local", config, state),
            group=args.group,
            version=args.version,
            arn=args.model_package_arn,
            endpoint=args.endpoint,
            force=args.force,
        )
    else:
        from pipelines.deploy.sagemaker import Clients, SageMakerDeployer, WaitPolicy

        if clients is None:
            import boto3

            clients = Clients.from_session(boto3.Session(region_name=config.project.region))
        deployer = SageMakerDeployer(
            config,
            clients,
            endpoint=args.endpoint,
            rollback_alarms=args.rollback_alarm,
            wait=WaitPolicy(args.poll_seconds, args.timeout_seconds),
            progress=lambda message: print(f"  {message}", flush=True),
        )
        result = deployer.deploy(args.group, args.version, args.model_package_arn, args.force)
        print(as_typed(result.message), flush=True)  # the endpoint's new state comes first, whatever the repoint does
        return repoint_after_deploy(config, clients, deployer.chosen, deployer.endpoint, args.alert_topic_arn)
    print(as_typed(result.message))
    return 0


def repoint_after_deploy(config, clients, version, endpoint: str, alert_topic_arn: str | None) -> int:
    """Point monitoring at the version now live on ``endpoint``; 0, or REPOINT_FAILED after saying what failed,
    alerting ``alert_topic_arn`` and printing the command that retries the repoint alone."""
    from pipelines.invocation import command
    from pipelines.monitoring_stack.repoint import REPOINT_FAILED, RepointClients, RepointError, repoint

    try:
        repointed = repoint(
            config, version, RepointClients(clients.s3, clients.sagemaker, clients.cloudformation), endpoint
        )
    except RepointError as exc:
        retry = command("monitor", "repoint", "--backend", "sagemaker", "--endpoint", endpoint)
        message = (
            f"Monitoring was NOT repointed: {exc}. Endpoint {endpoint} serves {version.reference}, but its checks "
            f"still compare with the previous version's baselines. Retry the repoint alone: {retry}"
        )
        print(f"mlops deploy: error: {message}", file=sys.stderr)
        if alert_topic_arn and clients.sns is not None:
            from pipelines.monitoring_stack.repoint import publish_alert

            subject = f"Monitoring of {endpoint} not repointed to {version.reference}"
            print(f"mlops deploy: {publish_alert(clients.sns, alert_topic_arn, subject, message)}", file=sys.stderr)
        else:
            print("mlops deploy: no alert sent (no --alert-topic-arn)", file=sys.stderr)
        return REPOINT_FAILED
    print(repointed.describe())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipelines.commands.deploy`` (the same as ``mlops deploy``, with its error handling)."""
    from pipelines.cli import main as cli

    return cli(["deploy", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
