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

from pipelines.definition.baseline import DataQualityBaseline
from pipelines.definition.context import CONTENT_TYPES, INFERENCE_ENV, BuildContext
from pipelines.definition.steps import Evaluation

JSON = "application/json"


def registration(
    ctx: BuildContext, train: TrainingStep, evaluated: Evaluation, baseline: DataQualityBaseline
) -> ModelStep:
    """Register: a model package version served by the project's handler, with its metrics and baselines."""
    sm = ctx.config.sagemaker
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
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(s3_uri=evaluated.report_uri, content_type=JSON),
                model_data_statistics=MetricsSource(s3_uri=baseline.statistics, content_type=JSON),
                model_data_constraints=MetricsSource(s3_uri=baseline.constraints, content_type=JSON),
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=MetricsSource(s3_uri=baseline.drift_statistics, content_type=JSON),
                model_data_constraints=MetricsSource(s3_uri=baseline.drift_constraints, content_type=JSON),
            ),
        ),
        depends_on=[baseline.step],
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
