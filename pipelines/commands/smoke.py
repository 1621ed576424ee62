"""``mlops smoke --backend sagemaker``: an opt-in end-to-end run in a real account (it costs money: the estimate is
printed first, and it asks unless ``--yes``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from pipelines.commands.bootstrap import add_backend, check_backend
from pipelines.errors import UsageError


def register(commands) -> None:
    parser = commands.add_parser(
        "smoke",
        help="end-to-end run in a real AWS account, then teardown (costs money: asks first)",
        description="Bootstrap, run-pipeline --wait, approve the registered version, deploy it, invoke the endpoint, "
        "one monitoring run, destroy. Prints a cost estimate and asks before it starts, unless --yes. Stops at the "
        "first failure, naming what is left in the account (mlops destroy --backend sagemaker removes it).",
    )
    add_backend(parser, "configuration file (default mlops.yaml; bootstrap writes it)")
    parser.add_argument("--yes", action="store_true", help="do not ask")
    parser.set_defaults(handler=_smoke)


def ask_to_start(ask: Callable[[str], str] = input) -> None:
    """UsageError unless the answer is yes."""
    try:
        answer = ask("Start the smoke run (it creates billed resources, then deletes them)? Type yes: ").strip()
    except EOFError:
        answer = ""
    if answer != "yes":
        raise UsageError(f"not confirmed (answered {answer!r}): nothing started; pass --yes to skip the question")


def _smoke(args: argparse.Namespace, session=None, ask: Callable[[str], str] = input, runner=None) -> int:
    from pipelines.account.costs import estimate_text
    from pipelines.account.smoke import SmokeRun, run_stages
    from pipelines.build import config_from_kwargs

    check_backend(args.backend, "smoke")
    config = config_from_kwargs({"region": args.region}, args.config)
    for line in estimate_text(config):
        print(line)
    if not args.yes:
        ask_to_start(ask)
    if session is None:
        import boto3

        session = boto3.Session(region_name=config.project.region)
    run = (runner or SmokeRun)(Path(args.config or "mlops.yaml"), config, session)
    run_stages(run.stages())
    print("Smoke run passed: every stage succeeded and its resources are deleted")
    return 0
