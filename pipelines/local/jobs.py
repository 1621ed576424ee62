"""Processing and training jobs as subprocesses of this interpreter, their ``/opt/ml`` mapped onto a
directory of the execution, their S3 inputs and outputs mapped onto the local object store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.local import processes
from pipelines.local.store import ObjectStore, StepFailure
from pipelines.staging import deterministic_tarball

OPT_ML = "/opt/ml"
PYTHON_COMMANDS = ("python", "python3")
ANALYZER_IMAGE = "sagemaker-model-monitor-analyzer"
TAIL_LINES = 25
JOB_THREADS = max(1, (os.cpu_count() or 1) // 2)


@dataclass
class TrainingHost:
    """What one host of a training job runs: command, environment (``/opt/ml`` paths unmapped), directories."""

    command: list[str]
    env: dict[str, str]
    code: Path
    model_dir: Path
    hyper: dict[str, str]


class ContainerPaths:
    """``/opt/ml/...`` of one job, mapped under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def map(self, path: str) -> Path:
        if not path.startswith(OPT_ML):
            raise StepFailure(f"container path {path!r} is outside {OPT_ML}", "ClientError")
        return self.root / path.lstrip("/")

    def text(self, value: str) -> str:
        """Rewrite /opt/ml paths in a command-line or environment value (colon lists included)."""
        if not isinstance(value, str) or OPT_ML not in value:
            return value
        return ":".join(str(self.map(p)) if p.startswith(OPT_ML) else p for p in value.split(":"))


def _environment(paths: ContainerPaths, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SM_", "SAGEMAKER_")) and k != "PYTHONPATH"}
    env.update({k: paths.text(str(v)) for k, v in extra.items()})
    env["SM_OPT_ML"] = str(paths.map(OPT_ML))
    # Steps run side by side on one machine: each job gets its share of the cores, not all of them (an
    # oversubscribed XGBoost or BLAS is many times slower). A container would see its own instance's cores.
    env.setdefault("OMP_NUM_THREADS", str(JOB_THREADS))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-TAIL_LINES:])


