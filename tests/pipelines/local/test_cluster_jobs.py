"""Multi-instance jobs on the local runner: one spawned host process per instance with SageMaker's resource config,
ShardedByS3Key inputs split by object (two assignments), FullyReplicated inputs copied, outputs merged without
collisions, one failing host failing the job with no process left behind, the job's host names resolving to loopback
in its host processes, and hosts pinned to cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.local.cluster import ENV_PIN_CORES, loopback_hook
from pipelines.local.jobs import run_processing, run_training
from pipelines.local.record import ExecutionRecord
from pipelines.local.runner import LocalRunner
from pipelines.local.sharding import ENV_ASSIGNMENT, merge_outputs, shard
from pipelines.local.store import ObjectStore, StepFailure
from pipelines.registry.sqlite import SQLiteRegistry

# The job: writes what this host saw (resource config, its input files, its environment) to output/<host>.json;
# ACTION_<host> makes one host misbehave: crash (failure file + exit 1), hang (with a child of its own), collide.
JOB = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys, time
    from pathlib import Path
    root = Path(os.environ["SM_OPT_ML"])
    config = json.loads((root / "config" / "resourceconfig.json").read_text())
    def resolved(name):
        try:
            return socket.gethostbyname(name)
        except OSError:
            return None
    host = config["current_host"]
    data = root / "processing" / "input" / "data"
    ref = root / "processing" / "input" / "ref"
    out = root / "processing" / "output" / "out"
    action = os.environ.get("ACTION_" + host.replace("-", "_"), "")
    seen = {
        "config": config,
        "data": sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()),
        "ref": sorted(p.name for p in ref.iterdir()),
        "pid": os.getpid(),
        "resolved": {h: resolved(h) for h in [*config["hosts"], "algo-9"]},
        "affinity": sorted(os.sched_getaffinity(0)),
        "threads": [os.environ.get("OMP_NUM_THREADS"), os.environ.get("ARROW_IO_THREADS")],
    }
    if action == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        seen["child"] = child.pid
    (out / f"{host}.json").write_text(json.dumps(seen))
    Path(os.environ["PIDS"], host).write_text(json.dumps([os.getpid(), seen.get("child")]))
    with open(Path(os.environ["PIDS"], "runs"), "a") as runs:
        runs.write(host + "\\n")
    marker = Path(os.environ["PIDS"], "crashed-once")
    if action == "crash-once" and not marker.exists():
        marker.write_text(host)
        action = "crash"
    if action == "crash":  # once every host has started (and a hanging host has its child)
        deadline = time.time() + 30
        while time.time() < deadline and not all(Path(os.environ["PIDS"], h).exists() for h in config["hosts"]):
            time.sleep(0.05)
        (root / "output" / "message").write_text(f"{host} could not read its shard")
        sys.exit(3)
    if action == "hang":
        time.sleep(300)
    if action == "collide":
        (out / "result.txt").write_text(host)
    if action == "same":
        (out / "result.txt").write_text("same")
    """
)


@pytest.fixture
def store(tmp_path) -> ObjectStore:
    store = ObjectStore(tmp_path / "state")
    for i in range(5):
        store.put_bytes(f"s3://bucket/data/part-{i}.csv", f"{i}\n".encode())
    store.put_bytes("s3://bucket/ref/ref.csv", b"r\n")
    store.put_bytes("s3://bucket/code/job.py", JOB.encode())
    return store


