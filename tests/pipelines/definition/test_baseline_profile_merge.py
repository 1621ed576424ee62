"""DataQualityBaseline with the processing engine: DataQualityProfile on ProcessingInstanceCount hosts (each profiles
its ShardedByS3Key share of the baseline dataset), then the one-host merge DataQualityBaseline. The two steps of the
built definition run on the local runner (cached like every job step) and write the one-host baseline: identical on
one host, within issue 13's bounds on two hosts whichever assignment of files to hosts the runner makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitoring.analyzer import run_baseline
from monitoring.sources import DatasetFormat
from pipelines.build import config_from_kwargs, local_config
from pipelines.local.definitions import local_definition
from pipelines.local.runner import LocalRunner
from pipelines.local.sharding import ENV_ASSIGNMENT
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ABALONE, ROOT
from tests.pipelines.definition_helpers import built_json, load, steps_by_name
from tests.pipelines.merge_bounds import assert_statistics_within_bounds, error_weights

STEPS = ("DataQualityProfile", "DataQualityBaseline")
PREPROCESSED = "Steps.Preprocess.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"
DATASET = "s3://mlops-local/test/baseline-dataset"
FILES = 6


def test_the_profile_shards_the_dataset_on_every_instance_and_the_merge_runs_on_one():
    steps = steps_by_name(load(built_json("processing")))
    profile, merge = steps["DataQualityProfile"]["Arguments"], steps["DataQualityBaseline"]["Arguments"]
    assert profile["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {
        "Get": "Parameters.ProcessingInstanceCount"
    }
    assert merge["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    inputs = {i["InputName"]: i["S3Input"] for i in profile["ProcessingInputs"]}
    assert inputs["baseline_dataset"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["baseline_dataset"]["S3Uri"] == {"Get": PREPROCESSED}
    assert {inputs[n]["S3DataDistributionType"] for n in ("lib", "code")} == {"FullyReplicated"}
    assert profile["Environment"]["analysis_stage"] == "profile"
    (partials,) = profile["ProcessingOutputConfig"]["Outputs"]
    assert partials["S3Output"]["LocalPath"] == profile["Environment"]["output_path"]
    merged_inputs = {i["InputName"]: i["S3Input"] for i in merge["ProcessingInputs"]}
    assert merged_inputs["partials"]["S3Uri"] == {
        "Get": "Steps.DataQualityProfile.ProcessingOutputConfig.Outputs['partials'].S3Output.S3Uri"
    }
    assert merged_inputs["partials"]["S3DataDistributionType"] == "FullyReplicated"
    assert merge["Environment"]["analysis_stage"] == "merge"
    assert merge["Environment"]["partial_profiles"] == merged_inputs["partials"]["LocalPath"]
    (baseline,) = merge["ProcessingOutputConfig"]["Outputs"]
    assert baseline["OutputName"] == "baseline"
    assert baseline["S3Output"]["LocalPath"] == merge["Environment"]["output_path"]


def test_the_model_monitor_engine_keeps_one_quality_check_step():
    steps = steps_by_name(load(built_json("model-monitor")))
    assert "DataQualityProfile" not in steps and steps["DataQualityBaseline"]["Type"] == "QualityCheck"


def baseline_steps(definition: str, dataset: str) -> str:
    """The built definition cut to the two baseline steps, reading the dataset from ``dataset``."""
    doc = json.loads(definition)
    doc["Steps"] = [step for step in doc["Steps"] if step["Name"] in STEPS]
    return json.dumps(doc).replace(json.dumps({"Get": PREPROCESSED}), json.dumps(dataset))


def local(state: Path, uri: str) -> Path:
    return state / "s3" / uri.removeprefix("s3://")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> tuple[Path, str, str, dict]:
    """A state with the staged code and the dataset as Preprocess writes it (files of contiguous rows, a header
    each) under ``DATASET``/<copy> (a copy per test: the cache key ignores the assignment of files to hosts); the
    built definition; the one-host analyzer's baseline of the same files."""
    state = tmp_path_factory.mktemp("state")
    config = local_config(config_from_kwargs({"config": str(ROOT / "mlops.yaml")}))
    definition, _ = local_definition(config, state, ROOT)
    head, *rows = ABALONE.read_text().splitlines()
    for copy in ("one", "round-robin", "contiguous"):
        dataset = local(state, f"{DATASET}/{copy}")
        dataset.mkdir(parents=True)
        for i in range(FILES):
            part = rows[i * len(rows) // FILES : (i + 1) * len(rows) // FILES]
            (dataset / f"part-{i:02d}.csv").write_text("\n".join([head, *part]) + "\n")
    expected = state / "expected"
    run_baseline(local(state, f"{DATASET}/one"), expected, DatasetFormat("csv", True))
    return state, definition, config.pipeline_name, written(expected)


def run(pipeline, count: int, copy: str):
    state, definition, name, _ = pipeline
    runner = LocalRunner(state, SQLiteRegistry(state / "registry.db"))
    result = runner.start(
        baseline_steps(definition, f"{DATASET}/{copy}"), name, {"ProcessingInstanceCount": str(count)}
    )
    assert result.status == "Succeeded", result.failure_reason
    return result


def outputs(pipeline, result, step: str, output: str) -> Path:
    properties = result.steps[step]["properties"]
    return local(pipeline[0], properties["ProcessingOutputConfig"]["Outputs"][output]["S3Output"]["S3Uri"])


def written(directory: Path) -> dict:
    return {name: json.loads((directory / name).read_text()) for name in ("statistics.json", "constraints.json")}


def test_one_instance_profiles_and_merges_to_the_one_host_baseline_bit_for_bit(pipeline):
    result = run(pipeline, 1, "one")
    assert "hosts" not in result.steps["DataQualityProfile"]
    assert [p.name for p in outputs(pipeline, result, "DataQualityProfile", "partials").iterdir()] == [
        "partial_profile-algo-1.json"
    ]
    assert written(outputs(pipeline, result, "DataQualityBaseline", "baseline")) == pipeline[3]


@pytest.mark.parametrize("how", ["round-robin", "contiguous"])
def test_two_instances_write_the_one_host_baseline_within_the_bounds(pipeline, monkeypatch, how):
    monkeypatch.setenv(ENV_ASSIGNMENT, how)
    result = run(pipeline, 2, how)
    hosts = result.steps["DataQualityProfile"]["hosts"]
    assert [(h["host"], h["status"]) for h in hosts] == [("algo-1", "Completed"), ("algo-2", "Completed")]
    assert "hosts" not in result.steps["DataQualityBaseline"]  # the merge: one instance
    partials = outputs(pipeline, result, "DataQualityProfile", "partials")
    assert sorted(p.name for p in partials.iterdir()) == ["partial_profile-algo-1.json", "partial_profile-algo-2.json"]
    got, expected = written(outputs(pipeline, result, "DataQualityBaseline", "baseline")), pipeline[3]
    assert got["constraints.json"] == expected["constraints.json"]
    weights = error_weights(local(pipeline[0], f"{DATASET}/{how}"), partials, DatasetFormat("csv", True))
    assert_statistics_within_bounds(expected["statistics.json"], got["statistics.json"], weights)


def test_a_rerun_reuses_both_cached_steps(pipeline):
    first = run(pipeline, 1, "one")
    again = run(pipeline, 1, "one")
    for step in STEPS:
        assert again.steps[step]["cache_hit_from"] in (first.execution_id, first.steps[step].get("cache_hit_from"))
    other = run(pipeline, 2, "one")  # another count: the profile runs again, so the merge reads new partials
    assert not any(other.steps[step].get("cache_hit_from") for step in STEPS)
