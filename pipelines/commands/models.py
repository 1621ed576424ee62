"""``mlops models``: list, show, approve and reject registered model versions (local or SageMaker)."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from pipelines.commands.options import bucket_option, state_dir_option
from pipelines.invocation import as_typed
from pipelines.registry import APPROVED, REJECTED, STATUSES, RegistryError, parse_reference
from pipelines.registry.model import approval_text_problem
from pipelines.registry.sqlite import MAX_VERSION


def _keepable(text: str) -> str:
    """``text`` if an approval can keep it (``approval_text_problem``), else argparse's error saying why."""
    problem = approval_text_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _note(text: str) -> str:
    """``--note``: the reason kept in the approval history, which must say something."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must say why (it is kept in the approval history), got {text!r}")
    return _keepable(text)


def _by(text: str) -> str:
    """``--by``: who, when given, must be named (leave the option out to record the current user)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name who (or leave --by out for the current user), got {text!r}")
    return _keepable(text)


def _reference(text: str) -> tuple[str, int]:
    """``GROUP/VERSION`` as (group, version); RegistryError naming it when malformed or out of range."""
    group, version = parse_reference(text)
    if version > MAX_VERSION:
        raise RegistryError(f"version {version} in {text!r} is out of range: versions are 1 to {MAX_VERSION}")
    return group, version


def register(commands) -> None:
    parser = commands.add_parser("models", help="the model registry: list, show, approve, reject")
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")

    def common(p):
        p.add_argument(
            "--backend",
            choices=("local", "sagemaker"),
            default="local",
            help="local SQLite registry (default) or the SageMaker Model Registry",
        )
        p.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
        p.add_argument(
            "--state-dir", type=state_dir_option, default=None, help="local state directory (default from config)"
        )
        p.add_argument(
            "--bucket", type=bucket_option, default=None, help="S3 bucket of the approvals log (sagemaker backend)"
        )

    listing = sub.add_parser("list", help="list versions, newest first")
    common(listing)
    listing.add_argument("--group", help="only this model package group")
    listing.add_argument("--status", choices=STATUSES, help="only versions with this status")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)

    show = sub.add_parser("show", help="one version with its metrics, baselines and approval history")
    common(show)
    show.add_argument("reference", metavar="GROUP/VERSION")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_show)

    for name, status in (("approve", APPROVED), ("reject", REJECTED)):
        action = sub.add_parser(name, help=f"mark a version {status}")
        common(action)
        action.add_argument("reference", metavar="GROUP/VERSION")
        action.add_argument("--note", required=True, type=_note, help="why (kept in the approval history)")
        action.add_argument("--by", default=None, type=_by, help="who (default: the current user)")
        action.set_defaults(handler=_set_status, status=status)


def _open(args):
    """The configuration, the registry and the state directory (the local registry's, which must exist)."""
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.commands import state_directory
    from pipelines.registry.factory import open_registry

    config = config_from_kwargs({"bucket": args.bucket}, args.config)
    if args.backend == "local":
        config = local_config(config)
        state = state_directory(args.state_dir, config, reading=True)
    else:
        state = args.state_dir or Path(config.project.state_dir)
    return config, open_registry(args.backend, config, state), state


METRIC_GROUPS = ("regression_metrics", "binary_classification_metrics")


def evaluation_uri(metrics: dict[str, str]) -> str | None:
    """Where a version's evaluation.json is: its ``evaluation`` (CustomerMetadataProperties); a version registered
    before the model-quality baseline (no ``model_constraints``) had it as ``model_statistics``."""
    if "evaluation" in metrics:
        return metrics["evaluation"]
    return None if "model_constraints" in metrics else metrics.get("model_statistics")


