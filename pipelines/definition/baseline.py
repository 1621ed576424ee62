"""DataQualityBaseline: the data-quality baseline of the preprocessed baseline dataset, by either engine.

Engine ``processing`` runs the project's analyzer as a ProcessingStep; ``model-monitor`` uses SageMaker's
QualityCheckStep, which can also check the dataset against the previous baseline (``SkipDataQualityCheck=false``)
and then fails on a violation unless ``FailOnDataQualityViolation`` is false.
The URIs handed on are read from the step's own properties, never rebuilt from this execution's id: a cached step
keeps the outputs of the execution that computed them, and the registered version must point there.

Imports the SageMaker SDK: ``get_pipeline`` imports this module inside ``offline_sdk`` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sagemaker.core.workflow.functions import Join
from sagemaker.mlops.workflow.steps import ProcessingStep

from pipelines.definition.context import CONTAINER_ROOT, BuildContext
from pipelines.definition.jobs import (
    check_job_config,
    execution_prefix,
    lib_input,
    output_uri,
    processor,
    s3_input,
    s3_output,
)


@dataclass(frozen=True)
class QualityBaseline:
    """A baseline step (data or model quality) and the URIs the registered version records (pipeline expressions)."""

    step: object  # ProcessingStep or QualityCheckStep
    statistics: object  # the baseline calculated by this step
    constraints: object
    drift_statistics: object  # the baseline later checks compare against
    drift_constraints: object


def analyzer_outputs(step: ProcessingStep, output_name: str) -> QualityBaseline:
    """The statistics.json / constraints.json a processing-engine baseline step wrote, calculated and used alike."""
    produced = output_uri(step, output_name)
    statistics = Join(on="/", values=[produced, "statistics.json"])
    constraints = Join(on="/", values=[produced, "constraints.json"])
    return QualityBaseline(step, statistics, constraints, statistics, constraints)


def check_step_outputs(step) -> QualityBaseline:
    """The calculated and the drift-check baselines of a QualityCheckStep, from its properties."""
    properties = step.properties
    return QualityBaseline(
        step,
        properties.CalculatedBaselineStatistics,
        properties.CalculatedBaselineConstraints,
        properties.BaselineUsedForDriftCheckStatistics,
        properties.BaselineUsedForDriftCheckConstraints,
    )


def data_quality_baseline(ctx: BuildContext, preprocess: ProcessingStep) -> QualityBaseline:
    """The baseline of Preprocess's ``baseline`` output, by the configured monitoring engine."""
    if ctx.config.monitoring.engine == "processing":
        return _analyzer_baseline(ctx, output_uri(preprocess, "baseline"))
    return _model_monitor_baseline(ctx, output_uri(preprocess, "baseline"))


def _analyzer_baseline(ctx: BuildContext, dataset) -> QualityBaseline:
    dataset_dir, output_dir = f"{CONTAINER_ROOT}/input/baseline_dataset", f"{CONTAINER_ROOT}/output/baseline"
    environment = {  # Model Monitor's container contract, which the analyzer's entry point reads
        "dataset_source": dataset_dir,
        "dataset_format": json.dumps({"csv": {"header": True}}),
        "output_path": output_dir,
        "publish_cloudwatch_metrics": "Disabled",
    }
    step = ProcessingStep(
        "DataQualityBaseline",
        step_args=processor(ctx, "baseline", environment).run(
            code=ctx.code.baseline_entry,
            inputs=[s3_input("baseline_dataset", dataset, dataset_dir), lib_input(ctx)],
            outputs=[s3_output(ctx, "baseline", output_dir, "baseline")],
        ),
        cache_config=ctx.cache,
        retry_policies=ctx.job_retries,
    )
    return analyzer_outputs(step, "baseline")


def _model_monitor_baseline(ctx: BuildContext, dataset) -> QualityBaseline:
    from sagemaker.core.model_monitor.dataset_format import DatasetFormat
    from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep

    step = QualityCheckStep(
        "DataQualityBaseline",
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=dataset,
            dataset_format=DatasetFormat.csv(header=True),
            output_s3_uri=execution_prefix(ctx, "baseline"),
        ),
        check_job_config=check_job_config(ctx, "baseline"),
        skip_check=ctx.parameters["SkipDataQualityCheck"],
        register_new_baseline=ctx.parameters["RegisterNewDataQualityBaseline"],
        fail_on_violation=ctx.parameters["FailOnDataQualityViolation"],
        model_package_group_name=ctx.config.model_package_group,
        cache_config=ctx.cache,
    )
    return check_step_outputs(step)
