"""``mlops monitor``: the subcommand group. Each family of subcommands lives in its own module: the analyzer on
demand (``baseline``, ``check``), the AWS deploy (``deploy``, ``repoint``), ground truth (``ground-truth``) and the
local loop (``run``, ``schedule``, ``executions``, ``report``). The order here is the order ``--help`` lists."""

from __future__ import annotations

from pipelines.commands import ground_truth
from pipelines.commands.monitor_analyzer import register_analyzer_commands
from pipelines.commands.monitor_cloud import register_cloud_commands
from pipelines.commands.monitor_loop import register_record_commands, register_run_commands


def register(commands) -> None:
    """Add ``mlops monitor`` and its subcommands to the CLI's subcommands."""
    parser = commands.add_parser("monitor", help="data-quality baselines and checks")
    sub = parser.add_subparsers(dest="monitor_command", required=True, metavar="SUBCOMMAND")
    register_analyzer_commands(sub)
    register_cloud_commands(sub)
    ground_truth.register(sub)
    register_run_commands(sub)
    register_record_commands(sub)
