"""Merging hosts' partial profiles into one profile, and the analyzer's baseline / check from it.

Where the merge runs on SageMaker: in a reduce step, not on a leader over the job's network.
Each host of the N-instance analysis job (``analysis_stage=profile``, the default when resourceconfig.json lists
several hosts) profiles its ShardedByS3Key shard and writes ``partial_profile-<host>.json`` to the job's output;
a second, one-instance job (``analysis_stage=merge``, the partials as its input) merges them and writes
statistics.json, constraints.json or constraint_violations.json and the CloudWatch metrics. Reasons:

- Network isolation. For processing and monitoring jobs the API documents ``EnableNetworkIsolation`` only as
  "whether to allow inbound and outbound network calls to and from the containers"; the exception "except for calls
  between peers within a training cluster" is documented for training jobs only. A leader collecting partials over
  the job's network would rely on undocumented behaviour exactly where users turn isolation on. Between the two jobs
  only SageMaker's own S3 transfer moves the partials, which isolation does not block.
  ``EnableInterContainerTrafficEncryption`` then has nothing to encrypt (no host talks to another).
- Failure handling. A leader would need a rendezvous (port, peer discovery, timeouts, a dead peer); here a failed
  host fails the first job and nothing is merged, and the partials stay in S3: the merge can be rerun or audited.
- Cost. The merge reads kilobytes (per column a sketch of at most ~8,000 numbers and up to 10,000 frequencies); a
  one-instance job adds its start-up time only when ProcessingInstanceCount > 1. With one host the analyzer keeps
  profiling and finishing in one job (``analysis_stage=full``), as before.
The price: whoever starts the job must chain the merge job after it. A pipeline adds a merge ProcessingStep taking
the first step's output; a scheduled check starts the merge job when the profile job completes (an EventBridge rule
on the processing job's state change, or a Step Functions task) -- orchestration that lives outside this module.

Merge rules (``merge_profiles``): counts, sums and min / max add up or combine exactly; moments combine with Chan's
parallel formula; KLL sketches merge as Deequ merges them (``KLLSketch.merge``) into an empty sketch, in the job's
host order, as Spark's aggregation does; frequencies add up while the union of values stays within the cap
(10,000 distinct values) -- past it, on one host as merged, the column keeps no frequencies and its distinct count is
a lower bound (the largest of the union seen and each shard's own bound). A column missing from a shard counts that
shard's rows as missing. Columns come in the order they first appear in the dataset (files in the analyzer's
listing order, then rows), which is the one-host order whatever the assignment of files to hosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitoring.analysis_results import BaselineResult, CheckResult, baseline_from_profile, check_from_profile
from monitoring.constraints import MonitoringConfig, read_constraints
from monitoring.partial_profile import Origin, PartialProfile, PartialProfileError, read_partials
from monitoring.profile import ColumnProfile, DatasetProfile
from monitoring.report import ReadReport
from monitoring.statistics import read_statistics


def merge_columns(into: ColumnProfile, other: ColumnProfile) -> ColumnProfile:
    """Add ``other``'s accumulators into ``into`` (returned); ``other`` is left unchanged."""
    into.num_missing += other.num_missing
    into.num_integral += other.num_integral
    into.num_fractional += other.num_fractional
    into.num_boolean += other.num_boolean
    into.num_string += other.num_string
    if other.count and not into.count:
        into.count, into.sum, into.moment_mean, into.m2 = other.count, other.sum, other.moment_mean, other.m2
        into.min, into.max = other.min, other.max
    elif other.count:
        total = into.count + other.count
        delta = other.moment_mean - into.moment_mean
        into.moment_mean += delta * other.count / total
        into.m2 += other.m2 + delta * delta * into.count * other.count / total
        into.count = total
        into.sum += other.sum
        into.min = min(into.min, other.min)
        into.max = max(into.max, other.max)
    into.sketch.merge(other.sketch)
    _merge_frequencies(into, other)
    return into


def _merge_frequencies(into: ColumnProfile, other: ColumnProfile) -> None:
    if into.frequencies is None or other.frequencies is None:
        bound = max(into.distinct_count(), other.distinct_count())
        into.frequencies, into.distinct_overflow = None, bound
        return
    union = len(into.frequencies.keys() | other.frequencies.keys())
    if union > into.max_distinct:
        into.frequencies, into.distinct_overflow = None, union
        return
    for value, count in other.frequencies.items():
        into.frequencies[value] = into.frequencies.get(value, 0) + count


