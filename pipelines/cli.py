"""``mlops``: the project's command line.

Errors: a ``MlopsError`` (bad input, configuration or state: ``mlops_errors``) is the user's to fix, so it prints one
line, ``mlops <command> [<subcommand>]: error: <message>``, and exits 2 (``-v`` prints its traceback too). Anything
else is a bug: it propagates with its traceback (exit 1). A standard output closed under a command (``| head``) ends
it quietly (``pipelines.commands.closed_stdout_is_quiet``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from mlops_errors import MlopsError
from pipelines.commands import (
    bootstrap,
    closed_stdout_is_quiet,
    definition,
    demo,
    deploy,
    destroy,
    doctor,
    models,
    monitor,
    run,
    serve,
    smoke,
)
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
        return closed_stdout_is_quiet(lambda: int(args.handler(args) or 0))
    except MlopsError as exc:  # a user error; anything else but Ctrl-C is a bug and keeps its traceback
        if args.verbose:
            traceback.print_exc()
        print(f"mlops {_command_words(args)}: error: {as_typed(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C where the command has no handling of its own: no traceback, exit 130
        if args.verbose:
            traceback.print_exc()
        print(f"mlops {_command_words(args)}: interrupted", file=sys.stderr)
        return 130


def _command_words(args: argparse.Namespace) -> str:
    """The command and its subcommand, if it has one: ``models show`` (each parser's subcommand is its
    ``<command>_command``)."""
    sub = getattr(args, f"{args.command.replace('-', '_')}_command", None)
    return f"{args.command} {sub}" if sub else args.command


if __name__ == "__main__":
    sys.exit(main())
