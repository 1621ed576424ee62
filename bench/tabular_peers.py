"""Tabular peer benchmark: this project's analyzer against Evidently and whylogs on one Parquet pair.

    python bench/tabular_peers.py [--repeat 3] [--quick] [--contenders ours,evidently,whylogs]

1. Generates (once, deterministically) bench/.work/reference.parquet (100k rows) and current.parquet (1M rows)
   with 20 features, some of them drifted in current (bench/tabular_data.py, run by the project's venv).
2. Sets up bench/.work/venv-evidently and bench/.work/venv-whylogs (reused when their pins are unchanged).
3. Runs each contender N times as a whole process, interleaved round by round, timing wall seconds and peak
   RSS (``/usr/bin/time -v``, else bench/tabular_measure.py), and reports medians, the peers' time ratios to
   ours with PASS/FAIL against the targets, as a table and as bench/.work/tabular_results.json.

``--quick`` uses 10x fewer rows under bench/.work/quick/ and writes tabular_results_quick.json instead.
The orchestrator itself uses only the standard library; it runs on the system python3 or the project venv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
REFERENCE_ROWS = 100_000
CURRENT_ROWS = 1_000_000
CONTENDERS = ("ours", "evidently", "whylogs")
# peer -> how many times faster than the peer ours should be
TARGETS = {"evidently": 20.0, "whylogs": 5.0}
# Opt-outs of the peers' usage telemetry: nothing here may send traffic anywhere.
NO_TELEMETRY = {"DO_NOT_TRACK": "1", "ITERATIVE_DO_NOT_TRACK": "1", "WHYLOGS_NO_ANALYTICS": "1"}
GNU_TIME = Path("/usr/bin/time")


@dataclass(frozen=True)
class VenvSpec:
    """A peer's own virtualenv: where, what to install, which package versions to report."""

    directory: str
    requirements: tuple[str, ...]
    report: tuple[str, ...]


# Pins that install and run on Python 3.11. Evidently 0.7.23 imports a helper pandas 3 removed, so pandas < 3;
# whylogs 1.6.4 (its last release) is run on the numpy 1.x / pandas 2.2 stack it was built against.
VENVS = {
    "evidently": VenvSpec(
        "venv-evidently",
        ("evidently==0.7.23", "pandas>=2.2,<3"),
        ("evidently", "pandas", "numpy", "pyarrow", "scipy", "scikit-learn"),
    ),
    "whylogs": VenvSpec(
        "venv-whylogs",
        ("whylogs[viz]==1.6.4", "pandas==2.2.3", "numpy==1.26.4", "pyarrow==21.0.0"),
        ("whylogs", "whylogs-sketching", "pandas", "numpy", "pyarrow", "scipy"),
    ),
}
OURS_REPORT = ("sagemaker-mlops-loop", "numpy", "pandas", "pyarrow")


@dataclass(frozen=True)
class Contender:
    """One contender: the interpreter and script to run, and the output directory it writes."""

    name: str
    python: Path
    script: Path
    output: Path


@dataclass
class Run:
    """The measurements of one run of one contender."""

    contender: str
    round: int
    returncode: int
    wall_seconds: float
    max_rss_mib: float
    user_seconds: float
    system_seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    log: str = ""


def say(message: str) -> None:
    """Print one progress line with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def child_env() -> dict[str, str]:
    """The environment of every child process: ours, less anything that would mix interpreters."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(NO_TELEMETRY)
    return env


def venv_python(directory: Path) -> Path:
    """The interpreter of a virtualenv."""
    return directory / "bin" / "python"


def ensure_venv(work: Path, spec: VenvSpec, base_python: str) -> Path:
    """Create the virtualenv and install its pins, unless a previous run already did with the same pins."""
    directory = work / spec.directory
    marker = directory / ".tabular-requirements"
    wanted = "\n".join(spec.requirements) + "\n"
    python = venv_python(directory)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        say(f"venv {directory.name}: ready ({', '.join(spec.requirements)})")
        return python
    if not python.exists():
        say(f"venv {directory.name}: creating with {base_python}")
        subprocess.run([base_python, "-m", "venv", str(directory)], check=True, env=child_env())
    say(f"venv {directory.name}: pip install {' '.join(spec.requirements)}")
    log = work / f"pip-{directory.name}.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", *spec.requirements],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
    if done.returncode:
        raise SystemExit(f"pip install into {directory} failed; see {log}")
    marker.write_text(wanted)
    return python


