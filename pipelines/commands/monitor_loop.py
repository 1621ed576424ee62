"""``mlops monitor run | schedule | executions | report``: the local monitoring loop's checks and their records."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.commands import positive_int
from pipelines.commands.options import endpoint_option, state_dir_option
from pipelines.errors import StateError
from pipelines.objectstore import local_path


def _loop_options(parser) -> None:
    """The options every local-loop command takes: which configuration, state directory and endpoint."""
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument(
        "--state-dir", type=state_dir_option, default=None, help="local state directory (default from config)"
    )
    parser.add_argument("--endpoint", type=endpoint_option, default=None, help="endpoint (default from config)")


def _kind_option(parser, default: str | None, help_text: str) -> None:
    """``--kind``: which checks run (data quality, model quality or both)."""
    parser.add_argument("--kind", choices=("data-quality", "model-quality", "all"), default=default, help=help_text)


def register_run_commands(monitor_subparsers) -> None:
    """Add ``run`` and ``schedule`` to the ``mlops monitor`` subcommands."""
    run = monitor_subparsers.add_parser("run", help="one data-quality check of an endpoint's captured traffic")
    _loop_options(run)
    window = run.add_mutually_exclusive_group()
    window.add_argument("--window", help="START..END (ISO-8601), e.g. 2026-11-25T10:00Z..2026-11-25T11:00Z")
    window.add_argument("--last-hour", action="store_true", help="the last complete hour (default)")
    run.add_argument("--json", action="store_true", help="print the execution record as JSON")
    _kind_option(
        run,
        "data-quality",
        "data quality (the window's capture), model quality (captured predictions joined with ground truth, "
        "at T = the window's end minus end_time_offset, default the last hour boundary) or both",
    )
    run.set_defaults(handler=_run)

    schedule = monitor_subparsers.add_parser(
        "schedule", help="run checks on a schedule (hourly by default) until stopped"
    )
    _loop_options(schedule)
    schedule.add_argument("--cron", default=None, help="cron expression (default monitoring.schedule)")
    schedule.add_argument(
        "--iterations", type=positive_int("firings"), default=None, help="stop after this many firings"
    )
    _kind_option(
        schedule,
        None,
        "which checks run at each firing (default: all when monitoring.model_quality.enabled, else data-quality)",
    )
    schedule.set_defaults(handler=_schedule)


def register_record_commands(monitor_subparsers) -> None:
    """Add ``executions`` and ``report`` to the ``mlops monitor`` subcommands."""
    executions = monitor_subparsers.add_parser("executions", help="the recorded monitoring executions")
    _loop_options(executions)
    executions.add_argument("--json", action="store_true")
    executions.set_defaults(handler=_executions)

    report = monitor_subparsers.add_parser(
        "report", help="a self-contained HTML report of one execution (default: the latest)"
    )
    _loop_options(report)
    report.add_argument("execution", nargs="?", help="monitoring execution id")
    report.add_argument("--output", help="where to write the HTML (default: beside the execution's files)")
    report.set_defaults(handler=_report)


def _loop_setup(args):
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.monitor.environment import local_environment

    config = local_config(config_from_kwargs({}, args.config))
    state = args.state_dir or Path(config.project.state_dir)
    return config, state, args.endpoint or config.endpoint_name, local_environment(config, state)


def _require_deployed(state: Path, endpoint: str) -> None:
    """A check of an endpoint nothing was ever deployed to can only fail and alert (a mistyped --endpoint, or another
    state directory): refused before anything is recorded, naming the endpoints this state directory has."""
    from inference.endpoint_state import endpoints_dir, read_state

    if read_state(Path(state), endpoint) is not None:
        return
    known = sorted(path.stem for path in endpoints_dir(Path(state)).glob("*.json"))
    raise StateError(
        f"endpoint {endpoint!r} has no deployed model version in {state}; endpoints there: "
        f"{', '.join(known) or 'none'} (deploy one with mlops deploy, or pass --endpoint / --state-dir)"
    )


def _window_text(start: str, end: str) -> str:
    """``2026-11-30T01:00..02:00``, or both dates when the window crosses a day (model-quality windows do)."""
    return f"{start[:16]}..{end[11:16] if end[:10] == start[:10] else end[:16]}"


def _print_execution(execution) -> None:
    print(
        f"{execution.execution_id}  {execution.endpoint}  {_window_text(execution.window_start, execution.window_end)}"
        f"  {execution.status}  {'pairs' if getattr(execution, 'kind', '') == 'model-quality' else 'rows'}="
        f"{execution.item_count} violations={execution.violations}"
    )
    if execution.message:
        print(f"  {execution.message}")
    for transition in execution.alarm_transitions:
        print(f"  alarm {transition['alarm_name']}: {transition['old_state']} -> {transition['new_state']}")
    for alert in execution.alerts:
        print(f"  alert: {alert['summary']}")
    if getattr(execution, "kind", "") == "model-quality":
        from pipelines.monitor.report import model_quality_lines

        for line in model_quality_lines(execution)[1:]:
            print(line)
    if execution.retrain:
        print(f"  retraining: {execution.retrain['action']} ({execution.retrain['reason']})")
    print(f"  report: {execution.report_uri}")


def _again(args, *words: str) -> str:
    """An ``mlops monitor`` command line with this invocation's --config, --state-dir and --endpoint."""
    import shlex

    from pipelines.invocation import command

    extra = []
    for option in ("config", "state_dir", "endpoint"):
        value = getattr(args, option, None)
        if value is not None:
            extra += [f"--{option.replace('_', '-')}", shlex.quote(str(value))]
    return command("monitor", *words, *extra)


