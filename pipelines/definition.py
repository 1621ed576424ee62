"""The pipeline definition: ``get_pipeline(config, session)`` builds the whole DAG offline.

Preprocess -> DataQualityBaseline (engine ``processing``: the project's analyzer as a ProcessingStep;
``model-monitor``: a QualityCheckStep), and in parallel Train -> Evaluate -> Gate -> Register | Fail.
No network call, no timestamps: identical inputs give byte-identical JSON, so step caching survives
every upsert. Code is referenced by content hash (see ``pipelines.staging``).
"""

from __future__ import annotations

import json
import logging

from pipelines.config import Config
from pipelines.sdk import offline_sdk
from pipelines.staging import Artifact, code_artifacts

CONTAINER_ROOT = "/opt/ml/processing"
LIB_DIR = f"{CONTAINER_ROOT}/input/lib"
INFERENCE_ENV = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    # the container's answer type for a missing or */* Accept (its own default is application/json); the local
    # endpoint reads the same variable from the registered model
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
}
CONTENT_TYPES = ["text/csv", "application/json"]
PREPROCESS_OUTPUTS = ("train", "validation", "test", "baseline", "transform")


class _NetworkRequest(dict):
    """A NetworkConfig already in request form: SDK 3.27.0's check-job request embeds the object itself
    (``request_dict["NetworkConfig"] = processor.network_config``), which is not JSON; a dict that also
    answers ``_to_request_dict`` serialises on both paths."""

    def _to_request_dict(self) -> dict:
        return dict(self)


def hyperparameter_parameter_name(key: str) -> str:
    """``max_depth`` -> ``MaxDepth``: the pipeline Parameter carrying a hyperparameter."""
    return "".join(part.capitalize() for part in key.split("_"))


def input_data_default(config: Config, data: Artifact | None) -> str:
    """Default of ``InputDataUrl``: the configured s3:// URI, or the staged copy of the local file."""
    if config.data.input.startswith("s3://"):
        return config.data.input
    if data is None:
        raise ValueError(f"data.input {config.data.input!r} is a local file: stage it (pass its Artifact)")
    return data.uri(config.sagemaker.bucket, config.pipeline_name)


def get_pipeline(config: Config, session, artifacts: dict[str, Artifact] | None = None, data: Artifact | None = None):
    """Build the SageMaker Pipeline for ``config`` (role and bucket must be set), offline."""
    sm = config.sagemaker
    if not sm.role_arn:
        raise ValueError("sagemaker.role_arn is not set: pass --role-arn or set it in the configuration")
    if not sm.bucket:
        raise ValueError("sagemaker.bucket is not set: pass --bucket or set it in the configuration")
    with offline_sdk(config.project.region):
        return _build(config, session, artifacts, data)


