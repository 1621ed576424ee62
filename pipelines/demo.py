"""``mlops demo``: the whole loop on the bundled data, locally, in its own state directory.

Pipeline -> approval (on the user's behalf) -> deploy -> traffic like the training data, then drifted traffic
spread over past hours (an injectable clock) -> monitoring checks -> alarm -> alert -> a new labelled data
snapshot in the retraining location -> the alarm starts retraining -> a new version pending approval.
"""

from __future__ import annotations

import csv
import dataclasses
import getpass
import http.client
import random
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.config import DEFAULT_CONFIG, Config
from pipelines.invocation import command

HOURS = 3  # one clean hour, then two drifted ones
REQUESTS_PER_HOUR = 240


class DemoClock:
    """A settable clock, for the server (epoch seconds) and the monitor (datetimes)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def seconds(self) -> float:
        return self.moment.timestamp()


@dataclass
class DemoReport:
    state_dir: Path
    first_version: str
    retrained_version: str | None
    alerts: list[str]
    report: Path | None
    seconds: float
    config: Config | None = None


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def drifted(row: list[str], header: list[str], rng: random.Random) -> list[str]:
    """Bigger, heavier abalone and mostly infants: shifted size and weight features and a changed sex mix."""
    out = list(row)
    for name in ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"):
        i = header.index(name)
        out[i] = f"{float(row[i]) * 1.35:.4f}"
    out[header.index("sex")] = "I" if rng.random() < 0.7 else row[header.index("sex")]
    return out


def send(port: int, rows: list[list[str]], clock: DemoClock, start: datetime) -> int:
    """POST each row as one text/csv request, spread over the hour from ``start``; returns the 200s."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = 0
    try:
        for i, row in enumerate(rows):
            clock.moment = start + timedelta(seconds=int(i * 3600 / len(rows)))
            connection.request(
                "POST",
                "/invocations",
                body=",".join(row).encode(),
                headers={"Content-Type": "text/csv", "Accept": "text/csv"},
            )
            response = connection.getresponse()
            response.read()
            ok += response.status == 200
    finally:
        connection.close()
    return ok


def suggest(state_dir: Path, *words: str, config: Config | None = None) -> str:
    """A follow-on command line that reaches the demo's state (and its configuration file, if not the default)."""
    extra = ["--state-dir", shlex.quote(str(state_dir))]
    if config is not None and config.source not in ("defaults", DEFAULT_CONFIG.name, str(DEFAULT_CONFIG)):
        extra += ["--config", shlex.quote(config.source)]
    return command(*words, *extra)


def _retraining_with_progress(
    config: Config, state_dir: Path, say: Callable[[str], None], checking: Callable[[], datetime]
):
    """The monitor's retraining starter, showing the run's progress step by step (it takes a while);
    ``checking`` is the start of the hour whose check trips the alarm."""
    from pipelines.commands.run import Printer
    from pipelines.local.definitions import local_definition
    from pipelines.local.runner import LocalRunner
    from pipelines.registry.factory import open_registry

    def start(data_uri: str) -> tuple[str, str]:
        say(f"   {checking():%H:00} UTC: the drift alarm went to ALARM; the retraining run on {data_uri} starts:")
        definition, _ = local_definition(config, state_dir)
        runner = LocalRunner(state_dir, open_registry("local", config, state_dir), progress=Printer(say=say))
        result = runner.start(definition, config.pipeline_name, {"InputDataUrl": data_uri})
        return result.execution_id, result.status

    return start