def package_versions(python: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of ``names`` in the interpreter ``python`` (None when missing)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try:\n        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n        return None\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))"
    )
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, env=child_env())
    return json.loads(done.stdout) if done.returncode == 0 else dict.fromkeys(names)


def project_state() -> dict[str, str]:
    """The git revision of the project and a digest of the analyzer's sources as they are on disk now."""
    described = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    digest = hashlib.sha256()
    for path in sorted([*REPO.glob("monitoring/*.py"), *REPO.glob("pipelines/**/*.py")]):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return {"git": described.stdout.strip() or "unknown", "sources_sha256": digest.hexdigest()[:16]}


def generate_data(project_python: Path, data_dir: Path, reference_rows: int, current_rows: int) -> None:
    """Write (or keep) the Parquet pair with bench/tabular_data.py under the project's interpreter."""
    say(f"data: {reference_rows:,} reference rows, {current_rows:,} current rows in {data_dir}")
    subprocess.run(
        [
            str(project_python),
            str(BENCH / "tabular_data.py"),
            "--out",
            str(data_dir),
            "--reference-rows",
            str(reference_rows),
            "--current-rows",
            str(current_rows),
        ],
        check=True,
        env=child_env(),
    )


def _gnu_time_works() -> bool:
    """Whether /usr/bin/time is GNU time (understands -v and -o)."""
    if not GNU_TIME.exists():
        return False
    done = subprocess.run([str(GNU_TIME), "-v", "-o", os.devnull, "true"], capture_output=True)
    return done.returncode == 0


def parse_gnu_time(text: str) -> dict[str, float]:
    """Peak RSS (KiB) and CPU seconds from ``/usr/bin/time -v`` output."""
    fields = {
        "max_rss_kib": r"Maximum resident set size \(kbytes\): (\d+)",
        "user_seconds": r"User time \(seconds\): ([\d.]+)",
        "system_seconds": r"System time \(seconds\): ([\d.]+)",
    }
    found = {}
    for key, pattern in fields.items():
        match = re.search(pattern, text)
        found[key] = float(match.group(1)) if match else float("nan")
    return found


def measure(command: list[str], log: Path, timeout: float, gnu_time: bool) -> tuple[int, float, dict[str, float]]:
    """Run ``command`` with stdout/stderr to ``log``; (exit code, wall seconds, rss/cpu figures)."""
    with tempfile.TemporaryDirectory(prefix="tabular-") as tmp:
        result = Path(tmp) / "measure"
        if gnu_time:
            wrapped = [str(GNU_TIME), "-v", "-o", str(result), *command]
        else:
            wrapped = [sys.executable, str(BENCH / "tabular_measure.py"), str(result), "--", *command]
        started = time.perf_counter()
        with log.open("w") as out:
            try:
                returncode = subprocess.run(
                    wrapped, stdout=out, stderr=subprocess.STDOUT, env=child_env(), cwd=REPO, timeout=timeout
                ).returncode
            except subprocess.TimeoutExpired:
                out.write(f"\nTIMEOUT after {timeout:.0f}s\n")
                returncode = -9
        wall = time.perf_counter() - started
        if not result.exists():
            return (
                returncode,
                wall,
                {"max_rss_kib": float("nan"), "user_seconds": float("nan"), "system_seconds": float("nan")},
            )
        if gnu_time:
            return returncode, wall, parse_gnu_time(result.read_text())
        figures = json.loads(result.read_text())
        return returncode, wall, {k: float(figures[k]) for k in ("max_rss_kib", "user_seconds", "system_seconds")}


def parse_phases(text: str) -> dict[str, float]:
    """The last ``BENCH_PHASES {json}`` line a contender printed (its own per-phase seconds)."""
    for line in reversed(text.splitlines()):
        if line.startswith("BENCH_PHASES "):
            return json.loads(line[len("BENCH_PHASES ") :])
    return {}