def _build(config: Config, session, artifacts: dict[str, Artifact] | None, data: Artifact | None):
    sm = config.sagemaker

    from sagemaker.core import image_uris
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
    from sagemaker.core.training.configs import Compute, InputData, Networking, OutputDataConfig, StoppingCondition
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterBoolean, ParameterFloat, ParameterInteger, ParameterString
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )
    from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train.model_trainer import ModelTrainer

    artifacts = artifacts or code_artifacts()
    bucket, name = sm.bucket, config.pipeline_name
    base = f"s3://{bucket}/{name}"
    image = image_uris.retrieve("xgboost", config.project.region, sm.framework_version)

    # -- parameters ----------------------------------------------------------------------------
    input_data = ParameterString("InputDataUrl", default_value=input_data_default(config, data))
    threshold = ParameterFloat("GateThreshold", default_value=config.gate.threshold)
    approval = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")
    proc_type = ParameterString("ProcessingInstanceType", default_value=sm.processing_instance_type)
    proc_count = ParameterInteger("ProcessingInstanceCount", default_value=sm.processing_instance_count)
    train_type = ParameterString("TrainingInstanceType", default_value=sm.training_instance_type)
    train_count = ParameterInteger("TrainingInstanceCount", default_value=sm.training_instance_count)
    hyper = {
        key: ParameterString(hyperparameter_parameter_name(key), default_value=value)
        for key, value in config.training.hyperparameters.items()
    }
    parameters = [input_data, threshold, approval, proc_type, proc_count, train_type, train_count, *hyper.values()]

    cache = CacheConfig(enable_caching=True, expire_after=sm.cache_expire_after)
    job_retries = [
        SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
            ],
            max_attempts=sm.retry_attempts + 1,
            backoff_rate=2.0,
            interval_seconds=30,
        ),
        StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.SERVICE_FAULT, StepExceptionTypeEnum.THROTTLING],
            max_attempts=sm.retry_attempts + 1,
            backoff_rate=2.0,
            interval_seconds=10,
        ),
    ]
    step_retries = [job_retries[1]]
    network = NetworkConfig(
        enable_network_isolation=sm.enable_network_isolation,
        security_group_ids=list(sm.security_group_ids) or None,
        subnets=list(sm.subnets) or None,
        encrypt_inter_container_traffic=sm.enable_inter_container_encryption,
    )

    def processor(job: str, env: dict[str, str] | None = None) -> ScriptProcessor:
        return ScriptProcessor(
            role=sm.role_arn,
            image_uri=image,
            command=["python3"],
            instance_type=proc_type,
            instance_count=proc_count,
            volume_size_in_gb=sm.volume_size_gb,
            volume_kms_key=sm.kms_key_id,
            output_kms_key=sm.kms_key_id,
            max_runtime_in_seconds=sm.max_runtime_seconds,
            base_job_name=f"{name}-{job}",
            sagemaker_session=session,
            env={"PYTHONPATH": LIB_DIR, **(env or {})},
            network_config=network,
        )

    def s3_input(input_name: str, uri, local: str) -> ProcessingInput:
        return ProcessingInput(
            input_name=input_name,
            s3_input=ProcessingS3Input(s3_uri=uri, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"),
        )

    def s3_output(output_name: str, local: str, *suffix: str) -> ProcessingOutput:
        uri = Join(on="/", values=[base, "executions", ExecutionVariables.PIPELINE_EXECUTION_ID, *suffix])
        return ProcessingOutput(
            output_name=output_name,
            s3_output=ProcessingS3Output(s3_uri=uri, local_path=local, s3_upload_mode="EndOfJob"),
        )

    lib_input = s3_input("lib", artifacts["lib"].prefix(bucket, name) + "/lib", LIB_DIR)

    # -- Preprocess ----------------------------------------------------------------------------
    d = config.data
    pre_args = [
        "--input-dir",
        f"{CONTAINER_ROOT}/input/data",
        "--output-dir",
        f"{CONTAINER_ROOT}/output",
        "--failure-file",
        "/opt/ml/output/message",
        "--target",
        d.target,
        "--numeric",
        ",".join(d.numeric),
        "--categorical",
        ",".join(d.categorical),
        "--problem-type",
        d.problem_type,
        "--split",
        ",".join(repr(x) for x in d.split),
        "--seed",
        str(d.seed),
    ]
    if d.positive_class is not None:
        pre_args += ["--positive-class", d.positive_class]
    preprocess = ProcessingStep(
        "Preprocess",
        step_args=processor("preprocess").run(
            code=artifacts["preprocess"].uri(bucket, name),
            inputs=[s3_input("data", input_data, f"{CONTAINER_ROOT}/input/data"), lib_input],
            outputs=[s3_output(o, f"{CONTAINER_ROOT}/output/{o}", "preprocess", o) for o in PREPROCESS_OUTPUTS],
            arguments=pre_args,
        ),
        cache_config=cache,
        retry_policies=job_retries,
    )
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    baseline_dataset = outputs["baseline"].S3Output.S3Uri

    # -- DataQualityBaseline -------------------------------------------------------------------
    # The baseline's URIs are read from the step's own properties, never rebuilt from this execution's id: a cached
    # step keeps the outputs of the execution that computed them, and the registered version must point there.
    baseline_prefix = Join(on="/", values=[base, "executions", ExecutionVariables.PIPELINE_EXECUTION_ID, "baseline"])
    extra_parameters = []
    if config.monitoring.engine == "processing":
        baseline = ProcessingStep(
            "DataQualityBaseline",
            step_args=processor(
                "baseline",
                {
                    "dataset_source": f"{CONTAINER_ROOT}/input/baseline_dataset",
                    "dataset_format": json.dumps({"csv": {"header": True}}),
                    "output_path": f"{CONTAINER_ROOT}/output/baseline",
                    "publish_cloudwatch_metrics": "Disabled",
                },
            ).run(
                code=artifacts["lib"].uri(bucket, name, "lib/monitoring/container_entry.py"),
                inputs=[
                    s3_input("baseline_dataset", baseline_dataset, f"{CONTAINER_ROOT}/input/baseline_dataset"),
                    lib_input,
                ],
                outputs=[s3_output("baseline", f"{CONTAINER_ROOT}/output/baseline", "baseline")],
            ),
            cache_config=cache,
            retry_policies=job_retries,
        )
        produced = baseline.properties.ProcessingOutputConfig.Outputs["baseline"].S3Output.S3Uri
        statistics_uri = Join(on="/", values=[produced, "statistics.json"])
        constraints_uri = Join(on="/", values=[produced, "constraints.json"])
        drift_statistics, drift_constraints = statistics_uri, constraints_uri
    else:
        from sagemaker.core.model_monitor.dataset_format import DatasetFormat
        from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
        from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep

        skip = ParameterBoolean("SkipDataQualityCheck", default_value=True)
        register_new = ParameterBoolean("RegisterNewDataQualityBaseline", default_value=True)
        extra_parameters = [skip, register_new]
        baseline = QualityCheckStep(
            "DataQualityBaseline",
            quality_check_config=DataQualityCheckConfig(
                baseline_dataset=baseline_dataset,
                dataset_format=DatasetFormat.csv(header=True),
                output_s3_uri=baseline_prefix,
            ),
            check_job_config=CheckJobConfig(
                role=sm.role_arn,
                instance_count=proc_count,
                instance_type=proc_type,
                volume_size_in_gb=sm.volume_size_gb,
                volume_kms_key=sm.kms_key_id,
                output_kms_key=sm.kms_key_id,
                max_runtime_in_seconds=sm.max_runtime_seconds,
                base_job_name=f"{name}-baseline",
                sagemaker_session=session,
                network_config=_NetworkRequest(network._to_request_dict()),
            ),
            skip_check=skip,
            register_new_baseline=register_new,
            model_package_group_name=config.model_package_group,
            cache_config=cache,
        )
        statistics_uri = baseline.properties.CalculatedBaselineStatistics
        constraints_uri = baseline.properties.CalculatedBaselineConstraints
        drift_statistics = baseline.properties.BaselineUsedForDriftCheckStatistics
        drift_constraints = baseline.properties.BaselineUsedForDriftCheckConstraints

    # -- Train ---------------------------------------------------------------------------------
    training_code = artifacts["training"].uri(bucket, name)
    trainer = ModelTrainer(
        training_image=image,
        role=sm.role_arn,
        sagemaker_session=session,
        base_job_name=f"{name}-train",
        compute=Compute(
            instance_type=train_type,
            instance_count=train_count,
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
            "objective": config.training.objective,
            "eval_metric": config.training.eval_metric,
            # serving settings that travel in the model's transform.json (the container cannot read mlops.yaml)
            "allow_non_finite": str(config.serving.allow_non_finite).lower(),
            "allow_empty_records": str(config.serving.allow_empty_records).lower(),
            **hyper,
        },
        input_data_config=[
            InputData(channel_name="train", data_source=outputs["train"].S3Output.S3Uri),
            InputData(channel_name="validation", data_source=outputs["validation"].S3Output.S3Uri),
            InputData(channel_name="transform", data_source=outputs["transform"].S3Output.S3Uri),
            InputData(channel_name="code", data_source=training_code.rsplit("/", 1)[0]),
        ],
        output_data_config=OutputDataConfig(s3_output_path=f"{base}/models", kms_key_id=sm.kms_key_id),
    )
    train = TrainingStep("Train", step_args=trainer.train(), cache_config=cache, retry_policies=job_retries)
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    # -- Evaluate ------------------------------------------------------------------------------
    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(
        "Evaluate",
        step_args=processor("evaluate").run(
            code=artifacts["evaluate"].uri(bucket, name),
            inputs=[
                s3_input("model", model_data, f"{CONTAINER_ROOT}/model"),
                s3_input("test", outputs["test"].S3Output.S3Uri, f"{CONTAINER_ROOT}/test"),
                lib_input,
            ],
            outputs=[s3_output("evaluation", f"{CONTAINER_ROOT}/evaluation", "evaluation")],
            arguments=[
                "--model-dir",
                f"{CONTAINER_ROOT}/model",
                "--test-dir",
                f"{CONTAINER_ROOT}/test",
                "--output-dir",
                f"{CONTAINER_ROOT}/evaluation",
                "--problem-type",
                d.problem_type,
            ],
        ),
        property_files=[report],
        cache_config=cache,
        retry_policies=job_retries,
    )
    evaluation_uri = Join(
        on="/",
        values=[evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri, "evaluation.json"],
    )

    # -- Gate -> Register | Fail ---------------------------------------------------------------
    group = "regression_metrics" if d.problem_type == "regression" else "binary_classification_metrics"
    metric = JsonGet(step_name=evaluate.name, property_file=report, json_path=f"{group}.{config.gate.metric}.value")
    json_source = "application/json"
    builder = ModelBuilder(
        image_uri=image,
        s3_model_data_url=model_data,
        role_arn=sm.role_arn,
        log_level=logging.ERROR,  # its default, DEBUG, would print on the CLI
        sagemaker_session=session,
        env_vars=dict(INFERENCE_ENV),
    )
    register = ModelStep(
        "Register",
        step_args=builder.register(
            model_package_group_name=config.model_package_group,
            content_types=CONTENT_TYPES,
            response_types=CONTENT_TYPES,
            inference_instances=list(sm.inference_instance_types),
            transform_instances=list(sm.inference_instance_types),
            approval_status=approval,
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(s3_uri=evaluation_uri, content_type=json_source),
                model_data_statistics=MetricsSource(s3_uri=statistics_uri, content_type=json_source),
                model_data_constraints=MetricsSource(s3_uri=constraints_uri, content_type=json_source),
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=MetricsSource(s3_uri=drift_statistics, content_type=json_source),
                model_data_constraints=MetricsSource(s3_uri=drift_constraints, content_type=json_source),
            ),
        ),
        depends_on=[baseline],
        retry_policies=step_retries,
    )
    direction = "<=" if config.gate.lower_is_better else ">="
    fail = FailStep(
        "QualityGateFailed",
        error_message=Join(
            on=" ",
            values=[f"Quality gate failed: {config.gate.metric} =", metric, f"but must be {direction}", threshold],
        ),
    )
    condition = (ConditionLessThanOrEqualTo if config.gate.lower_is_better else ConditionGreaterThanOrEqualTo)(
        left=metric, right=threshold
    )
    gate = ConditionStep("QualityGate", conditions=[condition], if_steps=[register], else_steps=[fail])

    return Pipeline(
        name=name,
        parameters=parameters + extra_parameters,
        steps=[preprocess, baseline, train, evaluate, gate],
        sagemaker_session=session,
    )


def definition_json(pipeline) -> str:
    """The definition as canonical JSON (sorted keys): stable bytes for identical inputs."""
    return json.dumps(json.loads(pipeline.definition()), indent=2, sort_keys=True) + "\n"
