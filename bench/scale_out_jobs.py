"""The jobs of bench/scale_out.py, run through the local runner's multi-instance code (``pipelines.local.cluster_jobs``:
the same host processes, resource configs, input sharding and output merge as ``mlops run``), also for one host.

Contenders (each a sequence of jobs; wall time is the sequence's):
- ``baseline``: 1 host, the analyzer's full baseline; N hosts, ``analysis_stage=profile`` on N hosts (the dataset
  ShardedByS3Key) then ``merge`` on one host.
- ``check``: the same against the 1-host baseline, on the drifted copy.
- ``train``: ``train.py`` on N hosts, the train channel ShardedByS3Key, validation and transform FullyReplicated.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from scale_out_data import DataSet

from pipelines.local.cluster_jobs import run_processing_hosts, run_training_hosts
from pipelines.local.store import ObjectStore, link_or_copy
from pipelines.staging import code_artifacts

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "s3://bench"
DATA, PARTIALS, BASE = "/opt/ml/processing/input/data", "/opt/ml/processing/input/partials", "/opt/ml/processing/base"
RESULT = "/opt/ml/processing/out"
RUNTIME = 6 * 3600
HYPERPARAMETERS = {  # mlops.yaml's, with subsample 1 and no early stopping: 1 and N hosts boost the same rounds
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
    "num_round": "100",
    "max_depth": "5",
    "eta": "0.1",
    "subsample": "1",
    "min_child_weight": "1",
    "early_stopping_rounds": "0",
    "seed": "1",
}


@dataclass
class Run:
    """One contender run: wall seconds, every host of every job (hosts.json entries) and where it wrote."""

    wall_s: float
    hosts: list[dict] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def cpu_s(self) -> float:
        """CPU seconds of every host process."""
        return sum(h.get("cpu_s", 0.0) for h in self.hosts)

    @property
    def host_peaks_mb(self) -> list[float]:
        """Each host's peak RSS over the run's jobs (MiB): ``algo-1`` runs the profile job and then the merge job, so
        its figure is the larger of the two."""
        peaks: dict[str, float] = {}
        for h in self.hosts:
            peaks[h["host"]] = max(peaks.get(h["host"], 0.0), h.get("max_rss_mb") or 0.0)
        return [peaks[name] for name in sorted(peaks)]


def stage(store: ObjectStore, data: DataSet) -> None:
    """Put the data set (hard links, no copy) and the training code into the object store."""
    for part in ("analyzer", "drifted", "train", "validation", "test", "transform"):
        source = data.part(part)
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            target = store.path(f"{BUCKET}/data/{part}/{path.relative_to(source).as_posix()}")
            target.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(path, target)
    (name, body), *_ = code_artifacts()["training"].files
    store.put_bytes(f"{BUCKET}/code/{name}", body)


def _input(name: str, uri: str, local: str, sharded: bool) -> dict:
    kind = "ShardedByS3Key" if sharded else "FullyReplicated"
    source = {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}
    return {"InputName": name, "S3Input": {**source, "S3DataDistributionType": kind}}


def analyzer_request(hosts: int, stage_name: str, inputs: list[dict], output: str, check: bool) -> dict:
    """A CreateProcessingJob request for the analyzer image (data quality, csv with a header)."""
    env = {
        "PYTHONPATH": str(ROOT),
        "analysis_stage": stage_name,
        "dataset_source": DATA,
        "dataset_format": json.dumps({"csv": {"header": True}}),
        "output_path": RESULT,
        "partial_profiles": PARTIALS,
    }
    outputs = {"Outputs": [{"OutputName": "result", "S3Output": {"S3Uri": output, "LocalPath": RESULT}}]}
    if check:
        env.update(baseline_statistics=f"{BASE}/statistics.json", baseline_constraints=f"{BASE}/constraints.json")
    return {
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": hosts, "InstanceType": "ml.m5.xlarge"}},
        "AppSpecification": {"ImageUri": "bench/sagemaker-model-monitor-analyzer"},
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": outputs,
        "StoppingCondition": {"MaxRuntimeInSeconds": RUNTIME},
        "Environment": env,
    }


def _processing(store: ObjectStore, work: Path, name: str, request: dict, run: Run) -> None:
    job_dir = work / name
    run_processing_hosts(request, job_dir, store, job_dir / "log.txt", name)
    run.hosts += [{"job": name, **t} for t in json.loads((job_dir / "hosts.json").read_text(encoding="utf-8"))]


def run_analyzer(store: ObjectStore, work: Path, hosts: int, check: bool, tag: str, baseline: str | None) -> Run:
    """A baseline (``check`` False) or a check against ``baseline`` (an S3 prefix) on ``hosts`` hosts; its outputs
    (``result``: statistics and constraints or violations; ``partials`` with N hosts) are under ``Run.outputs``."""
    dataset = f"{BUCKET}/data/{'drifted' if check else 'analyzer'}"
    extra = [_input("baseline", baseline, BASE, False)] if check and baseline else []
    result, partials = f"{BUCKET}/runs/{tag}/result", f"{BUCKET}/runs/{tag}/partials"
    run = Run(0.0)
    started = time.perf_counter()
    if hosts == 1:
        request = analyzer_request(1, "full", [_input("data", dataset, DATA, False), *extra], result, check)
        _processing(store, work, f"{tag}-full", request, run)
    else:
        request = analyzer_request(hosts, "profile", [_input("data", dataset, DATA, True), *extra], partials, check)
        _processing(store, work, f"{tag}-profile", request, run)
        request = analyzer_request(1, "merge", [_input("partials", partials, PARTIALS, False), *extra], result, check)
        _processing(store, work, f"{tag}-merge", request, run)
        run.outputs["partials"] = store.path(partials)
    run.wall_s = time.perf_counter() - started
    run.outputs["result"] = store.path(result)
    return run


def profile_one_host(store: ObjectStore, work: Path, tag: str) -> Path:
    """The analyzer's profile of the whole dataset on one host (its KLL error weights: W1 of the equality bound);
    returns the directory holding ``partial_profile-algo-1.json``."""
    partials = f"{BUCKET}/runs/{tag}/partials"
    request = analyzer_request(1, "profile", [_input("data", f"{BUCKET}/data/analyzer", DATA, False)], partials, False)
    _processing(store, work, f"{tag}-profile", request, Run(0.0))
    return store.path(partials)


def training_request(hosts: int, pinned: bool, output: str) -> dict:
    """A script-mode CreateTrainingJob request for train.py on ``hosts`` hosts."""

    def channel(name: str, sharded: bool) -> dict:
        kind = "ShardedByS3Key" if sharded else "FullyReplicated"
        source = {"S3Uri": f"{BUCKET}/data/{name}", "S3DataType": "S3Prefix", "S3DataDistributionType": kind}
        return {"ChannelName": name, "DataSource": {"S3DataSource": source}}

    code = {"sagemaker_program": "train.py", "sagemaker_submit_directory": f"{BUCKET}/code/sourcedir.tar.gz"}
    return {
        "ResourceConfig": {"InstanceCount": hosts, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "InputDataConfig": [channel("train", True), channel("validation", False), channel("transform", False)],
        "HyperParameters": {**code, **HYPERPARAMETERS, **({"nthread": "1"} if pinned else {})},
        "OutputDataConfig": {"S3OutputPath": output},
        "StoppingCondition": {"MaxRuntimeInSeconds": RUNTIME},
        "Environment": {},
    }


def run_training(store: ObjectStore, work: Path, hosts: int, pinned: bool, tag: str) -> Run:
    """``train.py`` on ``hosts`` hosts; ``Run.outputs["model"]`` is the leader's model directory."""
    job_dir = work / f"{tag}-train"
    run = Run(0.0)
    started = time.perf_counter()
    run_training_hosts(
        training_request(hosts, pinned, f"{BUCKET}/runs/{tag}"), job_dir, store, job_dir / "log.txt", tag
    )
    run.wall_s = time.perf_counter() - started
    run.hosts = [{"job": "train", **t} for t in json.loads((job_dir / "hosts.json").read_text(encoding="utf-8"))]
    run.outputs["model"] = job_dir / "merged" / "model"
    return run
