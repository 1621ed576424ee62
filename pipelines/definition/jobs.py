"""Processing-job building blocks shared by the steps: the processor, S3 inputs and per-execution outputs.

Imports the SageMaker SDK: ``get_pipeline`` imports this module inside ``offline_sdk`` only.
"""

from __future__ import annotations

from typing import Any

from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join

from pipelines.definition.context import LIB_DIR, BuildContext

# Jobs that stay on one instance whatever ProcessingInstanceCount says: Preprocess's feature transform needs the
# global categories and its split the whole data; Evaluate is small; the data-quality merge job reads the partial
# profiles (kilobytes) and writes one statistics.json. The analyzer jobs take the count.
SINGLE_INSTANCE_JOBS = ("preprocess", "evaluate", "baseline-merge")
SHARDED = "ShardedByS3Key"  # each instance receives about 1/N of the prefix's objects


def job_resources(ctx: BuildContext, job: str) -> dict[str, Any]:
    """What every processing job of the pipeline runs with (role, instances, volume, keys, time limit), named
    ``<pipeline>-<job>``: the keyword arguments ScriptProcessor and CheckJobConfig share."""
    sm = ctx.config.sagemaker
    return {
        "role": sm.role_arn,
        "instance_type": ctx.parameters.processing_instance_type,
        "instance_count": 1 if job in SINGLE_INSTANCE_JOBS else ctx.parameters.processing_instance_count,
        "volume_size_in_gb": sm.volume_size_gb,
        "volume_kms_key": sm.kms_key_id,
        "output_kms_key": sm.kms_key_id,
        "max_runtime_in_seconds": sm.max_runtime_seconds,
        "base_job_name": f"{ctx.name}-{job}",
        "sagemaker_session": ctx.session,
    }


class NetworkRequest(dict):
    """A NetworkConfig already in request form: SDK 3.27.0's check-job request embeds the object itself
    (``request_dict["NetworkConfig"] = processor.network_config``), which is not JSON; a dict that also
    answers ``_to_request_dict`` serialises on both paths."""

    def _to_request_dict(self) -> dict:
        return dict(self)


def check_job_config(ctx: BuildContext, job: str):
    """The CheckJobConfig of a QualityCheckStep (engine ``model-monitor``): the processors' resources and network."""
    from sagemaker.mlops.workflow.check_job_config import CheckJobConfig

    return CheckJobConfig(network_config=NetworkRequest(ctx.network._to_request_dict()), **job_resources(ctx, job))


def processor(ctx: BuildContext, job: str, env: dict[str, str] | None = None) -> ScriptProcessor:
    """A ScriptProcessor on the framework image, named ``<pipeline>-<job>``, with the staged lib importable."""
    return ScriptProcessor(
        image_uri=ctx.image,
        command=["python3"],
        env={"PYTHONPATH": LIB_DIR, **(env or {})},
        network_config=ctx.network,
        **job_resources(ctx, job),
    )


def s3_input(input_name: str, uri, local: str) -> ProcessingInput:
    """An S3 prefix (a string or a pipeline expression) mounted as files at ``local`` (FullyReplicated: every
    instance receives all of it)."""
    return ProcessingInput(
        input_name=input_name,
        s3_input=ProcessingS3Input(s3_uri=uri, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"),
    )


def sharded_s3_input(input_name: str, uri, local: str) -> ProcessingInput:
    """An S3 prefix mounted at ``local`` as ``ShardedByS3Key``: each of the job's instances receives about 1/N of
    its objects (some none when there are fewer objects than instances)."""
    return ProcessingInput(
        input_name=input_name,
        s3_input=ProcessingS3Input(
            s3_uri=uri,
            local_path=local,
            s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type=SHARDED,
        ),
    )


def lib_input(ctx: BuildContext) -> ProcessingInput:
    """The staged lib (the project's packages) at ``LIB_DIR``, which every processor has on its PYTHONPATH."""
    return s3_input("lib", ctx.code.lib_prefix, LIB_DIR)


def execution_prefix(ctx: BuildContext, *suffix: str) -> Join:
    """``<base>/executions/<execution id>/<suffix...>``: where this execution's outputs go."""
    return Join(on="/", values=[ctx.base, "executions", ExecutionVariables.PIPELINE_EXECUTION_ID, *suffix])


def s3_output(ctx: BuildContext, output_name: str, local: str, *suffix: str) -> ProcessingOutput:
    """The folder ``local`` uploaded at the end of the job under this execution's prefix."""
    return ProcessingOutput(
        output_name=output_name,
        s3_output=ProcessingS3Output(
            s3_uri=execution_prefix(ctx, *suffix), local_path=local, s3_upload_mode="EndOfJob"
        ),
    )


def output_uri(step, output_name: str):
    """The S3 URI a processing step's named output was uploaded to (a property: a cached step keeps its own)."""
    return step.properties.ProcessingOutputConfig.Outputs[output_name].S3Output.S3Uri
