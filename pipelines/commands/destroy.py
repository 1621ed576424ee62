"""``mlops destroy --backend sagemaker``: list, then delete, everything the project created in the account."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pipelines.commands.bootstrap import add_backend, check_backend
from pipelines.commands.options import endpoint_option
from pipelines.errors import UsageError


def register(commands) -> None:
    parser = commands.add_parser(
        "destroy",
        help="delete the project's AWS resources (endpoints, schedules, stacks, data)",
        description="List, then delete in this order: the endpoints' monitoring schedules and the checks' "
        "EventBridge Scheduler schedules, the endpoints, their endpoint configs and models, the monitoring and "
        "deploy-on-approval stacks, then (unless --keep-data) the bucket's objects (every version) and the bootstrap "
        "stack. Asks first unless --yes; --dry-run only lists. What is already gone is skipped.",
    )
    add_backend(parser)
    parser.add_argument(
        "--endpoint",
        type=endpoint_option,
        action="append",
        default=None,
        metavar="NAME",
        help="endpoint (repeatable; default from config)",
    )
    parser.add_argument(
        "--deploy-stack", default=None, help="deploy-on-approval stack (default <endpoint>-deploy-on-approval)"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the bucket's objects and the bootstrap stack")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask")
    parser.set_defaults(handler=_destroy)


def confirm(project: str, count: int, ask: Callable[[str], str] = input) -> None:
    """UsageError unless the answer is ``yes`` or the project's name."""
    try:
        answer = ask(f"Delete these {count} resources? Type yes or the project name ({project}): ").strip()
    except EOFError:
        answer = ""
    if answer not in ("yes", project):
        raise UsageError(f"not confirmed (answered {answer!r}): nothing deleted; pass --yes to skip the question")


def run_destroy(
    config,
    clients,
    *,
    endpoints=(),
    deploy_stack: str | None = None,
    keep_data: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    wait=None,
) -> int:
    """List what exists, ask (unless ``yes``), delete; 0. ``dry_run`` only lists."""
    from pipelines.account.destroy import DeleteWait, destroy
    from pipelines.account.teardown import plan, project_names

    resources = plan(clients, project_names(config, endpoints or (), deploy_stack), keep_data)
    if not resources:
        print(f"Nothing of project {config.project.name} to delete in {config.project.region}")
        return 0
    print(f"{'Would delete' if dry_run else 'Will delete'}, in this order ({config.project.region}):")
    for resource in resources:
        print(f"  {resource.describe()}")
    if keep_data:
        print("Kept (--keep-data): the bucket's objects and the bootstrap stack")
    if dry_run:
        return 0
    if not yes:
        confirm(config.project.name, len(resources), ask)
    destroy(clients, resources, wait or DeleteWait())
    print(f"Deleted {len(resources)} resources")
    print(
        f"Not deleted (they cost nothing while unused): pipeline {config.pipeline_name}, model package group "
        f"{config.model_package_group} and its versions, the jobs' CloudWatch log groups"
    )
    return 0


def _destroy(args: argparse.Namespace, clients=None, ask: Callable[[str], str] = input, wait=None) -> int:
    from pipelines.account.teardown import TeardownClients
    from pipelines.build import config_from_kwargs

    check_backend(args.backend, "destroy")
    config = config_from_kwargs({"region": args.region}, args.config)
    if clients is None:
        import boto3

        clients = TeardownClients.from_session(boto3.Session(region_name=config.project.region))
    return run_destroy(
        config,
        clients,
        endpoints=args.endpoint or (),
        deploy_stack=args.deploy_stack,
        keep_data=args.keep_data,
        dry_run=args.dry_run,
        yes=args.yes,
        ask=ask,
        wait=wait,
    )