def run_demo(config: Config, state_dir: Path, say: Callable[[str], None] = print) -> DemoReport:
    """Run the loop; every step says what it does. Returns where things are."""
    from inference.server import BackgroundServer, ServeOptions
    from monitoring.local.alarm_names import drift_alarm_name, name_prefix
    from pipelines.commands.run import Printer
    from pipelines.deploy.local import deploy_on_approval
    from pipelines.local.definitions import local_definition
    from pipelines.local.runner import LocalRunner
    from pipelines.monitor.environment import local_environment
    from pipelines.monitor.executions import ExecutionLog
    from pipelines.monitor.loop import check_window
    from pipelines.objectstore import local_path, locator
    from pipelines.registry.factory import open_registry

    started = time.monotonic()
    registry = open_registry("local", config, state_dir)
    say(f"1. Running the pipeline locally (state: {state_dir})")
    say("   building the pipeline definition with the SageMaker SDK (importing it is the longest wait)")
    definition, cached = local_definition(config, state_dir)
    say(
        f"   definition {'from cache' if cached else 'built'} in {time.monotonic() - started:.0f} s; running its steps:"
    )
    result = LocalRunner(state_dir, registry, progress=Printer(say=say)).start(definition, config.pipeline_name)
    if result.status != "Succeeded":
        raise RuntimeError(f"the pipeline failed: {result.failure_reason}")
    register = result.steps["Register"]["properties"]
    group, version = register["ModelPackageGroupName"], register["ModelPackageVersion"]
    user = getpass.getuser()
    say(f"2. Approving {group}/{version} on your behalf ({user}); approval deploys it")
    registry.set_status(
        group, version, "Approved", by=f"mlops demo for {user}", note="approved by `mlops demo` on the user's behalf"
    )
    deployed = deploy_on_approval(config, state_dir, group, version).message
    serve = f"`mlops serve --endpoint {config.endpoint_name}`"  # the deployer's hint, made to reach this state
    say(f"   {deployed.replace(serve, suggest(state_dir, 'serve', '--endpoint', config.endpoint_name, config=config))}")

    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=HOURS - i) for i in range(HOURS)]
    clock = DemoClock(hours[0])
    header, rows = _rows(Path(config.data.input))
    features = [h for h in header if h != config.data.target]
    feature_rows = [[r[header.index(f)] for f in features] for r in rows]
    rng = random.Random(7)
    server = BackgroundServer(
        ServeOptions(state_dir, config.endpoint_name, locate=locator(state_dir), port=0, clock=clock.seconds)
    ).start()
    try:
        say(f"3. Local endpoint {config.endpoint_name} on 127.0.0.1:{server.port}; sending traffic over past hours")
        for i, hour in enumerate(hours):
            batch = rng.sample(feature_rows, REQUESTS_PER_HOUR)
            kind = "like the training data"
            if i > 0:
                batch = [drifted(r, features, rng) for r in batch]
                kind = "drifted (bigger, heavier, mostly infants)"
            ok = send(server.port, batch, clock, hour)
            say(f"   {hour:%H:00}-{hour:%H:59} UTC: {ok}/{len(batch)} requests {kind}")
    finally:
        server.stop()

    snapshot = local_path(config.retrain_data_uri, state_dir) / "snapshot-1.csv"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    fresh = rng.sample(rows, len(rows))
    with open(snapshot, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *fresh])
    say(f"4. A new labelled data snapshot ({len(fresh)} rows) is in the retraining location {config.retrain_data_uri}")

    # the demo prints each alert itself: the log sink would print it a second time
    quiet = dataclasses.replace(
        config,
        monitoring=dataclasses.replace(
            config.monitoring, alerts=dataclasses.replace(config.monitoring.alerts, log=False)
        ),
    )
    env = local_environment(quiet, state_dir, clock=clock.now)
    env.start_retraining = _retraining_with_progress(
        config, state_dir, say, lambda: clock.moment.replace(minute=0) - timedelta(hours=1)
    )
    alerts: list[str] = []
    say("5. Monitoring each hour against the deployed version's baseline")
    for hour in hours:
        clock.moment = hour + timedelta(hours=1, minutes=5)
        execution = check_window(env, config.endpoint_name, hour, hour + timedelta(hours=1), schedule="hourly")
        drifted_features = [d["feature"] for d in execution.drift if d["distance"] > d["threshold"]]
        say(
            f"   {hour:%H:00} UTC: {execution.status}, {execution.item_count} rows, "
            f"drifted: {', '.join(drifted_features) or 'none'}"
        )
        for transition in execution.alarm_transitions:
            if transition["alarm_name"] == drift_alarm_name(name_prefix(config.endpoint_name)):
                say(f"   alarm {transition['alarm_name']}: {transition['old_state']} -> {transition['new_state']}")
        for alert in execution.alerts:
            alerts.append(alert["summary"])
            text = alert["summary"].partition("; report: ")[0]  # the report's path is in the summary below
            say(f"   ALERT delivered ({', '.join(k for k, v in alert['delivered'].items() if v)}): {text}")
        if execution.retrain:
            say(f"   retraining {execution.retrain['action']}: {execution.retrain['reason']}")

    retrained = [v for v in registry.list_versions(group) if v.version > version]
    executions = [e for e in ExecutionLog(state_dir).all(config.endpoint_name) if e.violations]
    report = None
    if executions:
        from pipelines.monitor.report import write_execution_report

        report = write_execution_report(config, state_dir, executions[0].execution_id)
    return DemoReport(
        state_dir,
        f"{group}/{version}",
        retrained[0].reference if retrained else None,
        alerts,
        report,
        time.monotonic() - started,
        config,
    )


def summary(report: DemoReport) -> str:
    lines = [
        f"Demo finished in {report.seconds:.0f} s (state: {report.state_dir})",
        f"  served and monitored: {report.first_version} (approved on your behalf, deployed locally)",
        f"  alerts: {len(report.alerts)} ({report.state_dir / 'alerts.jsonl'})",
        "  retraining: "
        + (f"{report.retrained_version} registered, PendingManualApproval" if report.retrained_version else "none"),
        f"  report: {report.report or 'none'}",
        "  next:",
        "    " + suggest(report.state_dir, "models", "list", config=report.config),
    ]
    if report.retrained_version:
        lines.append(
            "    " + suggest(report.state_dir, "models", "show", report.retrained_version, config=report.config)
        )
    lines.append("    " + suggest(report.state_dir, "monitor", "executions", config=report.config))
    return "\n".join(lines)
