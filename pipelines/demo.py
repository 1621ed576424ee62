"""``mlops demo``: the whole loop on the bundled data, locally, in its own state directory.

Pipeline -> approval (on the user's behalf) -> deploy -> traffic with inference ids like the training data, then
drifted traffic spread over past hours (an injectable clock) -> labels arriving for part of it -> data-quality and
model-quality checks -> alarms -> alerts -> a new labelled data snapshot in the retraining location -> the first
alarm starts retraining (the cool-down holds the other) -> a new version pending approval.
"""

from __future__ import annotations

import csv
import dataclasses
import getpass
import random
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.config import DEFAULT_CONFIG, Config
from pipelines.demo_data import (
    DemoClock,
    SentHour,
    check_demo_columns,
    ingest_labels,
    labels_for,
    read_rows,
    send_hour,
)
from pipelines.invocation import command

HOURS = 3  # one clean hour, then two drifted ones


@dataclass
class DemoReport:
    state_dir: Path
    first_version: str
    retrained_version: str | None
    alerts: list[str]
    report: Path | None
    seconds: float
    config: Config | None = None


def suggest(state_dir: Path, *words: str, config: Config | None = None) -> str:
    """A follow-on command line that reaches the demo's state (and its configuration file, if not the default)."""
    extra = ["--state-dir", shlex.quote(str(state_dir))]
    if config is not None and config.source not in ("defaults", DEFAULT_CONFIG.name, str(DEFAULT_CONFIG)):
        extra += ["--config", shlex.quote(config.source)]
    return command(*words, *extra)


def _retraining_with_progress(config: Config, state_dir: Path, say: Callable[[str], None], checking: Callable[[], str]):
    """The monitor's retraining starter, showing the run's progress step by step (it takes a while);
    ``checking`` names the check that trips the alarm ("14:00 UTC: the drift alarm")."""
    from pipelines.commands.run import Printer
    from pipelines.local.definitions import local_definition
    from pipelines.local.runner import LocalRunner
    from pipelines.registry.factory import open_registry

    def start(data_uri: str) -> tuple[str, str]:
        say(f"   {checking()} went to ALARM; the retraining run on {data_uri} starts:")
        definition, _ = local_definition(config, state_dir)
        runner = LocalRunner(state_dir, open_registry("local", config, state_dir), progress=Printer(say=say))
        result = runner.start(definition, config.pipeline_name, {"InputDataUrl": data_uri})
        return result.execution_id, result.status

    return start


def _pipeline_and_deploy(config: Config, state_dir: Path, say: Callable[[str], None], started: float):
    """Steps 1 and 2: run the pipeline, approve its version on the user's behalf, deploy it; (registry, version)."""
    from pipelines.commands.run import Printer
    from pipelines.deploy.local import deploy_on_approval
    from pipelines.local.definitions import local_definition
    from pipelines.local.runner import LocalRunner
    from pipelines.registry.factory import open_registry

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
    return registry, group, version


def _traffic(
    config: Config, state_dir: Path, hours: list[datetime], clock: DemoClock, rng: random.Random, say
) -> list[SentHour]:
    """Step 3: each hour's requests, with inference ids, to a local endpoint on the demo's clock."""
    from inference.server import BackgroundServer, ServeOptions
    from pipelines.objectstore import locator

    table = read_rows(config)
    server = BackgroundServer(
        ServeOptions(state_dir, config.endpoint_name, locate=locator(state_dir), port=0, clock=clock.seconds)
    ).start()
    sent = []
    try:
        say(f"3. Local endpoint {config.endpoint_name} on 127.0.0.1:{server.port}; sending traffic over past hours")
        for i, hour in enumerate(hours):
            traffic = send_hour(server.port, clock, hour, table, config, rng, shifted=i > 0)
            kind = "drifted (bigger, heavier, mostly infants)" if traffic.shifted else "like the training data"
            say(
                f"   {hour:%H:00}-{hour:%H:59} UTC: {traffic.ok}/{len(traffic.ids)} requests {kind}, with inference ids"
            )
            sent.append(traffic)
    finally:
        server.stop()
    return sent


def _snapshot(config: Config, state_dir: Path, rng: random.Random, say) -> None:
    """Step 4: a new labelled data snapshot in the retraining location."""
    from pipelines.objectstore import local_path

    header, rows = read_rows(config)
    snapshot = local_path(config.retrain_data_uri, state_dir) / "snapshot-1.csv"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    fresh = rng.sample(rows, len(rows))
    with open(snapshot, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *fresh])
    say(f"4. A new labelled data snapshot ({len(fresh)} rows) is in the retraining location {config.retrain_data_uri}")


def _quality_line(execution, metrics: list[str]) -> str:
    """``model quality at 16:00 UTC: Completed, 180 labelled pairs, rmse 3.1 > threshold 2.4``."""
    from monitoring.local.model_quality_report import BREACHES, breaches

    found = execution.model_quality or {}
    shown = []
    for name in metrics:
        value, rule = found.get("metrics", {}).get(name), found.get("constraints", {}).get(name)
        if value is None or rule is None:
            continue
        bad = breaches(float(value), (float(rule["threshold"]), rule["comparison_operator"]))
        symbol = BREACHES[rule["comparison_operator"]][0]
        shown.append(f"{name} {value:.3g} {symbol if bad else 'not ' + symbol} threshold {rule['threshold']:.3g}")
    detail = ", ".join(shown) if shown else execution.message
    return f"{execution.status}, {execution.item_count} labelled pairs, {detail}"