def processing_request(count: int, env: dict[str, str] | None = None, runtime: int = 120) -> dict:
    def s3_input(name: str, prefix: str, local: str, kind: str) -> dict:
        return {
            "InputName": name,
            "S3Input": {
                "S3Uri": f"s3://bucket/{prefix}",
                "LocalPath": local,
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": kind,
            },
        }

    return {
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.xlarge"}},
        "AppSpecification": {
            "ImageUri": "xgboost",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/job.py"],
        },
        "ProcessingInputs": [
            s3_input("data", "data", "/opt/ml/processing/input/data", "ShardedByS3Key"),
            s3_input("ref", "ref", "/opt/ml/processing/input/ref", "FullyReplicated"),
            s3_input("code", "code", "/opt/ml/processing/input/code", "FullyReplicated"),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": "s3://bucket/out",
                        "LocalPath": "/opt/ml/processing/output/out",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": runtime},
        "Environment": env or {},
    }


def run(store: ObjectStore, tmp_path: Path, request: dict) -> dict:
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    request["Environment"]["PIDS"] = str(pids)
    return run_processing(request, tmp_path / "job", store, tmp_path / "job" / "log.txt", "job-1")


def seen(store: ObjectStore, host: str) -> dict:
    return json.loads(store.path(f"s3://bucket/out/{host}.json").read_text())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("round-robin", {"algo-1": [0, 3], "algo-2": [1, 4], "algo-3": [2]}),
        ("contiguous", {"algo-1": [0, 1], "algo-2": [2, 3], "algo-3": [4]}),
    ],
)
def test_each_host_gets_its_config_its_shard_and_every_replicated_object(store, tmp_path, monkeypatch, how, expected):
    monkeypatch.setenv(ENV_ASSIGNMENT, how)
    properties = run(store, tmp_path, processing_request(3))
    hosts = ["algo-1", "algo-2", "algo-3"]
    shards = {}
    for host in hosts:
        view = seen(store, host)
        assert view["config"] == {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}
        assert view["ref"] == ["ref.csv"]
        shards[host] = [int(name.split("-")[1].split(".")[0]) for name in view["data"]]
    assert shards == expected
    assert sorted(n for part in shards.values() for n in part) == list(range(5))  # every object read once
    assert len({seen(store, h)["pid"] for h in hosts}) == 3
    loopback = {h: "127.0.0.1" for h in hosts}
    assert all(seen(store, h)["resolved"] == {**loopback, "algo-9": None} for h in hosts)  # only the job's names
    assert properties["ProcessingJobStatus"] == "Completed"
    assert set(properties["ProcessingOutputConfig"]["Outputs"]) == {"out"}
    timings = json.loads((tmp_path / "job" / "hosts.json").read_text())
    assert [t["host"] for t in timings] == hosts and {t["status"] for t in timings} == {"Completed"}
    assert all(Path(t["log"]).is_file() and t["duration_s"] >= 0 for t in timings)
    assert all(t["cpu_s"] > 0 for t in timings)
    # each host's own peak, never the runner's (which is over 1 GB late in a full test run): a lower bound when
    # polled, unknown when a host ends before the first poll (test_peak_memory.py checks the figures themselves)
    assert all(t["max_rss_mb"] is None or 0 < t["max_rss_mb"] < 1000 for t in timings), [
        (t["host"], t["max_rss_mb"], t["max_rss_source"]) for t in timings
    ]
    log = (tmp_path / "job" / "log.txt").read_text()
    assert "3 hosts" in log and "algo-3: Completed" in log


def test_shard_covers_every_object_once_with_either_assignment():
    for how in ("round-robin", "contiguous"):
        for count in range(0, 12):
            for hosts in range(1, 6):
                parts = [shard(count, hosts, i, how) for i in range(hosts)]
                assert sorted(n for part in parts for n in part) == list(range(count))
                assert max(map(len, parts)) - min(map(len, parts)) <= (1 if how == "round-robin" else hosts)


def test_an_unknown_assignment_is_refused(store, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_ASSIGNMENT, "random")
    with pytest.raises(StepFailure, match="MLOPS_LOCAL_SHARD_ASSIGNMENT must be one of round-robin, contiguous"):
        run(store, tmp_path, processing_request(2))


def test_a_bad_instance_count_is_a_clear_error(store, tmp_path):
    with pytest.raises(StepFailure, match=r"ProcessingResources.ClusterConfig.InstanceCount must be a positive .* 0"):
        run(store, tmp_path, processing_request(0))


def test_two_hosts_writing_one_name_differently_is_refused(store, tmp_path):
    env = {"ACTION_algo_1": "collide", "ACTION_algo_2": "collide"}
    with pytest.raises(StepFailure, match=r"hosts algo-1 and algo-2 both wrote result\.txt with different contents"):
        run(store, tmp_path, processing_request(2, env))
    assert not store.path("s3://bucket/out").exists()  # nothing half-merged reached the output prefix


def test_the_same_bytes_under_one_name_are_kept_once(store, tmp_path):
    run(store, tmp_path, processing_request(2, {"ACTION_algo_1": "same", "ACTION_algo_2": "same"}))
    assert store.path("s3://bucket/out/result.txt").read_text() == "same"
    assert "algo-2 wrote the same bytes as algo-1 for result.txt" in (tmp_path / "job" / "log.txt").read_text()


def test_merge_outputs_takes_the_union(tmp_path):
    for host, name in (("a", "x/1.txt"), ("b", "x/2.txt")):
        (tmp_path / host / name).parent.mkdir(parents=True)
        (tmp_path / host / name).write_text(host)
    merge_outputs([("a", tmp_path / "a"), ("b", tmp_path / "b"), ("c", tmp_path / "missing")], tmp_path / "m", "o")
    assert sorted(p.relative_to(tmp_path / "m").as_posix() for p in (tmp_path / "m").rglob("*.txt")) == [
        "x/1.txt",
        "x/2.txt",
    ]


