"""Serving benchmark: the local endpoint (``mlops serve``) under wrk, single-record CSV requests.

For concurrency 1, 8 and 32, capture on and capture off, it reports requests/s and p50/p99 latency, next to the
floor: the same request through the handler in-process (input_fn -> predict_fn -> output_fn, no HTTP). All in one
run. Targets on the 2-core machine: at concurrency 32 >= 1,500 requests/s with capture on and p99 <= 60 ms; at
concurrency 1 p99 <= 5 ms; capture costing <= 10% throughput.

The load generator must not steal the cores it measures: the servers are pinned to CPU 0 and wrk (one thread) to
CPU 1 with ``taskset``. wrk comes from Debian's packages: ``apt-get update && apt-get install -y wrk``.

Run: ``.venv/bin/python bench/serving.py [--seconds 5] [--rounds 3]``. It runs the local pipeline once into
``bench/.work/serving/state`` (if not there yet), approves and deploys version 1 to two endpoints (capture on / off),
starts one server per endpoint, and writes ``bench/.work/serving/results.json``. Figures are medians of the rounds;
rounds alternate capture on and off so that a drift of the machine's load affects both alike.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.model_loader import limit_native_threads, load_model  # noqa: E402
from pipelines.build import config_from_kwargs, local_config  # noqa: E402
from pipelines.deploy.local import deploy_local  # noqa: E402
from pipelines.objectstore import local_path  # noqa: E402
from pipelines.registry.sqlite import SQLiteRegistry  # noqa: E402

WORK = ROOT / "bench" / ".work" / "serving"
ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"
CONCURRENCY = (1, 8, 32)
SERVER_CPU, WRK_CPU = "0", "1"
LUA = f"""wrk.method = "POST"
wrk.body = "{ROW}"
wrk.headers["Content-Type"] = "text/csv"
"""


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"bench/serving.py needs {', '.join(missing)}: apt-get update && apt-get install -y wrk util-linux")
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench/serving.py pins the server and wrk to different cores: it needs at least 2 CPUs")


def prepared_state(config) -> Path:
    """A state directory with an approved abalone/1 from the real local pipeline."""
    state = WORK / "state"
    registry_file = state / "registry.db"
    if not registry_file.is_file() or not SQLiteRegistry(registry_file).list_versions():
        from pipelines.cli import main

        print("Running the local pipeline once (about 15 s) ...", flush=True)
        if main(["run", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state), "--quiet"]) != 0:
            sys.exit("the local pipeline failed")
    registry = SQLiteRegistry(registry_file)
    version = max(registry.list_versions("abalone"), key=lambda v: v.version)
    if version.status != "Approved":
        registry.set_status("abalone", version.version, "Approved", "bench", "serving benchmark")
    return state


def deploy_endpoints(config, state: Path) -> dict[str, str]:
    registry = SQLiteRegistry(state / "registry.db")
    off = replace(config, serving=replace(config.serving, capture=replace(config.serving.capture, enabled=False)))
    deploy_local(config, state, registry, endpoint="bench-capture-on", force=True)
    deploy_local(off, state, registry, endpoint="bench-capture-off", force=True)
    return {"on": "bench-capture-on", "off": "bench-capture-off"}


def start_server(state: Path, endpoint: str) -> tuple[subprocess.Popen, int]:
    command = [
        "taskset", "-c", SERVER_CPU, sys.executable, "-m", "pipelines.commands.serve",
        "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state), "--endpoint", endpoint, "--port", "0",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r":(\d+) serving", line)
    if not match:
        process.kill()
        sys.exit(f"server for {endpoint} did not start: {line!r}")
    port = int(match.group(1))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/invocations", body=ROW, headers={"Content-Type": "text/csv"})
    if connection.getresponse().status != 200:
        sys.exit(f"server for {endpoint} does not answer 200")
    return process, port


def _duration(text: str) -> float:
    """wrk's latency text (``294.00us``, ``2.02ms``, ``1.10s``) in milliseconds."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(port: int, connections: int, seconds: int, script: Path) -> dict:
    command = [
        "taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-s", str(script), f"http://127.0.0.1:{port}/invocations",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50_ms": _duration(percentiles["50"]),
        "p99_ms": _duration(percentiles["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def floor(state: Path) -> dict:
    """The handler in-process, single-record CSV: the cost no server can go below (one core)."""
    registry = SQLiteRegistry(state / "registry.db")
    version = max(registry.list_versions("abalone"), key=lambda v: v.version)
    loaded = load_model(local_path(version.model_data_url, state), WORK / "floor-models", version.reference)
    limit_native_threads()
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(SERVER_CPU)})  # the core the servers get
    body = ROW.encode()
    module, model = loaded.module, loaded.model
    timings = {}
    for name, call in {
        "handler_us": lambda: loaded.invoke(body, "text/csv", "text/csv"),
        "predict_fn_us": (lambda parsed: lambda: module.predict_fn(parsed, model))(module.input_fn(body, "text/csv")),
    }.items():
        for _ in range(500):
            call()
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(2000):
                call()
            samples.append((time.perf_counter() - started) / 2000 * 1e6)
        timings[name] = statistics.median(samples)
    os.sched_setaffinity(0, previous)
    timings["max_requests_per_s_one_core"] = 1e6 / timings["handler_us"]
    return timings


def capture_lines(state: Path, config, endpoint: str) -> int:
    root = local_path(config.capture_destination, state) / endpoint
    return sum(path.read_bytes().count(b"\n") for path in root.rglob("*.jsonl"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="duration of one wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per configuration (default 3; medians)")
    args = parser.parse_args()
    require_tools()
    WORK.mkdir(parents=True, exist_ok=True)
    config = local_config(config_from_kwargs({}, str(ROOT / "mlops.yaml")))
    state = prepared_state(config)
    shutil.rmtree(local_path(config.capture_destination, state) / "bench-capture-on", ignore_errors=True)
    endpoints = deploy_endpoints(config, state)
    script = WORK / "post.lua"
    script.write_text(LUA)
    print(f"Floor: the handler in-process (CPU {SERVER_CPU}) ...", flush=True)
    floor_figures = floor(state)
    servers = {mode: start_server(state, endpoint) for mode, endpoint in endpoints.items()}
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        warm = {mode: run_wrk(port, 8, 2, script) for mode, (_, port) in servers.items()}
        for round_number in range(args.rounds):
            for connections in CONCURRENCY:
                for mode in ("on", "off") if round_number % 2 == 0 else ("off", "on"):
                    figures = run_wrk(servers[mode][1], connections, args.seconds, script)
                    runs.setdefault((mode, connections), []).append(figures)
                    print(
                        f"  round {round_number + 1} capture {mode:<3} c={connections:<2} "
                        f"{figures['requests_per_s']:8.0f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
                        f"p99 {figures['p99_ms']:6.2f} ms",
                        flush=True,
                    )
    finally:
        for process, _ in servers.values():
            process.send_signal(signal.SIGTERM)
        for process, _ in servers.values():
            process.wait(60)
    # every answered request of the capture-on server is on disk after its graceful stop; wrk does not count the
    # requests still in flight when a run ends (at most one per connection), the server answered them too
    on_runs = [(c, r) for (mode, c), rs in runs.items() if mode == "on" for r in rs]
    answered = 1 + warm["on"]["requests"] + sum(r["requests"] for _, r in on_runs)
    captured = capture_lines(state, config, endpoints["on"])
    results = summarise(runs, floor_figures, args)
    slack = 8 + sum(c for c, _ in on_runs)
    results["capture"] = {"records_written": captured, "requests_counted_by_wrk": answered, "in_flight_slack": slack}
    results["targets"]["capture_wrote_every_request"] = answered <= captured <= answered + slack
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    report(results)
    return 0


def summarise(runs: dict, floor_figures: dict, args) -> dict:
    table = {}
    for (mode, connections), figures in sorted(runs.items()):
        table[f"capture_{mode}_c{connections}"] = {
            key: statistics.median(f[key] for f in figures) for key in ("requests_per_s", "p50_ms", "p99_ms")
        } | {
            "non_2xx": sum(f["non_2xx"] for f in figures),
            "socket_errors": sorted({f["socket_errors"] for f in figures if f["socket_errors"]}),
            "rounds": len(figures),
        }
    on, off = table["capture_on_c32"], table["capture_off_c32"]
    checks = {
        "c32_capture_on_at_least_1500_rps": on["requests_per_s"] >= 1500,
        "c32_capture_on_p99_at_most_60ms": on["p99_ms"] <= 60,
        "c1_p99_at_most_5ms": max(table["capture_on_c1"]["p99_ms"], table["capture_off_c1"]["p99_ms"]) <= 5,
        "capture_cost_at_most_10pct_at_c32": on["requests_per_s"] >= 0.9 * off["requests_per_s"],
    }
    return {
        "machine": {"cpus": os.cpu_count(), "server_cpu": SERVER_CPU, "wrk_cpu": WRK_CPU},
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "floor": floor_figures,
        "runs": table,
        "capture_cost_pct": {
            f"c{c}": round(
                100 * (1 - table[f"capture_on_c{c}"]["requests_per_s"] / table[f"capture_off_c{c}"]["requests_per_s"]),
                1,
            )
            for c in CONCURRENCY
        },
        "targets": checks,
    }


def report(results: dict) -> None:
    f = results["floor"]
    print(
        f"\nFloor (in-process, one core): handler {f['handler_us']:.0f} us/request "
        f"(predict_fn {f['predict_fn_us']:.0f} us) -> at most {f['max_requests_per_s_one_core']:.0f} requests/s"
    )
    print(f"\n{'':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}   capture on vs off")
    for c in CONCURRENCY:
        for mode in ("off", "on"):
            r = results["runs"][f"capture_{mode}_c{c}"]
            cost = f"   {results['capture_cost_pct'][f'c{c}']:+.1f}% cost" if mode == "on" else ""
            errors = f"  ({r['non_2xx']} non-2xx!)" if r["non_2xx"] else ""
            print(f"c={c:<2} cap {mode:<5}{r['requests_per_s']:9.0f}{r['p50_ms']:9.2f}{r['p99_ms']:9.2f}{cost}{errors}")
    c = results["capture"]
    print(
        f"\nCapture: {c['records_written']} records written by the capture-on server for "
        f"{c['requests_counted_by_wrk']} requests counted by wrk "
        f"(+ at most {c['in_flight_slack']} in flight at run ends)"
    )
    for name, ok in results["targets"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print(f"Results: {WORK / 'results.json'}")


if __name__ == "__main__":
    sys.exit(main())
