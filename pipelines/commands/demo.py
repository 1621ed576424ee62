"""``mlops demo``: the whole loop on the bundled data, in a state directory of its own."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pipelines.commands.options import state_dir_option
from pipelines.errors import UsageError


def register(commands) -> None:
    parser = commands.add_parser("demo", help="run the whole loop locally on the bundled data (about 40 s)")
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument(
        "--state-dir",
        type=state_dir_option,
        default=None,
        help="state directory of this demo (default: a new one under the configured state dir)",
    )
    parser.set_defaults(handler=_demo)


def _demo(args) -> int:
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.demo import run_demo, summary

    config = local_config(config_from_kwargs({}, args.config))
    state = args.state_dir or Path(config.project.state_dir) / f"demo-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    if state.exists() and any(state.iterdir()):
        raise UsageError(f"--state-dir {state} is not empty: each demo run needs its own state directory")
    report = run_demo(config, state)
    print(summary(report))
    return 0 if report.alerts and report.retrained_version else 1