def test_a_crashed_host_fails_the_job_stops_the_others_and_leaves_no_process(store, tmp_path):
    env = {"ACTION_algo_1": "hang", "ACTION_algo_2": "crash", "ACTION_algo_3": "hang"}
    started = time.monotonic()
    with pytest.raises(StepFailure) as failed:
        run(store, tmp_path, processing_request(3, env))
    assert time.monotonic() - started < 60  # not the hanging hosts' 300 s
    assert str(failed.value).startswith("algo-2: algo-2 could not read its shard\n--- last lines of ")
    pids = [
        pid for host in ("algo-1", "algo-2", "algo-3") for pid in json.loads((tmp_path / "pids" / host).read_text())
    ]
    assert len([p for p in pids if p]) == 5  # three hosts, two children
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids if p) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if p and alive(p)]
    timings = {t["host"]: t for t in json.loads((tmp_path / "job" / "hosts.json").read_text())}
    assert timings["algo-2"]["status"] == "Failed" and timings["algo-2"]["exit_code"] == 3
    assert timings["algo-1"]["status"] == timings["algo-3"]["status"] == "Stopped"


def test_max_runtime_stops_every_host(store, tmp_path):
    env = {"ACTION_algo_1": "hang", "ACTION_algo_2": "hang"}
    with pytest.raises(StepFailure, match=r"job exceeded MaxRuntimeInSeconds \(2 s\) on 2 hosts"):
        run(store, tmp_path, processing_request(2, env, runtime=2))
    pids = [pid for host in ("algo-1", "algo-2") for pid in json.loads((tmp_path / "pids" / host).read_text())]
    time.sleep(0.5)
    assert not [p for p in pids if p and alive(p)]


TRAIN = textwrap.dedent(
    """
    import json, os, socket
    from pathlib import Path
    root = Path(os.environ["SM_OPT_ML"])
    config = json.loads((root / "input" / "config" / "resourceconfig.json").read_text())
    host = os.environ["SM_CURRENT_HOST"]
    train = Path(os.environ["SM_CHANNEL_TRAIN"])
    seen = {
        "config": config,
        "hosts": json.loads(os.environ["SM_HOSTS"]),
        "tracker": [socket.gethostbyname(sorted(config["hosts"])[0]), int(os.environ["MLOPS_TRACKER_PORT"])],
        "override": os.environ.get("MLOPS_TRACKER_HOST"),
        "files": sorted(p.name for p in train.iterdir()),
    }
    Path(os.environ["SM_MODEL_DIR"], f"{host}.json").write_text(json.dumps(seen))
    """
)


def test_training_hosts_get_the_toolkits_environment_and_their_shard(store, tmp_path):
    import io
    import tarfile

    code = io.BytesIO()
    with tarfile.open(fileobj=code, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(TRAIN.encode())
        tar.addfile(info, io.BytesIO(TRAIN.encode()))
    store.put_bytes("s3://bucket/code/sourcedir.tar.gz", code.getvalue())
    request = {
        "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3Uri": "s3://bucket/data",
                        "S3DataType": "S3Prefix",
                        "S3DataDistributionType": "ShardedByS3Key",
                    }
                },
            }
        ],
        "HyperParameters": {
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": "s3://bucket/code/sourcedir.tar.gz",
        },
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }
    properties = run_training(request, tmp_path / "job", store, tmp_path / "job" / "log.txt", "train-1")
    with tarfile.open(store.path(properties["ModelArtifacts"]["S3ModelArtifacts"])) as tar:
        views = {name: json.loads(tar.extractfile(name).read()) for name in tar.getnames()}
    assert set(views) == {"algo-1.json", "algo-2.json"}
    one, two = views["algo-1.json"], views["algo-2.json"]
    assert one["hosts"] == two["hosts"] == ["algo-1", "algo-2"]
    assert one["config"]["current_host"] == "algo-1" and two["config"]["current_host"] == "algo-2"
    assert one["config"]["hosts"] == ["algo-1", "algo-2"] and one["config"]["network_interface_name"] == "lo"
    assert one["tracker"] == two["tracker"] and one["tracker"][0] == "127.0.0.1"  # algo-1 by name, as on SageMaker
    assert one["override"] is None and two["override"] is None
    assert one["files"] == ["part-0.csv", "part-2.csv", "part-4.csv"] and two["files"] == ["part-1.csv", "part-3.csv"]


