"""A training or processing request of the local run, executed again in a parity container as SageMaker lays it
out: the base dir made from the request (config files, channels, processing inputs), the image's entry point."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pipelines.local.jobs import JOB_THREADS
from tests.parity.container import Container
from tests.parity.pipeline_run import LocalRun

HOST = "algo-1"


def lay_out_training(
    container: Container, request: dict, run: LocalRun, hosts: Sequence[str] | None = None, current_host: str = HOST
) -> None:
    """``/opt/ml/input`` of a CreateTrainingJob request: hyperparameters.json, inputdataconfig.json,
    resourceconfig.json and one directory per channel (the ``code`` channel brings the staged sourcedir.tar.gz).
    /opt/ml paths in hyperparameter values (sagemaker_submit_directory) are mapped onto the base dir. ``hosts``
    (default: the request's single host) and ``current_host`` lay out one host of a multi-instance job."""
    config = container.map("/opt/ml/input/config")
    config.mkdir(parents=True, exist_ok=True)
    hyperparameters = {key: container.text(str(value)) for key, value in (request.get("HyperParameters") or {}).items()}
    channels = {}
    for channel in request["InputDataConfig"]:
        name, source = channel["ChannelName"], channel["DataSource"]["S3DataSource"]
        run.copy_object(source["S3Uri"], container.map(f"/opt/ml/input/data/{name}"))
        channels[name] = {
            "TrainingInputMode": channel.get("InputMode", "File"),
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            **({"ContentType": channel["ContentType"]} if "ContentType" in channel else {}),
        }
    count = int(request["ResourceConfig"]["InstanceCount"])
    if hosts is None and count != 1:
        raise ValueError(f"ResourceConfig.InstanceCount must be 1 for the parity run, got {count}")
    resource = {"current_host": current_host, "hosts": list(hosts or [HOST]), "network_interface_name": "eth0"}
    for name, document in (
        ("hyperparameters.json", hyperparameters),
        ("inputdataconfig.json", channels),
        ("resourceconfig.json", resource),
    ):
        (config / name).write_text(json.dumps(document), encoding="utf-8")


def run_training(container: Container, request: dict, run: LocalRun, log: Path) -> Path:
    """The image's ``train`` command (sagemaker-containers' trainer, SAGEMAKER_TRAINING_MODULE as the Dockerfile
    sets it) on the laid-out base dir; returns the model directory it leaves."""
    lay_out_training(container, request, run)
    # the local runner gives each job JOB_THREADS OpenMP threads; the same count keeps XGBoost's float sums equal
    container.run([str(container.overlay / "bin" / "train")], log, {"OMP_NUM_THREADS": str(JOB_THREADS)})
    # training.py's main() ends in sys.exit(0), which the toolkit's trainer turns into os._exit(0) before its
    # success file: as in the image, exit 0 without a failure file is success
    failure = container.map("/opt/ml/output/failure")
    if failure.is_file():
        raise AssertionError(f"training exited 0 but wrote {failure}: {failure.read_text(errors='replace')[:2000]}")
    return container.map("/opt/ml/model")


def run_processing(container: Container, request: dict, run: LocalRun, log: Path) -> dict[str, Path]:
    """A CreateProcessingJob request with the image's ``python3``; returns each output's directory by name."""
    for item in request.get("ProcessingInputs", []):
        source = item["S3Input"]
        run.copy_object(source["S3Uri"], container.map(source["LocalPath"]))
    outputs = {}
    for item in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        outputs[item["OutputName"]] = container.map(item["S3Output"]["LocalPath"])
        outputs[item["OutputName"]].mkdir(parents=True, exist_ok=True)
    container.map("/opt/ml/output").mkdir(parents=True, exist_ok=True)
    app = request["AppSpecification"]
    entry = list(app.get("ContainerEntrypoint") or [])
    if not entry or Path(entry[0]).name not in ("python", "python3"):
        raise ValueError(f"{app.get('ImageUri')}: expected a python3 entrypoint, got {entry}")
    arguments = [container.text(str(a)) for a in [*entry[1:], *app.get("ContainerArguments", [])]]
    environment = {
        **(request.get("Environment") or {}),
        "SM_OPT_ML": str(container.base_dir),  # the project's container code maps /opt/ml with it (the local runner's)
        "OMP_NUM_THREADS": str(JOB_THREADS),
    }
    container.run(arguments, log, environment)
    return outputs
