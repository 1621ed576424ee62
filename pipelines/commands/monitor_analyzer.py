"""``mlops monitor baseline`` and ``mlops monitor check``: the analyzer on demand."""

from __future__ import annotations

import argparse
import json

from pipelines.commands.model_quality_baseline import (
    add_model_quality_options,
    check_kind_options,
    model_quality_baseline,
)
from pipelines.commands.options import endpoint_option, state_dir_option
from pipelines.errors import UsageError
from pipelines.objectstore import DEFAULT_STATE_DIR, local_path


def register_analyzer_commands(monitor_subparsers) -> None:
    """Add ``baseline`` and ``check`` to the ``mlops monitor`` subcommands."""
    base = monitor_subparsers.add_parser("baseline", help="write statistics.json and constraints.json for a dataset")
    _dataset_options(base, no_header_help="CSV has no header (_c0, _c1, ...)")
    base.add_argument("--output", required=True, help="directory for statistics.json and constraints.json")
    add_model_quality_options(base)
    base.set_defaults(handler=_baseline)

    chk = monitor_subparsers.add_parser(
        "check", help="check a dataset against a baseline; writes statistics and violations"
    )
    _dataset_options(chk, no_header_help="CSV has no header")
    chk.add_argument(
        "--baseline", required=True, help="directory (or s3:// URI) with statistics.json and constraints.json"
    )
    chk.add_argument("--output", required=True, help="directory for statistics.json and constraint_violations.json")
    chk.add_argument("--start", help="window start (ISO-8601, inclusive) for capture records")
    chk.add_argument("--end", help="window end (ISO-8601, exclusive) for capture records")
    chk.add_argument("--endpoint", type=endpoint_option, default="local", help="Endpoint dimension of the metrics")
    chk.add_argument("--schedule", default="on-demand", help="MonitoringSchedule dimension of the metrics")
    chk.add_argument("--json", action="store_true", help="print the summary as JSON")
    chk.set_defaults(handler=_check)


def _dataset_options(parser: argparse.ArgumentParser, *, no_header_help: str) -> None:
    parser.add_argument("--dataset", required=True, help="a file, a directory (e.g. of capture files) or an s3:// URI")
    parser.add_argument(
        "--format",
        choices=("csv", "json", "parquet", "capture"),
        help="dataset format (detected from the files when omitted)",
    )
    parser.add_argument(
        "--state-dir",
        type=state_dir_option,
        default=DEFAULT_STATE_DIR,
        help="local state directory holding the object store (default .mlops)",
    )
    header = parser.add_mutually_exclusive_group()
    header.add_argument("--header", dest="header", action="store_true", default=None, help="CSV has a header line")
    header.add_argument("--no-header", dest="header", action="store_false", help=no_header_help)


def _format(args):
    from monitoring.sources import DatasetFormat

    if args.format is None and args.header is None:
        return None
    return DatasetFormat(args.format or "csv", args.header)


def _baseline(args) -> int:
    from monitoring.analyzer import run_baseline

    check_kind_options(args)
    if args.kind == "model-quality":
        return model_quality_baseline(args)

    dataset = local_path(args.dataset, args.state_dir)
    output = local_path(args.output, args.state_dir)
    result = run_baseline(dataset, output, _format(args))
    print(f"Baseline of {result.item_count} rows, {result.feature_count} features")
    print(f"  {result.statistics_path}")
    print(f"  {result.constraints_path}")
    if result.read["malformed_records"]:
        print(f"  skipped {result.read['malformed_records']} malformed records: {result.read['malformed_by_reason']}")
    return 0


def _check(args) -> int:
    from monitoring.analyzer import run_check
    from monitoring.iso_time import parse_time

    baseline = local_path(args.baseline, args.state_dir)
    start = parse_time(args.start, "--start") if args.start else None
    end = parse_time(args.end, "--end") if args.end else None
    if start and end and start >= end:
        raise UsageError(f"--start {args.start} must be before --end {args.end}")
    result = run_check(
        local_path(args.dataset, args.state_dir),
        baseline / "statistics.json",
        baseline / "constraints.json",
        local_path(args.output, args.state_dir),
        _format(args),
        start,
        end,
        args.endpoint,
        args.schedule,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "status": result.status,
                    "message": result.message,
                    "item_count": result.item_count,
                    "violations": [v.to_json() for v in result.violations],
                    "read": result.read,
                    "output": str(result.output),
                },
                indent=2,
            )
        )
        return 0
    print(result.message)
    print(f"Rows checked: {result.item_count}")
    read = result.read
    if read["malformed_records"]:
        print(f"Malformed records skipped: {read['malformed_records']} {read['malformed_by_reason']}")
    for violation in result.violations:
        print(f"  {violation.constraint_check_type:<26} {violation.feature_name:<20} {violation.description}")
    drifted = sorted(result.drifts, key=lambda d: -d.distance)[:10]
    if drifted:
        print("Drift (largest first):")
        for drift in drifted:
            flag = "DRIFT" if drift.drifted else "ok"
            print(
                f"  {drift.feature_name:<20} {drift.distance:.4f} (threshold {drift.threshold}, {drift.method}) {flag}"
            )
    print(f"Results in {result.output}")
    return 0