def run_command(
    command: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float | None, message_file: Path
) -> None:
    """Run a job's command; failures become StepFailure with the job's own message when it left one."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        try:  # in its own session, registered: an interrupted execution stops it with what it started
            process = processes.start(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise StepFailure(f"cannot start {command[0]}: {exc}", "SageMaker.JOB_INTERNAL_ERROR") from exc
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            processes.stop_groups([process])
            raise StepFailure(f"job exceeded MaxRuntimeInSeconds ({timeout:.0f} s); log: {log}", "ClientError") from exc
        finally:
            processes.ended(process)
    if returncode == 0:
        return
    processes.check()  # stopped by an interrupt: that is the reason, and no retry
    reason = message_file.read_text(encoding="utf-8", errors="replace").strip() if message_file.is_file() else ""
    if returncode < 0:
        raise StepFailure(f"job killed by signal {-returncode}; log: {log}", "SageMaker.JOB_INTERNAL_ERROR")
    raise StepFailure((reason or f"exit code {returncode}") + f"\n--- last lines of {log} ---\n{_tail(log)}")


def _interpreter(command: list[str]) -> list[str]:
    if command and Path(command[0]).name in PYTHON_COMMANDS:
        return [sys.executable, *command[1:]]
    return command


Download = Callable[[str, Path, str, str], None]  # (S3 URI, local directory, what, S3DataDistributionType)


def instance_count(resources: dict, where: str) -> int:
    """A job's InstanceCount (1 when absent); StepFailure naming ``where`` when it is not a positive integer."""
    value = resources.get("InstanceCount", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StepFailure(f"{where}.InstanceCount must be a positive integer, got {value!r}", "ClientError")
    return value


def processing_setup(args: dict, paths: ContainerPaths, download: Download) -> tuple[list[str], dict[str, str]]:
    """Prepare one host's ``/opt/ml`` for a processing job (inputs, output directories); its command and env."""
    for item in args.get("ProcessingInputs", []):
        s3 = item.get("S3Input")
        if s3:
            kind = s3.get("S3DataDistributionType") or "FullyReplicated"
            download(s3["S3Uri"], paths.map(s3["LocalPath"]), f"input {item['InputName']}", kind)
    for item in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
        paths.map(item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
    app = args["AppSpecification"]
    if app.get("ContainerEntrypoint"):
        command = _interpreter([paths.text(p) for p in app["ContainerEntrypoint"]])
    elif ANALYZER_IMAGE in app.get("ImageUri", ""):
        command = [sys.executable, "-m", "monitoring.container_entry"]  # Model Monitor's role: our analyzer
    else:
        raise StepFailure(f"image {app.get('ImageUri')} has no entrypoint the local runner can run", "ClientError")
    command += [paths.text(str(a)) for a in app.get("ContainerArguments", [])]
    env = _environment(paths, args.get("Environment", {}))
    (paths.map(OPT_ML) / "output").mkdir(parents=True, exist_ok=True)
    return command, env


def run_processing(args: dict, job_dir: Path, store: ObjectStore, log: Path, job_name: str) -> dict:
    """Execute an evaluated CreateProcessingJob request; returns DescribeProcessingJob-shaped properties."""
    cluster = args.get("ProcessingResources", {}).get("ClusterConfig", {})
    if instance_count(cluster, "ProcessingResources.ClusterConfig") > 1:
        from pipelines.local.cluster_jobs import run_processing_hosts

        return run_processing_hosts(args, job_dir, store, log, job_name)
    paths = ContainerPaths(job_dir / "container")
    command, env = processing_setup(args, paths, lambda uri, local, what, kind: store.download(uri, local, what))
    outputs = args.get("ProcessingOutputConfig", {}).get("Outputs", [])
    timeout = args.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    run_command(command, env, paths.map(OPT_ML), log, timeout, paths.map(f"{OPT_ML}/output/message"))
    described = {}
    for item in outputs:
        s3 = item["S3Output"]
        store.upload(paths.map(s3["LocalPath"]), s3["S3Uri"])
        described[item["OutputName"]] = {"OutputName": item["OutputName"], "S3Output": dict(s3)}
    return processing_properties(job_name, described, paths.map(f"{OPT_ML}/output/message"))


def processing_properties(job_name: str, outputs: dict, message: Path) -> dict:
    """DescribeProcessingJob-shaped properties of a completed job."""
    return {
        "ProcessingJobName": job_name,
        "ProcessingJobStatus": "Completed",
        "ProcessingOutputConfig": {"Outputs": outputs},
        "ExitMessage": message.read_text(encoding="utf-8").strip() if message.is_file() else "",
    }


def training_setup(args: dict, paths: ContainerPaths, store: ObjectStore, download: Download) -> TrainingHost:
    """Prepare one host's ``/opt/ml`` for a script-mode training job (channels, code, model and output dirs)."""
    channels = []
    for channel in args.get("InputDataConfig", []):
        name = channel["ChannelName"]
        source = channel["DataSource"]["S3DataSource"]
        kind = source.get("S3DataDistributionType") or "FullyReplicated"
        download(source["S3Uri"], paths.map(f"{OPT_ML}/input/data/{name}"), f"channel {name}", kind)
        channels.append(name)
    hyper = {k: str(v) for k, v in (args.get("HyperParameters") or {}).items()}
    program, submit = hyper.get("sagemaker_program"), hyper.get("sagemaker_submit_directory")
    if not program or not submit:
        raise StepFailure(
            "training needs sagemaker_program and sagemaker_submit_directory (script mode)", "ClientError"
        )
    code = paths.map(f"{OPT_ML}/code")
    code.mkdir(parents=True, exist_ok=True)
    archive = paths.map(submit) if submit.startswith(OPT_ML) else store.path(submit)
    if not archive.is_file():
        raise StepFailure(f"sagemaker_submit_directory {submit} not found ({archive})", "ClientError")
    with tarfile.open(archive) as tar:
        tar.extractall(code, filter="data")
    model_dir, output_data = paths.map(f"{OPT_ML}/model"), paths.map(f"{OPT_ML}/output/data")
    model_dir.mkdir(parents=True, exist_ok=True)
    output_data.mkdir(parents=True, exist_ok=True)
    user = {k: v for k, v in hyper.items() if not k.startswith("sagemaker_")}
    env = {
        **(args.get("Environment") or {}),
        "SM_MODEL_DIR": f"{OPT_ML}/model",
        "SM_OUTPUT_DATA_DIR": f"{OPT_ML}/output/data",
        "SM_INPUT_DIR": f"{OPT_ML}/input",
        "SM_OUTPUT_DIR": f"{OPT_ML}/output",
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(user),
        "SM_USER_ENTRY_POINT": program,
        **{f"SM_CHANNEL_{c.upper()}": f"{OPT_ML}/input/data/{c}" for c in channels},
        **{f"SM_HP_{k.upper()}": v for k, v in user.items()},
    }
    command = [sys.executable, str(code / program)]
    for key, value in user.items():
        command += [f"--{key}", value]
    return TrainingHost(command, env, code, model_dir, hyper)


def run_training(args: dict, job_dir: Path, store: ObjectStore, log: Path, job_name: str) -> dict:
    """Execute an evaluated CreateTrainingJob request in script mode; returns DescribeTrainingJob-shaped properties."""
    if instance_count(args.get("ResourceConfig", {}), "ResourceConfig") > 1:
        from pipelines.local.cluster_jobs import run_training_hosts

        return run_training_hosts(args, job_dir, store, log, job_name)
    paths = ContainerPaths(job_dir / "container")
    host = training_setup(args, paths, store, lambda uri, local, what, kind: store.download(uri, local, what))
    timeout = args.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    env = _environment(paths, host.env)
    run_command(host.command, env, host.code, log, timeout, paths.map(f"{OPT_ML}/output/failure"))
    model_dir = host.model_dir
    files = [(p.relative_to(model_dir).as_posix(), p.read_bytes()) for p in sorted(model_dir.rglob("*")) if p.is_file()]
    return training_properties(args, job_name, files, store, host.hyper)


def training_properties(
    args: dict, job_name: str, files: list[tuple[str, bytes]], store: ObjectStore, hyper: dict
) -> dict:
    """Upload the model (``files`` as model.tar.gz); DescribeTrainingJob-shaped properties of a completed job."""
    model_uri = f"{args['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output/model.tar.gz"
    store.put_bytes(model_uri, deterministic_tarball(files))
    return {
        "TrainingJobName": job_name,
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "HyperParameters": hyper,
        "OutputDataConfig": args["OutputDataConfig"],
    }
