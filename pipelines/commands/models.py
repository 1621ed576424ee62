"""``mlops models``: list, show, approve and reject registered model versions (local or SageMaker)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from pipelines.invocation import as_typed
from pipelines.registry import APPROVED, REJECTED, STATUSES, parse_reference


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
        p.add_argument("--state-dir", type=Path, default=None, help="local state directory (default from config)")
        p.add_argument("--bucket", default=None, help="S3 bucket of the approvals log (sagemaker backend)")

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
        action.add_argument("--note", required=True, help="why (kept in the approval history)")
        action.add_argument("--by", default=None, help="who (default: the current user)")
        action.set_defaults(handler=_set_status, status=status)


def _open(args):
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.registry.factory import open_registry

    config = config_from_kwargs({"bucket": args.bucket}, args.config)
    if args.backend == "local":
        config = local_config(config)
    state = args.state_dir or Path(config.project.state_dir)
    return config, open_registry(args.backend, config, state)


def _list(args) -> int:
    _, registry = _open(args)
    versions = registry.list_versions(args.group, args.status)
    if args.json:
        print(json.dumps([v.to_json() for v in versions], indent=2))
        return 0
    if not versions:
        print("No model versions registered" + (f" in {args.group}" if args.group else "") + ".")
        return 0
    print(f"{'GROUP/VERSION':<28} {'STATUS':<22} {'CREATED':<27} METRICS")
    for v in versions:
        print(f"{v.reference:<28} {v.status:<22} {v.created[:26]:<27} {v.metrics.get('model_statistics', '-')}")
    return 0


def _show(args) -> int:
    _, registry = _open(args)
    group, version = parse_reference(args.reference)
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
        print(f"  {key + ':':<24}{uri}")
    if model.source:
        print(f"  registered by execution {model.source}")
    for event in history:
        print(f"  {event.at[:19]}  {event.from_status} -> {event.to_status} by {event.by}: {event.note}")
    return 0


def _set_status(args) -> int:
    config, registry = _open(args)
    group, version = parse_reference(args.reference)
    by = args.by or getpass.getuser()
    model = registry.set_status(group, version, args.status, by, args.note)
    print(f"{model.reference} is now {model.status} (by {by}: {args.note})")
    if args.backend == "local" and model.status == APPROVED:
        from pipelines.deploy.local import deploy_on_approval

        state = args.state_dir or Path(config.project.state_dir)
        print(as_typed(deploy_on_approval(config, state, group, version).message))
    return 0
