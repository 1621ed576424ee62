"""An interrupted run (Ctrl-C, SIGTERM, or a step raising KeyboardInterrupt) and a bad --parallel: the record never
stays Executing. It ends Failed with the reason, the steps that were running are recorded as stopped, their jobs'
processes (and what those started) are gone, and the execution resumes. ``--parallel`` below 1 is refused before
anything is written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.errors import StateError, UsageError
from pipelines.local import processes
from pipelines.local.record import FAILED, ExecutionRecord
from pipelines.local.runner import Interrupted, LocalRunner
from pipelines.local.store import ObjectStore, StepFailure
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT

CONFIG = str(ROOT / "mlops.yaml")

# A job that, while <PIDS>/hang exists, starts a child of its own, says both pids in <PIDS>/<step>-<host> and
# sleeps; otherwise it writes its output and ends.
JOB = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    from pathlib import Path
    root = Path(os.environ["SM_OPT_ML"])
    config = root / "config" / "resourceconfig.json"
    host = json.loads(config.read_text())["current_host"] if config.is_file() else "single"
    pids, name = Path(os.environ["PIDS"]), os.environ["STEP"] + "-" + host
    if (pids / "hang").exists():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        (pids / (name + ".tmp")).write_text(json.dumps([os.getpid(), child.pid]))
        (pids / (name + ".tmp")).replace(pids / name)
        time.sleep(300)
    (root / "processing" / "output" / "out" / (name + ".txt")).write_text("done")
    """
)

# Runs the definition in a process of its own (so that it can be sent SIGINT), as Ctrl-C would interrupt it.
RUNNER = textwrap.dedent(
    """
    import json, signal, sys
    from pathlib import Path
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if this process was started ignoring it
    from pipelines.local.runner import Interrupted, LocalRunner
    from pipelines.registry.sqlite import SQLiteRegistry
    state = Path(sys.argv[1])
    try:
        LocalRunner(state, SQLiteRegistry(state / "registry.db")).start(Path(sys.argv[2]).read_text(), "p")
    except Interrupted as exc:
        print(json.dumps({"id": exc.result.execution_id, "status": exc.result.status}))
        sys.exit(130)
    """
)


def job_step(name: str, pids: Path, count: int = 1) -> dict:
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.xlarge"}},
            "AppSpecification": {
                "ImageUri": "xgboost",
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/job.py"],
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": "s3://bucket/code",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "out",
                        "S3Output": {
                            "S3Uri": f"s3://bucket/out/{name}",
                            "LocalPath": "/opt/ml/processing/output/out",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "Environment": {"PIDS": str(pids), "STEP": name},
        },
    }


def condition(name: str, after: list[str] | None = None) -> dict:
    return {"Name": name, "Type": "Condition", "DependsOn": after or [], "Arguments": {"Conditions": []}}


def definition(*steps: dict) -> str:
    return json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": list(steps)})


def job_state(tmp_path: Path) -> Path:
    """A state directory holding the JOB's code, and ``tmp_path / "pids"`` for the pids the jobs report."""
    state = tmp_path / "state"
    ObjectStore(state).put_bytes("s3://bucket/code/job.py", JOB.encode())
    (tmp_path / "pids").mkdir()
    return state


@pytest.fixture
def state(tmp_path) -> Path:
    return job_state(tmp_path)


def registry(state: Path) -> SQLiteRegistry:
    return SQLiteRegistry(state / "registry.db")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def started(pids: Path, names: list[str], process: subprocess.Popen) -> list[int]:
    """Every pid the named jobs reported (job and child), once all have started."""
    deadline = time.monotonic() + 120
    while not all((pids / name).is_file() for name in names):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"jobs did not start: {sorted(p.name for p in pids.iterdir())}"
        time.sleep(0.1)
    return [pid for name in names for pid in json.loads((pids / name).read_text())]


def start_hanging_run(tmp_path: Path, state: Path, code: str) -> tuple[subprocess.Popen, list[int]]:
    """``code`` (a script run with the state directory and a definition file) running steps One (one host) and Two
    (two hosts) whose jobs hang, and then After; the runner process and every pid the jobs reported, once all have
    started."""
    pids = tmp_path / "pids"
    (pids / "hang").touch()
    steps = [job_step("One", pids), job_step("Two", pids, count=2), condition("After", ["One", "Two"])]
    (tmp_path / "definition.json").write_text(definition(*steps))
    script = [sys.executable, "-c", code, str(state), str(tmp_path / "definition.json")]
    runner = subprocess.Popen(script, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return runner, started(pids, ["One-single", "Two-algo-1", "Two-algo-2"], runner)


def all_gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 10  # an orphaned child is reaped by init a moment after its group is killed
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(pid) for pid in pids)


def test_parallel_below_one_is_refused_before_anything_is_written(tmp_path, capsys):
    state = tmp_path / "state"
    for value in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exited:
            main(["run", "--config", CONFIG, "--state-dir", str(state), "--parallel", value])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "mlops run: error: argument --parallel: must be" in err and f"got {value}" in err.replace("'", "")
        assert "Traceback" not in err
    assert not state.exists()
    with pytest.raises(UsageError, match=r"--parallel \(steps run at once\) must be 1 or more, got 0"):
        LocalRunner(state, None, max_parallel=0)


