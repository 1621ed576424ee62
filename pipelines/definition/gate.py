"""The quality gate and its branches: Register when the evaluated metric passes, QualityGateFailed otherwise.

Imports the SageMaker SDK: ``get_pipeline`` imports this module inside ``offline_sdk`` only.
"""

from __future__ import annotations

import logging

from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
from sagemaker.core.workflow.functions import Join
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.steps import TrainingStep
from sagemaker.serve.model_builder import ModelBuilder

from pipelines.definition.baseline import QualityBaseline
from pipelines.definition.context import CONTENT_TYPES, INFERENCE_ENV, BuildContext
from pipelines.definition.steps import Evaluation

JSON = "application/json"
# the CustomerMetadataProperties key holding evaluation.json's URI: ModelMetrics.ModelQuality.Statistics holds the
# model-quality baseline's statistics.json (as in AWS's model-monitor pipeline example), and ModelMetrics has no
# other field for a report of the model's metrics; ``mlops models list/show`` read it from there
EVALUATION_PROPERTY = "evaluation"


def _metrics(data: QualityBaseline, model: QualityBaseline | None) -> tuple[ModelMetrics, DriftCheckBaselines]:
    """ModelMetrics and DriftCheckBaselines: data quality, and model quality when the pipeline baselines it."""

    def source(uri) -> MetricsSource | None:
        return MetricsSource(s3_uri=uri, content_type=JSON) if uri is not None else None

    metrics = ModelMetrics(
        model_statistics=source(model.statistics if model else None),
        model_constraints=source(model.constraints if model else None),
        model_data_statistics=source(data.statistics),
        model_data_constraints=source(data.constraints),
    )
    drift = DriftCheckBaselines(
        model_statistics=source(model.drift_statistics if model else None),
        model_constraints=source(model.drift_constraints if model else None),
        model_data_statistics=source(data.drift_statistics),
        model_data_constraints=source(data.drift_constraints),
    )
    return metrics, drift


def registration(
    ctx: BuildContext,
    train: TrainingStep,
    evaluated: Evaluation,
    baseline: QualityBaseline,
    model_quality: QualityBaseline | None = None,
) -> ModelStep:
    """Register: a model package version served by the project's handler, with its metrics and baselines
    (data quality; model quality when given) and its evaluation.json (CustomerMetadataProperties ``evaluation``)."""
    sm = ctx.config.sagemaker
    metrics, drift = _metrics(baseline, model_quality)
    builder = ModelBuilder(
        image_uri=ctx.image,
        s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
        role_arn=sm.role_arn,
        log_level=logging.ERROR,  # its default, DEBUG, would print on the CLI
        sagemaker_session=ctx.session,
        env_vars=dict(INFERENCE_ENV),
    )
    return ModelStep(
        "Register",
        step_args=builder.register(
            model_package_group_name=ctx.config.model_package_group,
            content_types=CONTENT_TYPES,
            response_types=CONTENT_TYPES,
            inference_instances=list(sm.inference_instance_types),
            transform_instances=list(sm.inference_instance_types),
            approval_status=ctx.parameters.approval_status,
            model_metrics=metrics,
            drift_check_baselines=drift,
            customer_metadata_properties={EVALUATION_PROPERTY: evaluated.report_uri},
        ),
        depends_on=[baseline.step, *([model_quality.step] if model_quality else [])],
        retry_policies=ctx.step_retries,
    )


def gate_failure(ctx: BuildContext, evaluated: Evaluation) -> FailStep:
    """QualityGateFailed: the run fails with the metric, its value and the threshold it missed."""
    gate = ctx.config.gate
    direction = "<=" if gate.lower_is_better else ">="
    values = [f"Quality gate failed: {gate.metric} =", evaluated.gate_metric, f"but must be {direction}"]
    return FailStep(
        "QualityGateFailed",
        error_message=Join(on=" ", values=[*values, ctx.parameters.gate_threshold]),
    )


def quality_gate(ctx: BuildContext, evaluated: Evaluation, register: ModelStep, fail: FailStep) -> ConditionStep:
    """QualityGate: ``register`` when the gate metric is within ``GateThreshold``, else ``fail``."""
    compare = ConditionLessThanOrEqualTo if ctx.config.gate.lower_is_better else ConditionGreaterThanOrEqualTo
    condition = compare(left=evaluated.gate_metric, right=ctx.parameters.gate_threshold)
    return ConditionStep("QualityGate", conditions=[condition], if_steps=[register], else_steps=[fail])
