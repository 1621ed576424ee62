"""``mlops run``: the pipeline, executed locally from its real definition; ``mlops executions``: the records."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.invocation import command


def register(commands) -> None:
    run = commands.add_parser("run", help="run the pipeline locally (the embedded default: no Docker, no AWS)")
    run.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    run.add_argument("--state-dir", type=Path, default=None, help="local state directory (default from config)")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter override, e.g. GateThreshold=3.5 or InputDataUrl=path.csv",
    )
    run.add_argument("--engine", choices=("processing", "model-monitor"), help="baseline engine")
    run.add_argument("--resume", metavar="EXECUTION", help="re-run a failed execution from its failed steps")
    run.add_argument("--parallel", type=int, default=2, help="steps run at once (default 2)")
    run.add_argument("--quiet", action="store_true", help="no live progress")
    run.set_defaults(handler=_run)

    executions = commands.add_parser("executions", help="local pipeline executions")
    sub = executions.add_subparsers(dest="executions_command", required=True, metavar="SUBCOMMAND")
    listing = sub.add_parser("list", help="executions, newest first")
    listing.add_argument("--state-dir", type=Path, default=None)
    listing.add_argument("--config", default=None)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="one execution: steps, status, timings, failures, outputs and logs")
    show.add_argument("execution", metavar="EXECUTION")
    show.add_argument("--state-dir", type=Path, default=None)
    show.add_argument("--config", default=None)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)


def _state(args):
    from pipelines.build import config_from_kwargs, local_config

    config = local_config(config_from_kwargs({"engine": getattr(args, "engine", None)}, args.config))
    return config, Path(args.state_dir or config.project.state_dir)


class Printer:
    """Live progress: one line per step state change, with the time since the run started."""

    def __init__(
        self, quiet: bool = False, say: Callable[[str], None] | None = None, names: dict[str, str] | None = None
    ) -> None:
        self.started = time.monotonic()
        self.quiet = quiet
        self.names = names or {}  # staged input URI -> the path the user gave, for failure reasons
        self.say = say or (lambda line: print(line, flush=True))

    def __call__(self, step: str, status: str, info: dict) -> None:
        if self.quiet:
            return
        detail = ""
        if "cached_from" in info:
            detail = f"(cached from {info['cached_from']})"
        elif "seconds" in info:
            detail = f"({info['seconds']:.1f} s)"
        if "outcome" in info:
            detail += f" -> {'if' if info['outcome'] else 'else'} branch"
        if "reason" in info:
            detail += f" {user_names(info['reason'], self.names).splitlines()[0]}"
        if "attempt" in info:
            detail = f"attempt {info['attempt']} failed ({info['error']}); retrying in {info['delay']:.0f} s"
        self.say(f"  [{time.monotonic() - self.started:6.1f}s] {step:<22} {status:<10} {detail}".rstrip())


def user_names(text: str, names: dict[str, str]) -> str:
    """``text`` with each staged input's URI replaced by the path the user gave for it."""
    for staged, given in names.items():
        text = text.replace(staged, given)
    return text


def _input_names(config, given: str | None, staged: str | None) -> dict[str, str]:
    """Staged URI -> the user's input: ``--param InputDataUrl=PATH`` if given, else ``data.input`` (a file, or a
    directory: its staged prefix, so a file under it is named under the user's directory)."""
    from pipelines.staging import data_artifact

    if given is not None:
        return {staged: given} if staged and staged != given else {}
    if config.data.input.startswith("s3://") or not Path(config.data.input).exists():
        return {}
    uri = data_artifact(Path(config.data.input)).uri(config.sagemaker.bucket, config.pipeline_name)
    return {uri: config.data.input}


def _run(args) -> int:
    from pipelines.entrypoints import parse_params
    from pipelines.local.definitions import local_definition, stage_input_override
    from pipelines.local.runner import LocalRunner
    from pipelines.parameters import check_params
    from pipelines.registry.factory import open_registry

    config, state = _state(args)
    params = parse_params(args.param)
    check_params(params, config)  # before the definition (and maybe the SDK's import): a typo answers at once
    registry = open_registry("local", config, state)
    printer = Printer(args.quiet)
    given = params.get("InputDataUrl")
    runner = LocalRunner(state, registry, max_parallel=args.parallel, progress=printer)
    if args.resume:
        if params:
            raise UsageError("--resume re-runs with the execution's own parameters: drop --param")
        print(f"Resuming execution {args.resume}")
        result = runner.resume(args.resume)
    else:
        definition, cached = local_definition(config, state)
        print(
            f"Pipeline {config.pipeline_name}: definition {'from cache' if cached else 'built'} "
            f"({time.monotonic() - printer.started:.1f} s)"
        )
        if "InputDataUrl" in params:
            params["InputDataUrl"] = stage_input_override(params["InputDataUrl"], config, state)
        printer.names = _input_names(config, given, params.get("InputDataUrl"))
        result = runner.start(definition, config.pipeline_name, params)
    _summary(result, time.monotonic() - printer.started, printer.names, _reach(args))
    return 0 if result.status == "Succeeded" else 1


