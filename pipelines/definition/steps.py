"""The data and model steps: Preprocess, Train and Evaluate, each a function named for what it produces.

Imports the SageMaker SDK: ``get_pipeline`` imports this module inside ``offline_sdk`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.core.training.configs import (
    Channel,
    Compute,
    DataSource,
    InputData,
    Networking,
    OutputDataConfig,
    S3DataSource,
    StoppingCondition,
)
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
from sagemaker.train.model_trainer import ModelTrainer

from pipelines.definition.context import CONTAINER_ROOT, PREPROCESS_OUTPUTS, BuildContext, column_list
from pipelines.definition.jobs import lib_input, output_uri, processor, s3_input, s3_output


@dataclass(frozen=True)
class Evaluation:
    """The Evaluate step, where its report and its test-split predictions land, and the gate's metric."""

    step: ProcessingStep
    report_uri: Join  # .../evaluation.json
    predictions_uri: object  # the folder of predictions.csv (label,prediction[,probability]): a step property
    gate_metric: JsonGet


def preprocessed_data(ctx: BuildContext) -> ProcessingStep:
    """Preprocess: the input data split into train / validation / test, a baseline dataset and the transform."""
    d = ctx.config.data
    arguments = [
        "--input-dir",
        f"{CONTAINER_ROOT}/input/data",
        "--output-dir",
        f"{CONTAINER_ROOT}/output",
        "--failure-file",
        "/opt/ml/output/message",
        "--target",
        d.target,
        "--numeric",
        column_list(d.numeric),
        "--categorical",
        column_list(d.categorical),
        "--problem-type",
        d.problem_type,
        "--split",
        ",".join(repr(x) for x in d.split),
        "--seed",
        str(d.seed),
    ]
    if d.positive_class is not None:
        arguments += ["--positive-class", d.positive_class]
    data_input = s3_input("data", ctx.parameters.input_data, f"{CONTAINER_ROOT}/input/data")
    return ProcessingStep(
        "Preprocess",
        step_args=processor(ctx, "preprocess").run(
            code=ctx.code.preprocess,
            inputs=[data_input, lib_input(ctx)],
            outputs=[s3_output(ctx, o, f"{CONTAINER_ROOT}/output/{o}", "preprocess", o) for o in PREPROCESS_OUTPUTS],
            arguments=arguments,
        ),
        cache_config=ctx.cache,
        retry_policies=ctx.job_retries,
    )


def sharded_channel(name: str, uri: object) -> Channel:
    """A training channel whose objects are split across the job's hosts (``ShardedByS3Key``: about 1/N of them
    each), in File mode like the SDK's own channels."""
    source = S3DataSource(s3_data_type="S3Prefix", s3_uri=uri, s3_data_distribution_type="ShardedByS3Key")
    return Channel(channel_name=name, data_source=DataSource(s3_data_source=source), input_mode="File")


def trained_model(ctx: BuildContext, preprocess: ProcessingStep) -> TrainingStep:
    """Train: XGBoost on the preprocessed data with the project's training script. The train channel is
    ``ShardedByS3Key`` (Preprocess writes it as ``SHARD_FILES`` objects): with ``TrainingInstanceCount`` N each host
    trains on its share in one XGBoost ring; validation, the transform and the code reach every host whole."""
    sm, training = ctx.config.sagemaker, ctx.config.training
    trainer = ModelTrainer(
        training_image=ctx.image,
        role=sm.role_arn,
        sagemaker_session=ctx.session,
        base_job_name=f"{ctx.name}-train",
        compute=Compute(
            instance_type=ctx.parameters.training_instance_type,
            instance_count=ctx.parameters.training_instance_count,
            volume_size_in_gb=sm.volume_size_gb,
            volume_kms_key_id=sm.kms_key_id,
        ),
        networking=Networking(
            subnets=list(sm.subnets) or None,
            security_group_ids=list(sm.security_group_ids) or None,
            enable_network_isolation=sm.enable_network_isolation,
            enable_inter_container_traffic_encryption=sm.enable_inter_container_encryption,
        ),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=sm.max_runtime_seconds),
        hyperparameters={
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz",
            "objective": training.objective,
            "eval_metric": training.eval_metric,
            # serving settings that travel in the model's transform.json (the container cannot read mlops.yaml)
            "allow_non_finite": str(ctx.config.serving.allow_non_finite).lower(),
            "allow_empty_records": str(ctx.config.serving.allow_empty_records).lower(),
            **ctx.parameters.hyperparameters,
        },
        input_data_config=[
            sharded_channel("train", output_uri(preprocess, "train")),
            InputData(channel_name="validation", data_source=output_uri(preprocess, "validation")),
            InputData(channel_name="transform", data_source=output_uri(preprocess, "transform")),
            InputData(channel_name="code", data_source=ctx.code.training.rsplit("/", 1)[0]),
        ],
        output_data_config=OutputDataConfig(s3_output_path=f"{ctx.base}/models", kms_key_id=sm.kms_key_id),
    )
    return TrainingStep("Train", step_args=trainer.train(), cache_config=ctx.cache, retry_policies=ctx.job_retries)


def evaluation(ctx: BuildContext, preprocess: ProcessingStep, train: TrainingStep) -> Evaluation:
    """Evaluate: the trained model's metrics on the test split, as ``evaluation.json`` (the gate reads it), and its
    predictions there, as ``predictions.csv`` (the model-quality baseline's dataset)."""
    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    model_dir, test_dir, output_dir, predictions_dir = (
        f"{CONTAINER_ROOT}/{d}" for d in ("model", "test", "evaluation", "predictions")
    )
    threshold = ctx.config.monitoring.model_quality.probability_threshold
    binary = ("--probability-threshold", repr(threshold)) if ctx.config.data.problem_type == "binary" else ()
    step = ProcessingStep(
        "Evaluate",
        step_args=processor(ctx, "evaluate").run(
            code=ctx.code.evaluate,
            inputs=[
                s3_input("model", train.properties.ModelArtifacts.S3ModelArtifacts, model_dir),
                s3_input("test", output_uri(preprocess, "test"), test_dir),
                lib_input(ctx),
            ],
            outputs=[
                s3_output(ctx, "evaluation", output_dir, "evaluation"),
                s3_output(ctx, "predictions", predictions_dir, "predictions"),
            ],
            arguments=[
                *("--model-dir", model_dir, "--test-dir", test_dir, "--output-dir", output_dir),
                *("--problem-type", ctx.config.data.problem_type),
                *("--predictions-dir", predictions_dir, *binary),
            ],
        ),
        property_files=[report],
        cache_config=ctx.cache,
        retry_policies=ctx.job_retries,
    )
    gate = ctx.config.gate
    group = "regression_metrics" if ctx.config.data.problem_type == "regression" else "binary_classification_metrics"
    return Evaluation(
        step=step,
        report_uri=Join(on="/", values=[output_uri(step, "evaluation"), "evaluation.json"]),
        predictions_uri=output_uri(step, "predictions"),
        gate_metric=JsonGet(step_name=step.name, property_file=report, json_path=f"{group}.{gate.metric}.value"),
    )