def current_hour_hint(args, config, state: Path, endpoint: str, end) -> str | None:
    """After a NoData check of the last complete hour: if the endpoint's requests so far are all in the current
    (incomplete) hour, say so and how to check it now."""
    from datetime import timedelta

    from monitoring.capture import capture_files

    capture = local_path(f"{config.capture_destination.rstrip('/')}/{endpoint}", state)
    if not capture.is_dir() or not capture_files(capture, end, None):
        return None
    window = f"{end:%Y-%m-%dT%H:%MZ}..{end + timedelta(hours=1):%Y-%m-%dT%H:%MZ}"
    return (
        f"No complete hour with data yet: {endpoint}'s captured requests are in the current hour "
        f"({end:%H:00} UTC onwards), which the next run after {end + timedelta(hours=1):%H:00} UTC checks. "
        f"Check it now with: {_again(args, 'run', '--window', window)}"
    )


def _run(args) -> int:
    from pipelines.monitor.executions import NO_DATA
    from pipelines.monitor.loop import check_window, execution_json, last_complete_window, parse_window
    from pipelines.monitor.model_quality import check_kinds, check_model_quality, window_at, window_from_capture

    config, state, endpoint, env = _loop_setup(args)
    kinds = check_kinds(config, args.kind)
    _require_deployed(state, endpoint)
    start, end = parse_window(args.window, env.clock()) if args.window else last_complete_window(env.clock())
    executions = []
    if "data-quality" in kinds:
        executions.append(check_window(env, endpoint, start, end))
    if "model-quality" in kinds:
        window = window_from_capture(config, start, end) if args.window else window_at(config, end)
        executions.append(check_model_quality(env, endpoint, window))
    if args.json:
        print(
            execution_json(executions[0])
            if len(executions) == 1
            else "[" + ",".join(map(execution_json, executions)) + "]"
        )
    else:
        for execution in executions:
            _print_execution(execution)
        hint = (
            None
            if args.window or executions[0].status != NO_DATA or executions[0].kind != "data-quality"
            else current_hour_hint(args, config, state, endpoint, end)
        )
        if hint:
            print(hint)
    return 0 if all(e.status != "Failed" for e in executions) else 1


def _schedule(args) -> int:
    import time

    from pipelines.cron import Cron
    from pipelines.monitor.model_quality import check_kinds
    from pipelines.monitor.schedule import run_schedule

    config, state, endpoint, env = _loop_setup(args)
    cron = Cron.parse(args.cron or config.monitoring.schedule)
    kinds = check_kinds(config, args.kind, scheduled=True)
    _require_deployed(state, endpoint)
    print(f"Monitoring {endpoint} ({' and '.join(kinds)}) on schedule {cron.expression!r} (UTC); stop with Ctrl-C")
    try:
        run_schedule(
            env, endpoint, cron, iterations=args.iterations, wait=time.sleep, report=_print_execution, kinds=kinds
        )
    except KeyboardInterrupt:
        print("Stopped.")
    return 0


def _executions(args) -> int:
    from pipelines.monitor.executions import ExecutionLog

    _, state, _, _ = _loop_setup(args)
    executions = ExecutionLog(state).all(args.endpoint)
    if args.json:
        print(json.dumps([e.__dict__ for e in executions], indent=2, default=str))
        return 0
    if not executions:
        print(f"No monitoring executions under {state}.")
    for execution in executions:
        _print_execution(execution)
    return 0


def _report(args) -> int:
    from pipelines.monitor.executions import FAILED, NO_DATA, ExecutionLog
    from pipelines.monitor.report import write_execution_report

    config, state, _, _ = _loop_setup(args)
    log = ExecutionLog(state)
    executions = log.all()
    chosen = (log.get(args.execution) if args.execution else executions[-1]) if executions else None
    if chosen is not None and chosen.kind == "model-quality":  # metrics against thresholds; NoData says so
        from pipelines.monitor.report import model_quality_report

        lines, html = model_quality_report(config, state, chosen)
        print("\n".join(lines))
        print(f"Files: {local_path(chosen.report_uri, state)}")
        if html is not None:
            print(f"Report (data and model quality): {html}")
        return 0
    if chosen is not None and chosen.status == NO_DATA:  # nothing was analyzed: not an error, nothing to report
        print(f"Execution {chosen.execution_id} is {NO_DATA}: {chosen.message}. No report: there was nothing to check.")
        with_results = [
            e
            for e in executions
            if e.status not in (NO_DATA, FAILED) and e.endpoint == chosen.endpoint and e.kind != "model-quality"
        ]
        if with_results:
            latest = with_results[-1]
            again = _again(args, "report", latest.execution_id)
            print(f"The latest execution with results is {latest.execution_id}: {again}")
        return 0
    target = write_execution_report(config, state, args.execution, Path(args.output) if args.output else None)
    print(f"Report: {target}")
    return 0
