"""``mlops executions``: the records local runs leave (``mlops run``), listed and shown.

A record that cannot be read is listed as Unreadable with its file and what is wrong (the others still list);
``show`` of it is an error naming the file."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.commands.options import state_dir_option

UNREADABLE = "Unreadable"
FIELDS = ("execution_id", "pipeline_name", "status", "created", "ended", "failure_reason")


def register(commands) -> None:
    executions = commands.add_parser("executions", help="local pipeline executions")
    sub = executions.add_subparsers(dest="executions_command", required=True, metavar="SUBCOMMAND")
    listing = sub.add_parser("list", help="executions, newest first")
    listing.add_argument("--state-dir", type=state_dir_option, default=None)
    listing.add_argument("--config", default=None)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="one execution: steps, status, timings, failures, outputs and logs")
    show.add_argument("execution", metavar="EXECUTION")
    show.add_argument("--state-dir", type=state_dir_option, default=None)
    show.add_argument("--config", default=None)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)


def _state(args) -> Path:
    """The state directory to read, which must exist."""
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.commands import state_directory

    return state_directory(args.state_dir, local_config(config_from_kwargs({}, args.config)), reading=True)


def _list(args) -> int:
    from pipelines.local.record import read_records

    state = _state(args)
    records, unreadable = read_records(state)
    if args.json:
        listed = [{k: r.get(k) for k in FIELDS} for r in records]
        listed += [
            {**dict.fromkeys(FIELDS), "execution_id": u.execution_id, "status": UNREADABLE, "error": u.problem}
            for u in unreadable
        ]
        print(json.dumps(listed, indent=2))
        return 0
    if not records and not unreadable:
        print(f"No executions under {state}.")
        return 0
    print(f"{'EXECUTION':<14} {'STATUS':<10} {'CREATED':<25} FAILURE")
    for r in records:
        print(
            f"{r['execution_id']:<14} {r['status']:<10} {r['created'][:23]:<25} {(r.get('failure_reason') or '')[:80]}"
        )
    for u in unreadable:  # in full: the file and what is wrong with it
        print(f"{u.execution_id:<14} {UNREADABLE:<10} {'-':<25} {u.problem}")
    return 0


def _show(args) -> int:
    from pipelines.local.record import ExecutionRecord

    state = _state(args)
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
