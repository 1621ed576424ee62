"""Scale-out benchmark: the analyzer (baseline, then a check against it) and training on 1 and N simulated hosts.

Every job runs through the local runner's multi-instance code (host processes, resource configs, ShardedByS3Key
inputs by object, the merge job): see bench/scale_out_jobs.py. The data set is generated (bench/scale_out_data.py,
abalone-like, 16 CSV objects per part) under --work and never committed.

Two modes. ``pinned`` simulates instances of one core each: every host (the 1-host reference too) runs under
``taskset -c <its core>`` with one thread (``MLOPS_LOCAL_PIN_CORES``: OMP_NUM_THREADS=1, so XGBoost's nthread and
Arrow's CPU pool are 1, ARROW_IO_THREADS=1; training also gets nthread=1). ``unpinned`` lets every host use the
machine. Targets (pinned): speedup >= 1.7x for the analyzer, >= 1.5x for training, and peak RSS per host not above
the 1-host run's, as medians over the rounds' hosts (the largest is printed too; the largest of 2 x rounds host
figures against the largest of 1 x rounds is biased against the N hosts even when their memory is the same, and both
sides show the same rare +12 MiB peak). The 1-host and N-host results are then compared as the README's equality
table says.

    .venv/bin/python bench/scale_out.py [--rows 10000000] [--hosts 2] [--repeat 3] [--modes pinned,unpinned]
        [--contenders baseline,check,train]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_out_data import DataSet, generate
from scale_out_equality import (
    compare_models,
    compare_statistics,
    compare_violations,
    error_weights,
)
from scale_out_jobs import BUCKET, Run, profile_one_host, run_analyzer, run_training, stage

from pipelines.local.cluster import ENV_PIN_CORES
from pipelines.local.store import ObjectStore

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "scale_out"
TARGETS = {"baseline": 1.7, "check": 1.7, "train": 1.5}
CONTENDERS = tuple(TARGETS)


def _pin(cores: list[int] | None) -> None:
    if cores:
        os.environ[ENV_PIN_CORES] = ",".join(map(str, cores))
    else:
        os.environ.pop(ENV_PIN_CORES, None)


INPUTS = {"baseline": ("analyzer",), "check": ("drifted",), "train": ("train", "validation", "transform")}


def warm(store: ObjectStore, contender: str) -> int:
    """Read every input object of ``contender`` once, untimed; returns the bytes read. This VM pages out file cache
    that no one read for about a minute (DAMON ``pageout``: 24 GiB of RAM, yet the data set's objects were found 4 to
    43 % resident), so without this a run read its inputs partly from disk when the run just before it had read the same
    objects: every 1-host run paid that and its N-host twin right after it did not. In SageMaker's File mode the
    inputs are on the instance's volume before the job starts, and reading them is not part of the job's work."""
    read = 0
    for part in INPUTS[contender]:
        for path in sorted(store.path(f"{BUCKET}/data/{part}").rglob("*")):
            if path.is_file():
                with open(path, "rb") as handle:
                    while chunk := handle.read(1 << 24):
                        read += len(chunk)
    return read


def run_once(store: ObjectStore, work: Path, contender: str, hosts: int, mode: str, tag: str) -> Run:
    """One run of a contender on ``hosts`` hosts (the check against the same mode's first 1-host baseline), its
    inputs read into the page cache first."""
    warm(store, contender)
    if contender == "train":
        return run_training(store, work, hosts, mode == "pinned", tag)
    baseline = f"{BUCKET}/runs/{mode}-baseline-1-0/result" if contender == "check" else None
    return run_analyzer(store, work, hosts, contender == "check", tag, baseline)


def measure(
    store: ObjectStore, work: Path, mode: str, hosts: int, repeat: int, contenders: tuple[str, ...] = CONTENDERS
) -> dict[tuple[str, int], list[Run]]:
    """Each contender on 1 and ``hosts`` hosts, ``repeat`` times, interleaved (baselines first: checks need one)."""
    runs: dict[tuple[str, int], list[Run]] = {}
    for index in range(repeat):
        for contender in contenders:
            for count in (1, hosts):
                tag = f"{mode}-{contender}-{count}-{index}"
                run = run_once(store, work, contender, count, mode, tag)
                runs.setdefault((contender, count), []).append(run)
                print(f"  {tag}: {run.wall_s:.2f} s", flush=True)
    return runs


def table(mode: str, hosts: int, runs: dict[tuple[str, int], list[Run]]) -> list[str]:
    """The result table of one mode, then each contender's speedup round by round (1-host run / the N-host run just
    after it)."""
    lines = [
        "| mode | contender | hosts | wall median (s) | CPU (s) | peak RSS per host, median / max (MiB) | speedup "
        "| target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    contenders = [c for c in CONTENDERS if (c, 1) in runs]
    for contender in contenders:
        one = runs[(contender, 1)]
        base_wall = statistics.median(r.wall_s for r in one)
        base_rss = statistics.median(p for r in one for p in r.host_peaks_mb)
        for count in (1, hosts):
            chosen = runs[(contender, count)]
            wall = statistics.median(r.wall_s for r in chosen)
            cpu = statistics.median(r.cpu_s for r in chosen)
            peaks = [p for r in chosen for p in r.host_peaks_mb]
            rss, rss_max = statistics.median(peaks), max(peaks)
            speedup = base_wall / wall if wall else float("nan")
            verdict = "-"
            if count > 1:
                fast, lean = speedup >= TARGETS[contender], rss <= base_rss
                verdict = f"speedup >= {TARGETS[contender]}x: {'met' if fast else 'MISSED'}; "
                verdict += f"RSS <= 1 host's: {'met' if lean else 'MISSED'}"
                verdict += "" if mode == "pinned" else " (unpinned: for information)"
            memory = f"{rss:.0f} / {rss_max:.0f}"
            lines.append(
                f"| {mode} | {contender} | {count} | {wall:.2f} | {cpu:.2f} | {memory} | {speedup:.2f}x | {verdict} |"
            )
    lines.append("")
    for contender in contenders:
        ratios = [a.wall_s / b.wall_s for a, b in zip(runs[(contender, 1)], runs[(contender, hosts)], strict=True)]
        each = ", ".join(f"{r:.2f}x" for r in ratios)
        lines.append(f"{contender}, round by round: {each} (median {statistics.median(ratios):.2f}x)")
    return lines


def equality(store: ObjectStore, work: Path, data: DataSet, mode: str, hosts: int, runs: dict) -> list[str]:
    """The first 1-host and N-host runs of ``mode`` compared (W1 from one more, untimed 1-host profile)."""
    lines: list[str] = []
    if ("baseline", 1) in runs:
        lines += _baseline_equality(store, work, mode, hosts, runs)
    if ("check", 1) in runs:
        one, many = runs[("check", 1)][0].outputs["result"], runs[("check", hosts)][0].outputs["result"]
        lines.append(f"check, 1 vs {hosts} hosts: {compare_violations(one, many)}")
    if ("train", 1) in runs:
        test = data.part("test") / "test.csv"
        model_one, model_many = runs[("train", 1)][0].outputs["model"], runs[("train", hosts)][0].outputs["model"]
        lines.append(compare_models(model_one, model_many, test))
    return lines


def _baseline_equality(store: ObjectStore, work: Path, mode: str, hosts: int, runs: dict) -> list[str]:
    w1 = error_weights(profile_one_host(store, work, f"{mode}-w1"))
    w2 = error_weights(runs[("baseline", hosts)][0].outputs["partials"])
    one, many = runs[("baseline", 1)][0].outputs["result"], runs[("baseline", hosts)][0].outputs["result"]
    lines = [f"baseline statistics, 1 vs {hosts} hosts ({mode}):"]
    return lines + [f"  {line}" for line in compare_statistics(one, many, w1, w2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="pinned,unpinned")
    parser.add_argument("--cores", default=None, help="cores of the pinned hosts (default: the first --hosts usable)")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="a subset of " + ",".join(CONTENDERS))
    args = parser.parse_args(argv)
    contenders = tuple(c for c in CONTENDERS if c in args.contenders.split(","))
    unknown = set(args.contenders.split(",")) - set(CONTENDERS)
    if unknown or not contenders:
        parser.error(f"--contenders: expected names out of {', '.join(CONTENDERS)}, got {args.contenders!r}")
    if "check" in contenders and "baseline" not in contenders:
        parser.error("--contenders: check needs baseline (each check runs against the mode's first 1-host baseline)")
    usable = sorted(os.sched_getaffinity(0))
    cores = [int(c) for c in args.cores.split(",")] if args.cores else usable[: args.hosts]
    data = generate(args.rows, args.work / f"data-{args.rows}")
    print(f"data: {args.rows} rows under {data.root}; {len(usable)} usable cores; pinned hosts on cores {cores}")
    report = []
    for mode in args.modes.split(","):
        state, jobs = args.work / "state", args.work / "jobs"
        for directory in (state, jobs):
            shutil.rmtree(directory, ignore_errors=True)
        store = ObjectStore(state)
        stage(store, data)
        _pin(cores if mode == "pinned" else None)
        print(f"{mode}:", flush=True)
        runs = measure(store, jobs, mode, args.hosts, args.repeat, contenders)
        _pin(None)
        report += ["", *table(mode, args.hosts, runs), "", *equality(store, jobs, data, mode, args.hosts, runs)]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