def run_once(contender: Contender, data_dir: Path, round_no: int, logs: Path, timeout: float, gnu_time: bool) -> Run:
    """Run one contender once on a clean output directory."""
    shutil.rmtree(contender.output, ignore_errors=True)
    log = logs / f"{contender.name}-{round_no}.log"
    command = [
        str(contender.python),
        str(contender.script),
        str(data_dir / "reference.parquet"),
        str(data_dir / "current.parquet"),
        str(contender.output),
    ]
    returncode, wall, figures = measure(command, log, timeout, gnu_time)
    text = log.read_text(errors="replace")
    return Run(
        contender.name,
        round_no,
        returncode,
        wall,
        figures["max_rss_kib"] / 1024,
        figures["user_seconds"],
        figures["system_seconds"],
        parse_phases(text),
        str(log),
    )


def summarize(runs: list[Run], names: tuple[str, ...], repeat: int) -> dict[str, dict]:
    """Median (and min/max) figures of the successful runs of each contender."""
    summary: dict[str, dict] = {}
    for name in names:
        good = [r for r in runs if r.contender == name and r.returncode == 0]
        entry: dict = {"runs_ok": len(good), "runs": repeat}
        if good:
            walls = [r.wall_seconds for r in good]
            phase_names = sorted({p for r in good for p in r.phases})
            entry.update(
                {
                    "median_seconds": statistics.median(walls),
                    "min_seconds": min(walls),
                    "max_seconds": max(walls),
                    "median_peak_rss_mib": statistics.median(r.max_rss_mib for r in good),
                    "median_cpu_seconds": statistics.median(r.user_seconds + r.system_seconds for r in good),
                    "median_phases": {p: statistics.median(r.phases.get(p, 0.0) for r in good) for p in phase_names},
                }
            )
        summary[name] = entry
    return summary


def verdicts(summary: dict[str, dict]) -> dict[str, dict]:
    """Each peer's time and RSS ratio to ours, and PASS/FAIL against its time target."""
    ours = summary.get("ours", {})
    out: dict[str, dict] = {}
    for peer, target in TARGETS.items():
        theirs = summary.get(peer, {})
        if "median_seconds" not in ours or "median_seconds" not in theirs:
            out[peer] = {"time_ratio": None, "rss_ratio": None, "target": target, "verdict": "N/A"}
            continue
        ratio = theirs["median_seconds"] / ours["median_seconds"]
        rss = theirs["median_peak_rss_mib"] / ours["median_peak_rss_mib"]
        out[peer] = {
            "time_ratio": ratio,
            "rss_ratio": rss,
            "target": target,
            "verdict": "PASS" if ratio >= target else "FAIL",
        }
    return out


