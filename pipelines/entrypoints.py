"""The console scripts SageMaker project templates call: ``get-pipeline-definition`` and ``run-pipeline``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_errors import MlopsError
from pipelines.build import build_definition, config_from_kwargs
from pipelines.cloud import ensure_model_package_group, start_execution, upsert_pipeline, wait_for_execution
from pipelines.config import ConfigError

DEFAULT_MODULE = "pipelines.definition"


def _kwargs(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f'--kwargs must be a JSON object such as \'{{"region": "us-east-1"}}\': {exc}') from exc
    if not isinstance(value, dict):
        raise ConfigError(f"--kwargs must be a JSON object, got {text!r}")
    return value


def parse_tags(text: str | None) -> dict[str, str]:
    """``--tags``: a JSON list of {"Key", "Value"} (the templates' form) or a JSON object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f'--tags must be JSON: [{{"Key": "k", "Value": "v"}}] or {{"k": "v"}}: {exc}') from exc
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(t, dict) and "Key" in t and "Value" in t for t in value):
        return {str(t["Key"]): str(t["Value"]) for t in value}
    raise ConfigError(f'--tags must be a list of {{"Key", "Value"}} objects or an object, got {text!r}')


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``--param Name=value`` pairs."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param must be Name=value, got {item!r}")
        params[key] = value
    return params


def get_pipeline_definition(argv: Sequence[str] | None = None) -> int:
    """``get-pipeline-definition``: print or write the pipeline definition JSON."""
    parser = argparse.ArgumentParser(prog="get-pipeline-definition", description="Print the pipeline definition.")
    parser.add_argument("-n", "--module-name", default=DEFAULT_MODULE, help="module with get_pipeline")
    parser.add_argument("-kwargs", "--kwargs", default=None, help="JSON: region, role, default_bucket, ...")
    parser.add_argument("-f", "--file-name", default=None, help="write the definition here instead of stdout")
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    args = parser.parse_args(argv)
    return _guard("get-pipeline-definition", lambda: _write_definition(args))


def _write_definition(args) -> int:
    config = config_from_kwargs(_kwargs(args.kwargs), args.config)
    built = build_definition(config, args.module_name)
    if args.file_name:
        Path(args.file_name).write_text(built.json, encoding="utf-8")
        print(f"Wrote the definition of {config.pipeline_name} to {args.file_name}")
    else:
        sys.stdout.write(built.json)
    return 0


def run_pipeline(argv: Sequence[str] | None = None, sagemaker_client=None, s3_client=None) -> int:
    """``run-pipeline``: stage code, upsert the pipeline, and start it (not waiting unless ``--wait``)."""
    parser = argparse.ArgumentParser(prog="run-pipeline", description="Stage code, upsert and start the pipeline.")
    parser.add_argument("-n", "--module-name", default=DEFAULT_MODULE, help="module with get_pipeline")
    parser.add_argument("-role-arn", "--role-arn", default=None, help="execution role of the pipeline")
    parser.add_argument("-tags", "--tags", default=None, help='JSON [{"Key": "k", "Value": "v"}]')
    parser.add_argument("-kwargs", "--kwargs", default=None, help="JSON: region, role, default_bucket, ...")
    parser.add_argument("-description", "--description", default="", help="pipeline description")
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="parameter override")
    parser.add_argument("--no-start", action="store_true", help="upsert only, do not start an execution")
    parser.add_argument("--wait", action="store_true", help="wait for the execution, showing step progress")
    parser.add_argument("--poll-seconds", type=float, default=30.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return _guard("run-pipeline", lambda: _run(args, sagemaker_client, s3_client))


def _run(args, sagemaker_client, s3_client) -> int:
    import boto3

    from pipelines.staging import stage_to_s3

    kwargs = _kwargs(args.kwargs)
    if args.role_arn:
        kwargs["role"] = args.role_arn
    config = config_from_kwargs(kwargs, args.config)
    sm = config.sagemaker
    if not sm.role_arn:
        raise ConfigError("run-pipeline needs the pipeline's execution role: --role-arn or sagemaker.role_arn")
    if not sm.bucket:
        raise ConfigError(
            "run-pipeline needs an S3 bucket for code and artefacts: --kwargs "
            '\'{"default_bucket": "..."}\' or sagemaker.bucket'
        )
    params = parse_params(args.param)
    if args.module_name == DEFAULT_MODULE:  # our parameters are known without building (and the SDK's import)
        from pipelines.parameters import check_params

        check_params(params, config)
    built = build_definition(config, args.module_name)
    declared = {p["Name"] for p in json.loads(built.json)["Parameters"]}
    unknown = sorted(set(params) - declared)
    if unknown:
        raise ConfigError(
            f"--param: unknown parameter(s) {', '.join(unknown)}; declared: {', '.join(sorted(declared))}"
        )
    session = boto3.Session(region_name=config.project.region)
    s3 = s3_client or session.client("s3")
    sagemaker = sagemaker_client or session.client("sagemaker")
    uploaded = stage_to_s3(built.objects(), s3, sm.kms_key_id)
    print(f"Staged code: {uploaded} new object(s) under s3://{sm.bucket}/{config.pipeline_name}/")
    tags = parse_tags(args.tags)
    kw = _kwargs(args.kwargs)
    if kw.get("sagemaker_project_name"):
        tags.setdefault("sagemaker:project-name", kw["sagemaker_project_name"])
    if kw.get("sagemaker_project_id"):
        tags.setdefault("sagemaker:project-id", kw["sagemaker_project_id"])
    group_arn = ensure_model_package_group(sagemaker, config.model_package_group, tags)
    arn, action = upsert_pipeline(sagemaker, config.pipeline_name, built.json, sm.role_arn, tags, args.description)
    print(f"Pipeline {action}: {arn} (model package group {group_arn})")
    if args.no_start:
        return 0
    execution = start_execution(sagemaker, config.pipeline_name, params)
    print(f"Execution started: {execution}")
    if args.wait:
        status = wait_for_execution(sagemaker, execution, poll_seconds=args.poll_seconds)
        return 0 if status == "Succeeded" else 1
    return 0


def _guard(prog: str, action) -> int:
    """Run ``action``: a user error (``MlopsError``) prints one line and exits 2; anything else is a bug and keeps
    its traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return action()
    except MlopsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def main_get_pipeline_definition() -> None:
    sys.exit(get_pipeline_definition())


def main_run_pipeline() -> None:
    sys.exit(run_pipeline())
