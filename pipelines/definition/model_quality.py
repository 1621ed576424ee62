"""ModelQualityBaseline: the model-quality baseline of Evaluate's test-split predictions, by either engine.

Evaluate writes ``predictions.csv`` (``label,prediction`` or, binary, ``label,prediction,probability``); the baseline
turns it into Model Monitor's model-quality statistics.json (``regression_metrics`` or
``binary_classification_metrics``) and constraints.json. Engine ``processing`` runs the project's analyzer
(``monitoring/container_entry.py`` with ``analysis_type=MODEL_QUALITY``, Model Monitor's environment names) as a
ProcessingStep, its suggested thresholds worsened by ``monitoring.model_quality.constraint_margin``;
``model-monitor`` uses SageMaker's QualityCheckStep with a ModelQualityCheckConfig, which suggests the baseline values
themselves (Model Monitor has no margin) and, with ``SkipModelQualityCheck=false``, also checks the predictions
against the previous approved baseline. As for the data-quality baseline, the URIs handed on are the step's own
properties, so a cached step keeps pointing at the execution that computed them.

Imports the SageMaker SDK: ``get_pipeline`` imports this module inside ``offline_sdk`` only.
"""

from __future__ import annotations

import json

from sagemaker.mlops.workflow.steps import ProcessingStep

from pipelines.definition.baseline import QualityBaseline, analyzer_outputs, check_step_outputs
from pipelines.definition.context import CONTAINER_ROOT, BuildContext
from pipelines.definition.jobs import check_job_config, execution_prefix, lib_input, processor, s3_input, s3_output
from pipelines.definition.steps import Evaluation

STEP_NAME = "ModelQualityBaseline"
JOB = "model-quality"
# the columns of Evaluate's predictions.csv (processing/evaluate.py), as Model Monitor's attributes
GROUND_TRUTH, INFERENCE, PROBABILITY = "label", "prediction", "probability"
MODEL_MONITOR_PROBLEM_TYPES = {"regression": "Regression", "binary": "BinaryClassification"}


def model_quality_baseline(ctx: BuildContext, evaluated: Evaluation) -> QualityBaseline:
    """The model-quality baseline of Evaluate's ``predictions`` output, by the configured monitoring engine."""
    if ctx.config.monitoring.engine == "processing":
        return _analyzer_baseline(ctx, evaluated.predictions_uri)
    return _model_monitor_baseline(ctx, evaluated.predictions_uri)


def attributes(ctx: BuildContext) -> dict[str, str]:
    """Model Monitor's model-quality settings for the predictions file: problem type and the columns to read."""
    problem_type = ctx.config.data.problem_type
    settings = {
        "problem_type": MODEL_MONITOR_PROBLEM_TYPES[problem_type],
        "ground_truth_attribute": GROUND_TRUTH,
        "inference_attribute": INFERENCE,
    }
    if problem_type == "binary":
        settings["probability_attribute"] = PROBABILITY
        settings["probability_threshold_attribute"] = repr(ctx.config.monitoring.model_quality.probability_threshold)
    return settings


def _analyzer_baseline(ctx: BuildContext, predictions) -> QualityBaseline:
    dataset_dir, output_dir = f"{CONTAINER_ROOT}/input/predictions", f"{CONTAINER_ROOT}/output/model_quality"
    environment = {  # Model Monitor's container contract for model quality, which the analyzer's entry point reads
        "analysis_type": "MODEL_QUALITY",
        "dataset_source": dataset_dir,
        "dataset_format": json.dumps({"csv": {"header": True}}),
        "output_path": output_dir,
        "publish_cloudwatch_metrics": "Disabled",
        **attributes(ctx),
        "constraint_margin": repr(ctx.config.monitoring.model_quality.constraint_margin),  # the project's own
    }
    step = ProcessingStep(
        STEP_NAME,
        step_args=processor(ctx, JOB, environment).run(
            code=ctx.code.baseline_entry,
            inputs=[s3_input("predictions", predictions, dataset_dir), lib_input(ctx)],
            outputs=[s3_output(ctx, "model_quality", output_dir, JOB)],
        ),
        cache_config=ctx.cache,
        retry_policies=ctx.job_retries,
    )
    return analyzer_outputs(step, "model_quality")


def _model_monitor_baseline(ctx: BuildContext, predictions) -> QualityBaseline:
    from sagemaker.core.model_monitor.dataset_format import DatasetFormat
    from sagemaker.mlops.workflow.quality_check_step import ModelQualityCheckConfig, QualityCheckStep

    settings = attributes(ctx)
    threshold = settings.get("probability_threshold_attribute")
    step = QualityCheckStep(
        STEP_NAME,
        quality_check_config=ModelQualityCheckConfig(
            baseline_dataset=predictions,
            dataset_format=DatasetFormat.csv(header=True),
            output_s3_uri=execution_prefix(ctx, JOB),
            problem_type=settings["problem_type"],
            ground_truth_attribute=GROUND_TRUTH,
            inference_attribute=INFERENCE,
            probability_attribute=settings.get("probability_attribute"),
            probability_threshold_attribute=float(threshold) if threshold else None,
        ),
        check_job_config=check_job_config(ctx, JOB),
        skip_check=ctx.parameters["SkipModelQualityCheck"],
        register_new_baseline=ctx.parameters["RegisterNewModelQualityBaseline"],
        model_package_group_name=ctx.config.model_package_group,
        cache_config=ctx.cache,
    )
    return check_step_outputs(step)