def test_a_step_interrupted_in_process_leaves_a_failed_record_that_resumes(state):
    def interrupt(step: str, attempt: int) -> StepFailure | None:
        if step == "First":
            raise KeyboardInterrupt
        return None

    steps = definition(condition("First"), condition("Second", ["First"]))
    with pytest.raises(Interrupted) as raised:
        LocalRunner(state, registry(state), fault=interrupt).start(steps, "p")
    result = raised.value.result
    assert isinstance(raised.value, KeyboardInterrupt)  # a caller catching KeyboardInterrupt still does
    assert result.status == FAILED and result.failure_reason == "interrupted (SIGINT)"
    record = ExecutionRecord.load(state, result.execution_id).data  # what is on disk
    assert record["status"] == FAILED and record["ended"] and record["failure_reason"] == "interrupted (SIGINT)"
    assert record["steps"]["First"]["status"] == "Failed"
    assert record["steps"]["First"]["failure_reason"] == "stopped: interrupted (SIGINT)"
    assert record["steps"]["Second"] == {
        "type": "Condition",
        "status": "NotRun",
        "reason": "not started: interrupted (SIGINT)",
    }
    resumed = LocalRunner(state, registry(state)).resume(result.execution_id)
    assert resumed.status == "Succeeded"
    assert {n: s["status"] for n, s in resumed.steps.items()} == {"First": "Succeeded", "Second": "Succeeded"}


def test_a_bug_in_a_step_still_ends_the_record(state):
    def bug(step: str, attempt: int) -> StepFailure | None:
        raise RuntimeError("a bug of ours")

    with pytest.raises(RuntimeError, match="a bug of ours"):
        LocalRunner(state, registry(state), fault=bug).start(definition(condition("Only")), "p")
    (path,) = (state / "executions").glob("*/execution.json")
    record = json.loads(path.read_text())
    assert record["status"] == FAILED
    assert record["failure_reason"] == "the local runner failed: RuntimeError: a bug of ours"


def test_sigint_stops_every_jobs_processes_and_the_execution_resumes(state, tmp_path):
    pids = tmp_path / "pids"
    runner, jobs = start_hanging_run(tmp_path, state, RUNNER)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    result = json.loads(out)
    assert result["status"] == FAILED
    assert all_gone(jobs), [pid for pid in jobs if alive(pid)]  # the jobs and the children they started
    record = ExecutionRecord.load(state, result["id"]).data
    assert record["status"] == FAILED and record["failure_reason"] == "interrupted (SIGINT)"
    for name in ("One", "Two"):
        assert record["steps"][name]["status"] == "Failed"
        assert record["steps"][name]["failure_reason"].startswith("stopped: interrupted (SIGINT)")
        assert record["steps"][name]["attempts"] <= 1  # an interrupt is never retried
    assert record["steps"]["After"]["status"] == "NotRun"

    (pids / "hang").unlink()
    resumed = LocalRunner(state, registry(state)).resume(result["id"])
    assert resumed.status == "Succeeded"
    out_dir = ObjectStore(state).path("s3://bucket/out")
    assert sorted(p.name for p in out_dir.rglob("*.txt")) == ["One-single.txt", "Two-algo-1.txt", "Two-algo-2.txt"]


def test_sigterm_ends_mlops_run_quietly_with_how_to_resume(state, tmp_path):
    pids = tmp_path / "pids"

    def fail(step: str, attempt: int) -> StepFailure | None:
        return StepFailure("injected")

    first = LocalRunner(state, registry(state), fault=fail).start(definition(job_step("One", pids)), "p")
    assert first.status == FAILED
    (pids / "hang").touch()
    argv = ["run", "--resume", first.execution_id, "--state-dir", str(state), "--config", CONFIG, "--quiet"]
    cli = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    jobs = started(pids, ["One-single"], cli)
    cli.send_signal(signal.SIGTERM)
    out, err = (text.decode() for text in cli.communicate(timeout=60))
    assert cli.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert "Interrupted (SIGTERM); resume with: " in err and f"run --resume {first.execution_id}" in err
    assert "Failure: interrupted (SIGTERM)" in err and f"Execution {first.execution_id}: Failed" in out
    assert all_gone(jobs)
    record = ExecutionRecord.load(state, first.execution_id).data
    assert record["status"] == FAILED and record["failure_reason"] == "interrupted (SIGTERM)"
    assert record["steps"]["One"]["failure_reason"].startswith("stopped: interrupted (SIGTERM)")

    (pids / "hang").unlink()
    assert main(argv) == 0  # resumed again, to the end
    assert ExecutionRecord.load(state, first.execution_id).data["status"] == "Succeeded"


def test_a_record_left_executing_by_a_runner_that_is_gone_resumes(state):
    steps = definition(condition("Only"))
    record = ExecutionRecord.create(state, "abcdefabcdef", "p", {}, {"Only": "Condition"}, steps)
    with pytest.raises(StateError, match="is Executing: only a Failed execution resumes"):
        LocalRunner(state, registry(state)).resume("abcdefabcdef")  # its runner (this process) still runs
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record.update(runner={**record.data["runner"], "pid": int(gone.stdout)})  # killed: it will never end it
    assert LocalRunner(state, registry(state)).resume("abcdefabcdef").status == "Succeeded"


def test_a_retry_wait_ends_when_the_processes_are_stopped():
    waited = threading.Thread(target=processes.pause, args=(60,))
    waited.start()
    try:
        assert processes.stop("interrupted (test)") == 0
        waited.join(5)
        assert not waited.is_alive()
        with pytest.raises(StepFailure, match=r"^not started: interrupted \(test\)$") as refused:
            processes.start([sys.executable, "-c", "pass"])
        assert refused.value.kind == processes.INTERRUPTED
    finally:
        processes.reset()
    started_again = processes.start(
        [sys.executable, "-c", "import os; print(os.getsid(0) == os.getpid())"], stdout=subprocess.PIPE, text=True
    )
    assert started_again.communicate(timeout=30)[0].strip() == "True"  # in a session of its own
    processes.ended(started_again)