def read_evaluation(uri: str | None, state_dir: Path, s3_client=None) -> dict | None:
    """The evaluation.json at ``uri`` (see ``evaluation_uri``), or None when it cannot be read."""
    from pipelines.objectstore import is_s3_uri, local_path, split_s3_uri

    if not uri:
        return None
    try:  # a missing or unreadable report is shown as "-": it never fails the listing
        if s3_client is not None and is_s3_uri(uri):
            from botocore.exceptions import BotoCoreError, ClientError

            bucket, key = split_s3_uri(uri)
            try:
                text = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
            except (BotoCoreError, ClientError):
                return None
        else:
            text = local_path(uri, state_dir).read_text(encoding="utf-8")
        document = json.loads(text)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def evaluation_metrics(document: dict | None) -> dict[str, dict[str, tuple[float, float | None]]]:
    """``{"model": {metric: (value, std)}, "baseline": {...}}`` from an evaluation.json."""
    found: dict[str, dict[str, tuple[float, float | None]]] = {}
    for who, block in (("model", document or {}), ("baseline", (document or {}).get("baseline_predictor") or {})):
        for group in METRIC_GROUPS:
            for name, entry in (block.get(group) or {}).items():
                if isinstance(entry, dict) and isinstance(entry.get("value"), (int, float)):
                    std = entry.get("standard_deviation")
                    found.setdefault(who, {})[name] = (entry["value"], std if isinstance(std, (int, float)) else None)
    return found


def _value(value: float, std: float | None) -> str:
    return f"{value:.4g}" + (f" ± {std:.2g}" if std is not None else "")


def _s3(args, config):
    if args.backend != "sagemaker":
        return None
    import boto3

    return boto3.Session(region_name=config.project.region).client("s3")


def _list(args) -> int:
    config, registry, state = _open(args)
    versions = registry.list_versions(args.group, args.status)
    if args.json:
        print(json.dumps([v.to_json() for v in versions], indent=2))
        return 0
    if not versions:
        print("No model versions registered" + (f" in {args.group}" if args.group else "") + ".")
        return 0
    s3, gate = _s3(args, config), config.gate.metric
    print(f"{'GROUP/VERSION':<28} {'STATUS':<22} {'CREATED':<27} {gate.upper()} (GATE: {config.gate.threshold})")
    for v in versions:
        metrics = evaluation_metrics(read_evaluation(evaluation_uri(v.metrics), state, s3))
        shown = _value(*metrics["model"][gate]) if gate in metrics.get("model", {}) else "-"
        print(f"{v.reference:<28} {v.status:<22} {v.created[:26]:<27} {shown}")
    return 0


def _show(args) -> int:
    group, version = _reference(args.reference)
    config, registry, state = _open(args)
    model = registry.get(group, version)
    history = registry.history(group, version)
    if args.json:
        print(json.dumps({**model.to_json(), "history": [e.__dict__ for e in history]}, indent=2))
        return 0
    print(f"{model.reference}  {model.status}  (created {model.created})")
    print(f"  arn:        {model.arn}")
    print(f"  model data: {model.model_data_url}")
    print(f"  image:      {model.image_uri}")
    for key, uri in {**model.metrics, **{f"drift {k}": u for k, u in model.drift_baselines.items()}}.items():
        print(f"  {key + ':':<25} {uri}")
    if model.source:
        print(f"  registered by execution {model.source}")
    metrics = evaluation_metrics(read_evaluation(evaluation_uri(model.metrics), state, _s3(args, config)))
    if metrics:
        print(f"  evaluation (value ± bootstrap standard deviation; gate: {config.gate.metric}):")
        print(f"    {'METRIC':<10} {'MODEL':<22} BASELINE (trivial predictor)")
        for name, (value, std) in metrics.get("model", {}).items():
            base = metrics.get("baseline", {}).get(name)
            print(f"    {name:<10} {_value(value, std):<22} {_value(*base) if base else '-'}")
    for event in history:
        print(f"  {event.at[:19]}  {event.from_status} -> {event.to_status} by {event.by}: {event.note}")
    return 0


def _set_status(args) -> int:
    group, version = _reference(args.reference)
    config, registry, state = _open(args)
    by = args.by or getpass.getuser()
    model = registry.set_status(group, version, args.status, by, args.note)
    print(f"{model.reference} is now {model.status} (by {by}: {args.note})")
    if args.backend == "local" and model.status == APPROVED:
        from pipelines.deploy.local import deploy_on_approval

        print(as_typed(deploy_on_approval(config, state, group, version).message))
    return 0
