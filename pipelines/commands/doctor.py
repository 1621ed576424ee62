"""``mlops doctor --backend sagemaker``: check the account and the configuration before the first pipeline run.

Prints one table of checks, each pass / fail / cannot-tell with its fix (``--json``: the rows as JSON). Exit code: 0
when no check fails (cannot-tell rows do not fail), 1 when one does, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse

from pipelines.commands.options import bucket_option
from pipelines.invocation import as_typed


def register(commands) -> None:
    parser = commands.add_parser("doctor", help="check an AWS account and the configuration before the first run")
    add_arguments(parser)
    parser.set_defaults(handler=_doctor)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=("sagemaker",), default="sagemaker", help="what to check (sagemaker: the AWS account)"
    )
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument("--region", default=None, help="AWS region (default project.region)")
    parser.add_argument("--role-arn", default=None, help="execution role (default sagemaker.role_arn)")
    parser.add_argument("--bucket", type=bucket_option, default=None, help="artefact bucket (default sagemaker.bucket)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")


def _doctor(args, clients=None) -> int:
    from pipelines.build import config_from_kwargs
    from pipelines.doctor import DoctorClients, exit_code, render_json, render_table, run_checks

    overrides = {"role_arn": args.role_arn, "bucket": args.bucket, "region": args.region}
    config = config_from_kwargs(overrides, args.config)
    if clients is None:
        import boto3

        clients = DoctorClients.from_session(boto3.Session(region_name=config.project.region))
    rows = run_checks(config, clients)
    print(as_typed(render_json(rows) if args.json else render_table(rows)), flush=True)
    return exit_code(rows)
