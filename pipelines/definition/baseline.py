"""DataQualityBaseline: the data-quality baseline of the preprocessed baseline dataset, by either engine.

Engine ``processing`` runs the project's analyzer as two ProcessingSteps: ``DataQualityProfile`` on
ProcessingInstanceCount instances (``analysis_stage=profile``; the dataset ShardedByS3Key, so each instance profiles
about 1/N of Preprocess's baseline files into ``partial_profile-<host>.json``), then ``DataQualityBaseline`` on one
instance (``analysis_stage=merge``: the partial profiles into statistics.json / constraints.json, equal to a one-host
analysis within the bounds ``monitoring.profile_merge`` states). The count is a runtime parameter, so both steps are
in the definition whatever its value; with one instance the merge reads one partial profile. ``model-monitor`` uses
SageMaker's QualityCheckStep (Model Monitor distributes its own analysis), which can also check the dataset against
the previous baseline (``SkipDataQualityCheck=false``) and then fails on a violation unless
``FailOnDataQualityViolation`` is false.
The URIs handed on are read from the step's own properties, never rebuilt from this execution's id: a cached step
keeps the outputs of the execution that computed them, and the registered version must point there.

Imports the SageMaker SDK: ``get_pipeline`` imports this module inside ``offline_sdk`` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

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
    sharded_s3_input,
)

DATASET_DIR = f"{CONTAINER_ROOT}/input/baseline_dataset"
PARTIALS_OUTPUT_DIR = f"{CONTAINER_ROOT}/output/partials"  # the profile job's partial_profile-<host>.json
PARTIALS_INPUT_DIR = f"{CONTAINER_ROOT}/input/partials"  # the same files as the merge job's input
BASELINE_OUTPUT_DIR = f"{CONTAINER_ROOT}/output/baseline"


@dataclass(frozen=True)
class QualityBaseline:
    """A baseline step (data or model quality) and the URIs the registered version records (pipeline expressions)."""

    step: object  # ProcessingStep or QualityCheckStep
    statistics: object  # the baseline calculated by this step
    constraints: object
    drift_statistics: object  # the baseline later checks compare against
    drift_constraints: object
    upstream: tuple = ()  # steps before ``step`` that only it reads (the pipeline must list them too)


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
    """DataQualityProfile (ProcessingInstanceCount hosts, each its shard), then DataQualityBaseline (the merge)."""
    profile = ProcessingStep(
        "DataQualityProfile",
        step_args=processor(ctx, "baseline-profile", profile_environment()).run(
            code=ctx.code.baseline_entry,
            inputs=[sharded_s3_input("baseline_dataset", dataset, DATASET_DIR), lib_input(ctx)],
            outputs=[s3_output(ctx, "partials", PARTIALS_OUTPUT_DIR, "baseline-partials")],
        ),
        cache_config=ctx.cache,
        retry_policies=ctx.job_retries,
    )
    step = ProcessingStep(
        "DataQualityBaseline",
        step_args=processor(ctx, "baseline-merge", merge_environment()).run(
            code=ctx.code.baseline_entry,
            inputs=[s3_input("partials", output_uri(profile, "partials"), PARTIALS_INPUT_DIR), lib_input(ctx)],
            outputs=[s3_output(ctx, "baseline", BASELINE_OUTPUT_DIR, "baseline")],
        ),
        cache_config=ctx.cache,
        retry_policies=ctx.job_retries,
    )
    return replace(analyzer_outputs(step, "baseline"), upstream=(profile,))


def profile_environment() -> dict[str, str]:
    """The profile job's environment (Model Monitor's container contract, which the analyzer's entry point reads):
    this host's shard of the baseline dataset into ``partial_profile-<current_host>.json``."""
    return {
        "analysis_stage": "profile",
        "dataset_source": DATASET_DIR,
        "dataset_format": json.dumps({"csv": {"header": True}}),
        "output_path": PARTIALS_OUTPUT_DIR,
        "publish_cloudwatch_metrics": "Disabled",
    }


def merge_environment() -> dict[str, str]:
    """The merge job's environment: the partial profiles into statistics.json and constraints.json."""
    return {
        "analysis_stage": "merge",
        "partial_profiles": PARTIALS_INPUT_DIR,
        "output_path": BASELINE_OUTPUT_DIR,
        "publish_cloudwatch_metrics": "Disabled",
    }


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
