"""``mlops definition``: build the pipeline definition offline and print or write it."""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.commands.options import bucket_option
from pipelines.errors import UsageError


def register(commands) -> None:
    parser = commands.add_parser("definition", help="print or write the pipeline definition JSON (offline)")
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument("--region", help="AWS region (overrides project.region)")
    parser.add_argument("--role-arn", help="pipeline execution role (default for local runs: a placeholder)")
    parser.add_argument(
        "--bucket", type=bucket_option, help="S3 bucket for code and artefacts (default for local runs: mlops-local)"
    )
    parser.add_argument("--engine", choices=("processing", "model-monitor"), help="monitoring engine of the baseline")
    parser.add_argument("--output", help="write the JSON here instead of stdout")
    parser.set_defaults(handler=_definition)


def _writable_file(path: Path) -> Path:
    """``--output``, checked before the build (which takes seconds): a file whose folder exists, not a folder."""
    if path.is_dir():
        raise UsageError(f"--output {path}: is a directory; give the file to write, e.g. {path / 'definition.json'}")
    if not path.parent.is_dir():
        raise UsageError(f"--output {path}: no such directory {path.parent}")
    return path


def _definition(args) -> int:
    from pipelines.build import build_definition, config_from_kwargs, local_config

    output = _writable_file(Path(args.output)) if args.output else None
    config = local_config(
        config_from_kwargs(
            {"region": args.region, "role": args.role_arn, "default_bucket": args.bucket, "engine": args.engine},
            args.config,
        )
    )
    built = build_definition(config)
    if output is not None:
        output.write_text(built.json, encoding="utf-8")
        print(f"Wrote the definition of {config.pipeline_name} ({len(built.json)} bytes) to {args.output}")
    else:
        sys.stdout.write(built.json)
    return 0
