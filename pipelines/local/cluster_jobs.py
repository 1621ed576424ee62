"""Processing and training jobs with InstanceCount N > 1: N host processes (``pipelines.local.cluster``), inputs
shared out and outputs merged (``pipelines.local.sharding``).

Host ``algo-1`` keeps the one-host layout (``<job>/container``), so what reads a job's container afterwards (a
QualityCheck's violation report) finds the leader's; host ``algo-k`` runs in ``<job>/hosts/algo-k/container``.
Every host's log is ``<job>/hosts/<host>/log.txt``; the step's log names them and their outcome. The hook that makes
the job's host names resolve to loopback is ``<job>/hosts/site`` (first on every host's PYTHONPATH)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipelines.local.cluster import (
    Host,
    free_port,
    host_names,
    loopback_hook,
    pin_cores,
    pinned,
    resource_config,
    run_hosts,
    with_hook,
)
from pipelines.local.jobs import (
    OPT_ML,
    ContainerPaths,
    _environment,
    instance_count,
    processing_properties,
    processing_setup,
    training_properties,
    training_setup,
)
from pipelines.local.sharding import assignment, distribution, download_share, merge_outputs
from pipelines.local.store import ObjectStore

HOOK_DIR = "site"


def host_root(job_dir: Path, name: str) -> Path:
    """The directory mapped onto ``/opt/ml`` for host ``name``'s container (algo-1: the one-host layout)."""
    return job_dir / "container" if name == "algo-1" else job_dir / "hosts" / name / "container"


def _downloader(store: ObjectStore, index: int, count: int, how: str):
    def download(uri: str, local: Path, what: str, kind: str) -> None:
        download_share(store, uri, local, what, distribution(kind, what), (index, count), how)

    return download


def _fresh(root: Path) -> ContainerPaths:
    """A host's container directory, emptied of an earlier attempt's files (a retry re-runs every host)."""
    if root.exists():
        shutil.rmtree(root)
    return ContainerPaths(root)


def run_processing_hosts(args: dict, job_dir: Path, store: ObjectStore, log: Path, job_name: str) -> dict:
    """A processing job on InstanceCount hosts; DescribeProcessingJob-shaped properties."""
    count = instance_count(args["ProcessingResources"]["ClusterConfig"], "ProcessingResources.ClusterConfig")
    names, how, cores = host_names(count), assignment(), pin_cores()
    hook = loopback_hook(job_dir / "hosts" / HOOK_DIR, names)
    hosts, roots = [], {}
    for index, name in enumerate(names):
        paths = _fresh(host_root(job_dir, name))
        roots[name] = paths
        command, env = processing_setup(args, paths, _downloader(store, index, count, how))
        command, env = pinned(command, with_hook(env, hook), index, cores)
        config = paths.map(f"{OPT_ML}/config/resourceconfig.json")
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(resource_config(name, names), encoding="utf-8")
        host_log = job_dir / "hosts" / name / "log.txt"
        hosts.append(Host(name, command, env, paths.map(OPT_ML), host_log, paths.map(f"{OPT_ML}/output/message")))
    _announce(log, job_name, hosts, how)
    run_hosts(hosts, args.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"), job_dir, log)
    outputs = args.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:  # every output merged before any is uploaded: a collision publishes nothing
        s3, output = item["S3Output"], item["OutputName"]
        sources = [(name, roots[name].map(s3["LocalPath"])) for name in names]
        _note(log, merge_outputs(sources, job_dir / "merged" / output, f"output {output}"))
    described = {}
    for item in outputs:
        s3, output = item["S3Output"], item["OutputName"]
        store.upload(job_dir / "merged" / output, s3["S3Uri"])
        described[output] = {"OutputName": output, "S3Output": dict(s3)}
    return processing_properties(job_name, described, roots[names[0]].map(f"{OPT_ML}/output/message"))


def run_training_hosts(args: dict, job_dir: Path, store: ObjectStore, log: Path, job_name: str) -> dict:
    """A script-mode training job on InstanceCount hosts (an XGBoost ring through the tracker on a free loopback
    port, ``MLOPS_TRACKER_PORT``; train.py finds algo-1 by name); the model is the union of the hosts' model
    directories."""
    resources = args["ResourceConfig"]
    count = instance_count(resources, "ResourceConfig")
    names, how, port, cores = host_names(count), assignment(), free_port(), pin_cores()
    hook = loopback_hook(job_dir / "hosts" / HOOK_DIR, names)
    group = {
        "instance_group_name": "homogeneousCluster",
        "instance_type": resources.get("InstanceType"),
        "hosts": names,
    }
    hosts, models, hyper = [], [], {}
    for index, name in enumerate(names):
        paths = _fresh(host_root(job_dir, name))
        setup = training_setup(args, paths, store, _downloader(store, index, count, how))
        hyper = setup.hyper
        extra = {
            "current_instance_type": resources.get("InstanceType"),
            "current_group_name": "homogeneousCluster",
            "instance_groups": [group],
        }
        config_text = resource_config(name, names, extra)
        config = paths.map(f"{OPT_ML}/input/config/resourceconfig.json")
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(config_text, encoding="utf-8")
        env = {
            **setup.env,
            "SM_HOSTS": json.dumps(names),
            "SM_CURRENT_HOST": name,
            "SM_NETWORK_INTERFACE_NAME": "lo",
            "SM_RESOURCE_CONFIG": config_text,
            "SM_INPUT_CONFIG_DIR": f"{OPT_ML}/input/config",
            "MLOPS_TRACKER_PORT": str(port),
        }
        command, env = pinned(setup.command, with_hook(_environment(paths, env), hook), index, cores)
        host_log = job_dir / "hosts" / name / "log.txt"
        failure = paths.map(f"{OPT_ML}/output/failure")
        hosts.append(Host(name, command, env, setup.code, host_log, failure))
        models.append((name, setup.model_dir))
    _announce(log, job_name, hosts, how)
    run_hosts(hosts, args.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"), job_dir, log)
    merged = job_dir / "merged" / "model"
    _note(log, merge_outputs(models, merged, "model"))
    files = [(p.relative_to(merged).as_posix(), p.read_bytes()) for p in sorted(merged.rglob("*")) if p.is_file()]
    return training_properties(args, job_name, files, store, hyper)


def _announce(log: Path, job_name: str, hosts: list[Host], how: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{job_name}: {len(hosts)} hosts (ShardedByS3Key inputs assigned {how}); logs:\n")
        for host in hosts:
            out.write(f"  {host.name}: {host.log}\n")


def _note(log: Path, notes: list[str]) -> None:
    if notes:
        with open(log, "a", encoding="utf-8") as out:
            out.writelines(f"{note}\n" for note in notes)
