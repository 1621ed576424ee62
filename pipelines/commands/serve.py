"""``mlops serve``: the local endpoint (SageMaker container contract, data capture) for the deployed version."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.commands.options import endpoint_option, state_dir_option
from pipelines.errors import UsageError
from pipelines.invocation import command


def register(commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the local endpoint: GET /ping, POST /invocations, the Runtime API's "
        "POST /endpoints/<endpoint>/invocations, data capture (switches on deploy)",
    )
    add_arguments(parser)
    parser.set_defaults(handler=_serve)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", type=endpoint_option, default=None, help="endpoint name (default serving.endpoint_name)"
    )
    parser.add_argument("--host", default=None, help="address to bind (default serving.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default serving.port, 8080; 0 picks one)")
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument(
        "--state-dir", type=state_dir_option, default=None, help="local state directory (default from config)"
    )


def _serve(args) -> int:
    from inference.endpoint_state import read_state, state_path
    from inference.server import MIB, ServeOptions, serve_forever
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.deploy.local import extraction_limits
    from pipelines.objectstore import locator

    config = local_config(config_from_kwargs({}, args.config))
    if args.port is not None and not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, got {args.port}")
    state_dir = Path(args.state_dir or config.project.state_dir)
    options = ServeOptions(
        state_dir=state_dir,
        locate=locator(state_dir),
        endpoint=args.endpoint or config.endpoint_name,
        host=args.host or config.serving.host,
        port=config.serving.port if args.port is None else args.port,
        max_body_bytes=int(config.serving.max_body_mib * MIB),
        idle_timeout=config.serving.idle_timeout_seconds,
        header_timeout=config.serving.header_timeout_seconds,
        max_connections=config.serving.max_connections,
        extraction=extraction_limits(config),
    )
    logging.getLogger("inference").setLevel(logging.INFO)
    state = read_state(options.state_dir, options.endpoint)

    def ready(port: int, endpoint) -> None:
        serving = endpoint.active.state.reference if endpoint.active else "nothing yet"
        print(f"Endpoint {options.endpoint} on http://{options.host}:{port} serving {serving}", flush=True)
        if state is None:
            print(
                f"  no model deployed: run `{command('deploy', '--endpoint', options.endpoint)}`; this server switches "
                "to it "
                f"(watching {state_path(options.state_dir, options.endpoint)})",
                flush=True,
            )
        elif endpoint.active and endpoint.active.capture:
            print(f"  data capture to {endpoint.active.capture.directory}", flush=True)
        print("  Ctrl-C (SIGINT) or SIGTERM stops it gracefully, capture flushed", flush=True)

    endpoint = serve_forever(options, ready)
    capture = endpoint.active.capture if endpoint.active else None
    written = f"; {capture.written} capture record(s) written" if capture else ""
    print(f"Stopped endpoint {options.endpoint}{written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipelines.commands.serve`` (the same as ``mlops serve``, with its error handling)."""
    from pipelines.cli import main as cli

    return cli(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