def test_the_execution_record_shows_each_host_and_names_the_failing_one(store, tmp_path):
    request = processing_request(2, {"ACTION_algo_2": "crash"})
    request["Environment"]["PIDS"] = str(tmp_path)
    definition = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [{"Name": "Job", "Type": "Processing", "Arguments": request}],
    }
    state = store.state_dir
    result = LocalRunner(state, SQLiteRegistry(state / "registry.db")).start(json.dumps(definition), "p")
    assert result.status == "Failed"
    assert result.failure_reason == "Job: algo-2: algo-2 could not read its shard"
    step = ExecutionRecord.load(state, result.execution_id).step("Job")
    hosts = [(h["job"], h["host"], h["status"]) for h in step["hosts"]]
    assert hosts[1] == (".", "algo-2", "Failed")
    assert hosts[0] in ((".", "algo-1", "Completed"), (".", "algo-1", "Stopped"))
    assert all(Path(h["log"]).is_file() and "duration_s" in h for h in step["hosts"])
    assert os.path.isfile(step["log"])


def test_a_retry_reruns_every_host(store, tmp_path):
    request = processing_request(2, {"ACTION_algo_2": "crash-once"})
    request["Environment"]["PIDS"] = str(tmp_path)
    step = {"Name": "Job", "Type": "Processing", "Arguments": request}
    step["RetryPolicies"] = [{"ExceptionType": ["AlgorithmError"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [step]}
    state = store.state_dir
    runner = LocalRunner(state, SQLiteRegistry(state / "registry.db"), sleep=lambda seconds: None)
    result = runner.start(json.dumps(definition), "p")
    assert result.status == "Succeeded"
    record = ExecutionRecord.load(state, result.execution_id).step("Job")
    assert record["attempts"] == 2 and "algo-2 could not read its shard" in record["last_error"]
    assert [(h["host"], h["status"]) for h in record["hosts"]] == [("algo-1", "Completed"), ("algo-2", "Completed")]
    assert sorted((tmp_path / "runs").read_text().split()) == ["algo-1", "algo-1", "algo-2", "algo-2"]


def test_pinned_hosts_run_on_their_core_with_one_thread(store, tmp_path, monkeypatch):
    cores = sorted(os.sched_getaffinity(0))
    monkeypatch.setenv(ENV_PIN_CORES, ",".join(map(str, cores[:2])))
    run(store, tmp_path, processing_request(3))
    expected = [cores[:2][i % len(cores[:2])] for i in range(3)]  # host k on the k-th core, cycling
    assert [seen(store, f"algo-{i + 1}")["affinity"] for i in range(3)] == [[c] for c in expected]
    assert {tuple(seen(store, f"algo-{i + 1}")["threads"]) for i in range(3)} == {("1", "1")}


@pytest.mark.parametrize("value", ["x", "0,", str(max(os.sched_getaffinity(0)) + 1)])
def test_an_unusable_pin_list_is_refused_before_any_host_starts(store, tmp_path, monkeypatch, value):
    monkeypatch.setenv(ENV_PIN_CORES, value)
    with pytest.raises(StepFailure, match=f"MLOPS_LOCAL_PIN_CORES must be a comma-separated list .* got '{value}'"):
        run(store, tmp_path, processing_request(2))
    assert not (tmp_path / "pids" / "runs").exists()


def test_the_loopback_hook_runs_the_sitecustomize_it_shadows(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    no_network = textwrap.dedent(  # as the parity harness's: only loopback lookups (it runs first, ours over it)
        """
        import os, socket
        os.environ["SHADOWED_RAN"] = "yes"
        _lookup = socket.getaddrinfo
        def getaddrinfo(host, *args, **kwargs):
            if host != "127.0.0.1":
                raise socket.gaierror(socket.EAI_NONAME, "no network")
            return _lookup(host, *args, **kwargs)
        socket.getaddrinfo = getaddrinfo
        """
    )
    (other / "sitecustomize.py").write_text(no_network)
    hook = loopback_hook(tmp_path / "site", ["algo-1", "algo-2"])
    probe = (
        "import os, socket; print(os.environ.get('SHADOWED_RAN'), socket.gethostbyname('ALGO-2.'),"
        " socket.getaddrinfo('algo-1', 9099)[0][4][0], socket.gethostbyname_ex('algo-1')[2])"
    )
    env = {**os.environ, "PYTHONPATH": f"{hook}{os.pathsep}{other}"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["yes", "127.0.0.1", "127.0.0.1", "['127.0.0.1']"], done.stderr
    env["PYTHONPATH"] = str(hook)  # no other sitecustomize: nothing to chain to
    unknown = "import socket\ntry:\n    socket.gethostbyname('algo-3')\nexcept OSError:\n    print('unresolved')"
    done = subprocess.run([sys.executable, "-c", unknown], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "unresolved", done.stderr