def print_table(summary: dict[str, dict], ratios: dict[str, dict]) -> None:
    """The results as a readable table, then each contender's own phase breakdown."""
    header = (
        f"{'contender':<10} {'ok':>5} {'median s':>10} {'min s':>9} {'max s':>9} {'peak RSS MiB':>13} "
        f"{'CPU s':>8} {'time / ours':>12} {'RSS / ours':>11} {'target':>9} {'verdict':>8}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for name, entry in summary.items():
        ok = f"{entry['runs_ok']}/{entry['runs']}"
        if "median_seconds" not in entry:
            print(f"{name:<10} {ok:>5} {'failed':>10}")
            continue
        ratio = ratios.get(name)
        extra = ""
        if ratio:
            target = f">= {ratio['target']:g}x"
            if ratio["time_ratio"] is None:
                extra = f" {'n/a':>12} {'n/a':>11} {target:>9} {'N/A':>8}"
            else:
                extra = f" {ratio['time_ratio']:>11.1f}x {ratio['rss_ratio']:>10.1f}x {target:>9} {ratio['verdict']:>8}"
        print(
            f"{name:<10} {ok:>5} {entry['median_seconds']:>10.2f} {entry['min_seconds']:>9.2f} "
            f"{entry['max_seconds']:>9.2f} {entry['median_peak_rss_mib']:>13.0f} {entry['median_cpu_seconds']:>8.1f}"
            + extra
        )
    print("\nmedian seconds by phase (the contender's own timers, inside the process):")
    for name, entry in summary.items():
        phases = entry.get("median_phases") or {}
        print(f"  {name:<10} " + ", ".join(f"{p} {s:.2f}" for p, s in phases.items()))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run with 10x fewer rows")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset to run")
    parser.add_argument("--work-dir", type=Path, default=BENCH / ".work", help="scratch directory (gitignored)")
    parser.add_argument(
        "--project-python",
        type=Path,
        default=REPO / ".venv" / "bin" / "python",
        help="interpreter of this project's venv (runs ours and the data generator)",
    )
    parser.add_argument(
        "--venv-python",
        default=shutil.which("python3") or sys.executable,
        help="interpreter that creates the peers' virtualenvs",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before one run is killed")
    args = parser.parse_args(argv)
    args.contenders = tuple(c for c in CONTENDERS if c in args.contenders.split(","))
    if args.repeat < 1 or not args.contenders:
        parser.error("need --repeat >= 1 and at least one of " + ", ".join(CONTENDERS))
    return args


def main(argv: list[str] | None = None) -> int:
    """Set up, generate the data, run the contenders round by round, report."""
    args = parse_args(argv)
    work: Path = args.work_dir.resolve()
    scale = 10 if args.quick else 1
    data_dir = work / "quick" if args.quick else work
    results_path = work / ("tabular_results_quick.json" if args.quick else "tabular_results.json")
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    gnu_time = _gnu_time_works()
    say(
        f"tabular peers: {'quick' if args.quick else 'full'} run, {args.repeat} round(s) of "
        f"{', '.join(args.contenders)}; timing with {'/usr/bin/time -v' if gnu_time else 'tabular_measure.py'}"
    )

    pythons = {"ours": args.project_python}
    versions = {"ours": package_versions(args.project_python, OURS_REPORT)}
    for peer in ("evidently", "whylogs"):
        if peer in args.contenders:
            pythons[peer] = ensure_venv(work, VENVS[peer], args.venv_python)
            versions[peer] = package_versions(pythons[peer], VENVS[peer].report)
            say(f"{peer} venv versions: {versions[peer]}")
    generate_data(args.project_python, data_dir, REFERENCE_ROWS // scale, CURRENT_ROWS // scale)
    contenders = [Contender(n, pythons[n], BENCH / f"tabular_{n}.py", data_dir / n) for n in args.contenders]

    state_before = project_state()
    runs: list[Run] = []
    for round_no in range(1, args.repeat + 1):
        for contender in contenders:
            say(f"round {round_no}/{args.repeat}: {contender.name} ...")
            run = run_once(contender, data_dir, round_no, logs, args.timeout, gnu_time)
            runs.append(run)
            status = "ok" if run.returncode == 0 else f"FAILED (exit {run.returncode}), log {run.log}"
            say(
                f"round {round_no}/{args.repeat}: {contender.name} {run.wall_seconds:.2f}s, "
                f"peak RSS {run.max_rss_mib:.0f} MiB, CPU {run.user_seconds + run.system_seconds:.1f}s: {status}"
            )
            if run.returncode:
                tail = Path(run.log).read_text(errors="replace").splitlines()[-30:]
                print("    " + "\n    ".join(tail), flush=True)
    state_after = project_state()
    if state_after != state_before:
        say(f"WARNING: the analyzer's sources changed during the run ({state_before} -> {state_after})")

    summary = summarize(runs, args.contenders, args.repeat)
    ratios = verdicts(summary)
    print_table(summary, ratios)
    results = {
        "config": {
            "quick": args.quick,
            "repeat": args.repeat,
            "reference_rows": REFERENCE_ROWS // scale,
            "current_rows": CURRENT_ROWS // scale,
            "data_dir": str(data_dir),
            "timer": "/usr/bin/time -v" if gnu_time else "bench/tabular_measure.py",
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "project": {"before": state_before, "after": state_after},
        "versions": versions,
        "summary": summary,
        "ratios": ratios,
        "runs": [asdict(r) for r in runs],
    }
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    say(f"results written to {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