def listing_key(origin: Origin) -> tuple:
    """Sort key of (relative file path, row) in the analyzer's listing order (``sources.list_files``: a folder's
    files by name before its subfolders by name, recursively)."""
    path, row = origin
    parts = path.split("/")
    return (*((1, part) for part in parts[:-1]), (0, parts[-1]), row)


def _column_order(partials: Sequence[PartialProfile]) -> list[str]:
    """Column names by first appearance in the dataset; columns without an origin after, in host order."""
    first: dict[str, tuple] = {}
    unplaced: list[str] = []
    for partial in partials:
        for name in partial.profile.columns:
            origin = partial.origins.get(name)
            if origin is None:
                if name not in unplaced:
                    unplaced.append(name)
                continue
            key = listing_key(origin)
            if name not in first or key < first[name]:
                first[name] = key
    ordered = sorted(first, key=first.__getitem__)
    return ordered + [name for name in unplaced if name not in first]


def merge_reports(reports: Sequence[ReadReport]) -> ReadReport:
    """Read counters of all shards (examples: the first host's that has one)."""
    merged = ReadReport()
    for report in reports:
        merged.files += report.files
        merged.records += report.records
        merged.rows += report.rows
        merged.outside_window += report.outside_window
        merged.skipped.update(report.skipped)
        for reason, example in report.examples.items():
            merged.examples.setdefault(reason, example)
    return merged


def _check_disjoint(partials: Sequence[PartialProfile]) -> None:
    """PartialProfileError when two hosts read the same file (the same first appearance of a column: a file at one
    key under the input): the profile stage's input was copied to every host, and merging would count it twice."""
    seen: dict[Origin, str] = {}
    for partial in partials:
        for origin in set(partial.origins.values()):
            if seen.setdefault(origin, partial.host) != partial.host:
                raise PartialProfileError(
                    f"hosts {seen[origin]} and {partial.host} both profiled {origin[0]}: each object of the profile "
                    "stage's input must reach one host (S3DataDistributionType ShardedByS3Key, not FullyReplicated)"
                )


def merge_profiles(partials: Sequence[PartialProfile]) -> tuple[DatasetProfile, ReadReport]:
    """One profile and one read report from the shards' partial profiles, merged in the order given (use the job's
    host order, as ``read_partials`` returns it, for a reproducible result)."""
    if not partials:
        raise PartialProfileError("no partial profiles to merge")
    options = partials[0].profile.options
    for partial in partials:
        if partial.profile.options != options:
            raise PartialProfileError(
                f"host {partial.host}: profile settings {partial.settings} differ from {partials[0].settings}"
            )
    _check_disjoint(partials)
    merged = DatasetProfile(*options)
    for name in _column_order(partials):
        column = ColumnProfile(name, *options)
        for partial in partials:
            shard_column = partial.profile.columns.get(name)
            if shard_column is None:
                column.add_missing(partial.profile.item_count)
            else:
                merge_columns(column, shard_column)
        merged.columns[name] = column
    merged.item_count = sum(p.profile.item_count for p in partials)
    return merged, merge_reports([p.report for p in partials])


def baseline_from_partials(partials_dir: Path, output: Path, config: MonitoringConfig | None = None) -> BaselineResult:
    """The merge job of a baseline: statistics.json and constraints.json of the merged partial profiles."""
    profile, report = merge_profiles(read_partials(Path(partials_dir)))
    return baseline_from_profile(profile, report, Path(output), config, f"the partial profiles in {partials_dir}")


def check_from_partials(
    partials_dir: Path,
    baseline_statistics: Path,
    baseline_constraints: Path,
    output: Path,
    start: datetime | None = None,
    end: datetime | None = None,
    endpoint: str = "local",
    schedule: str = "on-demand",
    now: datetime | None = None,
) -> CheckResult:
    """The merge job of a check: the merged partial profiles checked against the baseline."""
    baseline = read_statistics(baseline_statistics)
    constraints = read_constraints(baseline_constraints)
    profile, report = merge_profiles(read_partials(Path(partials_dir)))
    return check_from_profile(
        profile, report, baseline, constraints, Path(output), Path(partials_dir), start, end, endpoint, schedule, now
    )