def _reach(args) -> list[str]:
    """The options a follow-on command needs to reach this run's state: its --state-dir and --config."""
    import shlex

    words = []
    if args.state_dir is not None:
        words += ["--state-dir", shlex.quote(str(args.state_dir))]
    if args.config is not None:
        words += ["--config", shlex.quote(str(args.config))]
    return words


def _summary(result, seconds: float, names: dict[str, str] | None = None, reach: list[str] | None = None) -> None:
    print(f"Execution {result.execution_id}: {result.status} in {seconds:.1f} s")
    register = result.steps.get("Register", {})
    if register.get("status") == "Succeeded":
        props = register["properties"]
        print(
            f"Registered {props['ModelPackageGroupName']}/{props['ModelPackageVersion']} "
            f"({props['ModelApprovalStatus']}); approve with: "
            + command(
                "models",
                "approve",
                f"{props['ModelPackageGroupName']}/{props['ModelPackageVersion']}",
                "--note '...'",
                *(reach or []),
            )
        )
    if result.failure_reason:
        print(f"Failure: {user_names(result.failure_reason, names or {})}", file=sys.stderr)
    show = command("executions", "show", result.execution_id, *(reach or []))
    print(f"Record: {result.directory / 'execution.json'}  ({show})")


def _list(args) -> int:
    from pipelines.local.record import list_records

    _, state = _state(args)
    records = list_records(state)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        k: r.get(k)
                        for k in ("execution_id", "pipeline_name", "status", "created", "ended", "failure_reason")
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return 0
    if not records:
        print(f"No executions under {state}.")
        return 0
    print(f"{'EXECUTION':<14} {'STATUS':<10} {'CREATED':<25} FAILURE")
    for r in records:
        print(
            f"{r['execution_id']:<14} {r['status']:<10} {r['created'][:23]:<25} {(r.get('failure_reason') or '')[:80]}"
        )
    return 0


def _show(args) -> int:
    from pipelines.local.record import ExecutionRecord

    _, state = _state(args)
    record = ExecutionRecord.load(state, args.execution)
    data = record.data
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    print(f"Execution {data['execution_id']} of {data['pipeline_name']}: {data['status']}")
    print(f"  created {data['created']}, ended {data.get('ended')}")
    if data.get("failure_reason"):
        print(f"  failure: {data['failure_reason']}")
    print(f"  parameters: {json.dumps(data['parameters'])}")
    for name, step in data["steps"].items():
        timing = f"{step['duration_s']:.1f} s" if "duration_s" in step else ""
        cached = f" cached from {step['cache_hit_from']}" if step.get("cache_hit_from") else ""
        print(f"  {name:<22} {step['type']:<14} {step['status']:<10} {timing:>8}{cached}")
        if step.get("failure_reason"):
            print(f"      reason: {step['failure_reason'].splitlines()[0]}")
        if step.get("reason"):
            print(f"      {step['reason']}")
        outputs = (step.get("properties") or {}).get("ProcessingOutputConfig", {}).get("Outputs", {})
        for out in outputs.values():
            print(f"      output {out['OutputName']}: {out['S3Output']['S3Uri']}")
        model = (step.get("properties") or {}).get("ModelArtifacts", {}).get("S3ModelArtifacts")
        if model:
            print(f"      model: {model}")
        if step.get("log"):
            print(f"      log: {step['log']}")
        for host in step.get("hosts") or ():
            print(f"      {_host_line(host)}")
    return 0


def _host_line(host: dict) -> str:
    """One host of a multi-instance job: name, status, time, CPU, peak memory, exit code and log."""
    parts = [f"host {host['host']}", str(host.get("status", ""))]
    if host.get("duration_s") is not None:
        parts.append(f"{host['duration_s']:.1f} s")
    if host.get("cpu_s") is not None:
        parts.append(f"CPU {host['cpu_s']:.1f} s")
    if host.get("max_rss_mb") is not None:
        parts.append(f"peak RSS {host['max_rss_mb']:.0f} MiB")
    if host.get("exit_code") not in (None, 0):
        parts.append(f"exit code {host['exit_code']}")
    return ", ".join(parts) + (f" (log: {host['log']})" if host.get("log") else "")
