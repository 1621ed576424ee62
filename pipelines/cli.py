"""``mlops``: the project's command line.

Errors: a ``MlopsError`` (bad input, configuration or state: ``mlops_errors``) is the user's to fix, so it prints one
line, ``mlops <command>: error: <message>``, and exits 2 (``-v`` prints its traceback too). Anything else is a bug:
it propagates with its traceback (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from mlops_errors import MlopsError
from pipelines.commands import bootstrap, definition, demo, deploy, destroy, doctor, models, monitor, run, serve, smoke
from pipelines.invocation import as_typed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="SageMaker Pipelines project with a monitoring loop.")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug detail; show the traceback of an error too"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.register(commands)
    run.register(commands)
    definition.register(commands)
    models.register(commands)
    deploy.register(commands)
    serve.register(commands)
    monitor.register(commands)
    doctor.register(commands)
    bootstrap.register(commands)
    destroy.register(commands)
    smoke.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mlops`` command; the exit code says whether it could run (2: a user error, reported in one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.handler(args) or 0)
    except MlopsError as exc:  # the one except: anything else is a bug and keeps its traceback
        if args.verbose:
            traceback.print_exc()
        print(f"mlops {args.command}: error: {as_typed(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