def _outcome(execution, alarm: str, say: Callable[[str], None], alerts: list[str]) -> None:
    """Print the family's composite alarm change, each alert once, and the retraining decision."""
    for transition in execution.alarm_transitions:
        if transition["alarm_name"] == alarm:
            say(f"   alarm {transition['alarm_name']}: {transition['old_state']} -> {transition['new_state']}")
    for alert in execution.alerts:
        alerts.append(alert["summary"])
        text = alert["summary"].partition("; report: ")[0]  # the report's path is in the summary below
        say(f"   ALERT delivered ({', '.join(k for k, v in alert['delivered'].items() if v)}): {text}")
    if execution.retrain:
        say(f"   retraining {execution.retrain['action']}: {execution.retrain['reason']}")


def _monitor(
    config: Config, state_dir: Path, clock: DemoClock, sent: list[SentHour], rng: random.Random, say
) -> list[str]:
    """Step 5: per hour, its data-quality check; then its labels arrive and the model-quality check runs."""
    from monitoring.local.alarm_names import drift_alarm_name, model_quality_alarm_name, name_prefix
    from pipelines.monitor.environment import local_environment
    from pipelines.monitor.loop import check_window
    from pipelines.monitor.model_quality import check_model_quality, window_at

    # the demo prints each alert itself (the log sink would print it a second time) and keeps them in its state
    alerts_config = dataclasses.replace(
        config.monitoring.alerts, log=False, jsonl=config.monitoring.alerts.jsonl or "alerts.jsonl"
    )
    quiet = dataclasses.replace(config, monitoring=dataclasses.replace(config.monitoring, alerts=alerts_config))
    env = local_environment(quiet, state_dir, clock=clock.now)
    checking = ["the drift alarm"]
    env.start_retraining = _retraining_with_progress(config, state_dir, say, lambda: checking[0])
    prefix, endpoint = name_prefix(config.endpoint_name), config.endpoint_name
    alerts: list[str] = []
    say("5. Monitoring each hour: data quality against the baseline, then model quality once its labels arrive")
    for traffic in sent:
        hour = traffic.hour
        clock.moment = hour + timedelta(hours=1, minutes=5)
        checking[0] = f"{hour:%H:00} UTC: the drift alarm"
        execution = check_window(env, endpoint, hour, hour + timedelta(hours=1), schedule="hourly")
        drifted_features = [d["feature"] for d in execution.drift if d["distance"] > d["threshold"]]
        say(
            f"   {hour:%H:00} UTC: {execution.status}, {execution.item_count} rows, "
            f"drifted: {', '.join(drifted_features) or 'none'}"
        )
        _outcome(execution, drift_alarm_name(prefix), say, alerts)
        arrival = hour + timedelta(hours=1, minutes=30)
        labels = labels_for(traffic, config, rng)
        uri = ingest_labels(labels, config, state_dir, arrival)
        shifted = " (their relation to the inputs shifted)" if traffic.shifted else ""
        say(
            f"   {arrival:%H:%M} UTC: labels arrive for {len(labels)} of the {hour:%H:00} hour's "
            f"{len(traffic.ids)} requests{shifted}: {uri.rsplit('/', 1)[0]}/"
        )
        at = hour + timedelta(hours=2)
        clock.moment = at
        checking[0] = f"{at:%H:00} UTC: the model quality alarm"
        quality = check_model_quality(env, endpoint, window_at(config, at), schedule="hourly")
        say(f"   model quality at {at:%H:00} UTC: {_quality_line(quality, list(config.model_quality_alarmed_metrics))}")
        _outcome(quality, model_quality_alarm_name(prefix), say, alerts)
    return alerts


def run_demo(config: Config, state_dir: Path, say: Callable[[str], None] = print) -> DemoReport:
    """Run the loop; every step says what it does. Returns where things are."""
    from pipelines.monitor.executions import DATA_QUALITY, ExecutionLog
    from pipelines.monitor.report import write_execution_report

    check_demo_columns(config)  # before anything runs
    started = time.monotonic()
    registry, group, version = _pipeline_and_deploy(config, state_dir, say, started)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=HOURS - i) for i in range(HOURS)]
    clock = DemoClock(hours[0])
    rng = random.Random(7)
    sent = _traffic(config, state_dir, hours, clock, rng, say)
    _snapshot(config, state_dir, rng, say)
    alerts = _monitor(config, state_dir, clock, sent, rng, say)
    retrained = [v for v in registry.list_versions(group) if v.version > version]
    executions = ExecutionLog(state_dir).all(config.endpoint_name)
    flagged = [e for e in executions if e.violations and e.kind == DATA_QUALITY]
    report = write_execution_report(config, state_dir, flagged[0].execution_id) if flagged else None
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
