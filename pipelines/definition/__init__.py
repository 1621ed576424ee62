"""The pipeline definition: ``get_pipeline(config, session)`` builds the whole DAG offline.

Preprocess -> DataQualityBaseline (engine ``processing``: the project's analyzer as two ProcessingSteps,
DataQualityProfile on ProcessingInstanceCount instances then the one-instance merge DataQualityBaseline;
``model-monitor``: a QualityCheckStep), and in parallel Train -> Evaluate -> Gate -> Register | Fail, with
Evaluate -> ModelQualityBaseline (same two engines; when ``monitoring.model_quality.enabled``) before Register.
No network call, no timestamps: identical inputs give byte-identical JSON, so step caching survives
every upsert. Code is referenced by content hash (see ``pipelines.staging``).

Each step is one function named for what it produces (``steps``, ``baseline``, ``model_quality``, ``gate``), over a
frozen ``BuildContext`` (``context``) whose parameters come from ``pipelines.parameters``; ``get_pipeline`` is the
wiring. Those modules import the SageMaker SDK, so they are
imported inside ``offline_sdk`` only: importing this package stays cheap.
"""

from __future__ import annotations

import json

from pipelines.config import Config, ConfigError
from pipelines.definition.context import (
    CONTAINER_ROOT,
    CONTENT_TYPES,
    INFERENCE_ENV,
    LIB_DIR,
    PREPROCESS_OUTPUTS,
    BuildContext,
    hyperparameter_parameter_name,
    input_data_default,
)
from pipelines.sdk import offline_sdk
from pipelines.staging import Artifact

__all__ = [
    "CONTAINER_ROOT",
    "CONTENT_TYPES",
    "INFERENCE_ENV",
    "LIB_DIR",
    "PREPROCESS_OUTPUTS",
    "BuildContext",
    "definition_json",
    "get_pipeline",
    "hyperparameter_parameter_name",
    "input_data_default",
]


def get_pipeline(config: Config, session, artifacts: dict[str, Artifact] | None = None, data: Artifact | None = None):
    """Build the SageMaker Pipeline for ``config`` (role and bucket must be set), offline."""
    sm = config.sagemaker
    if not sm.role_arn:
        raise ConfigError("sagemaker.role_arn is not set: pass --role-arn or set it in the configuration")
    if not sm.bucket:
        raise ConfigError("sagemaker.bucket is not set: pass --bucket or set it in the configuration")
    with offline_sdk(config.project.region):
        from sagemaker.mlops.workflow.pipeline import Pipeline

        from pipelines.definition.baseline import data_quality_baseline
        from pipelines.definition.context import build_context
        from pipelines.definition.gate import gate_failure, quality_gate, registration
        from pipelines.definition.model_quality import model_quality_baseline
        from pipelines.definition.steps import evaluation, preprocessed_data, trained_model

        ctx = build_context(config, session, artifacts, data)
        preprocess = preprocessed_data(ctx)
        baseline = data_quality_baseline(ctx, preprocess)
        train = trained_model(ctx, preprocess)
        evaluated = evaluation(ctx, preprocess, train)
        model_quality = model_quality_baseline(ctx, evaluated) if config.monitoring.model_quality.enabled else None
        register = registration(ctx, train, evaluated, baseline, model_quality)
        gate = quality_gate(ctx, evaluated, register, gate_failure(ctx, evaluated))
        steps = [preprocess, *baseline.upstream, baseline.step, train, evaluated.step]
        steps += [*model_quality.upstream, model_quality.step] if model_quality else []
        return Pipeline(
            name=ctx.name,
            parameters=ctx.parameters.declared(),
            steps=[*steps, gate],
            sagemaker_session=session,
        )


def definition_json(pipeline) -> str:
    """The definition as canonical JSON (sorted keys): stable bytes for identical inputs."""
    return json.dumps(json.loads(pipeline.definition()), indent=2, sort_keys=True) + "\n"
