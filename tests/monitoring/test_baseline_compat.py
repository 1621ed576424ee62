"""The baseline reproduces what SageMaker's Model Monitor container wrote for the reference dataset."""

from __future__ import annotations

import json
import math

import boto3
import pytest
from moto import mock_aws

from monitoring.analyzer import run_baseline
from monitoring.constraints import read_constraints
from monitoring.statistics import read_statistics
from tests.conftest import MONITOR_FIXTURES, QUALITY_BASELINE


def assert_same(mine, theirs, path="$"):
    """Structural equality, floats within 1e-12 relative."""
    if isinstance(theirs, dict):
        assert isinstance(mine, dict) and set(mine) == set(theirs), f"{path}: keys {sorted(mine)} != {sorted(theirs)}"
        for key in theirs:
            assert_same(mine[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(mine, list) and len(mine) == len(theirs), f"{path}: length"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, float):
        assert math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=1e-12), f"{path}: {mine} != {theirs}"
    else:
        assert mine == theirs, f"{path}: {mine!r} != {theirs!r}"


@pytest.fixture(scope="module")
def reference_baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline")
    run_baseline(QUALITY_BASELINE / "baseline_dataset.csv", out)
    return out


def test_statistics_equal_the_containers(reference_baseline):
    mine = json.loads((reference_baseline / "statistics.json").read_text())
    theirs = json.loads((QUALITY_BASELINE / "statistics.json").read_text())
    assert_same(mine, theirs)


def test_constraints_match_the_containers_suggestions(reference_baseline):
    mine = json.loads((reference_baseline / "constraints.json").read_text())
    theirs = json.loads((QUALITY_BASELINE / "good_cases_constraints.json").read_text())
    assert [f["name"] for f in mine["features"]] == [f["name"] for f in theirs["features"]]
    for a, b in zip(mine["features"], theirs["features"], strict=False):
        assert (a["inferred_type"], a["completeness"], a["num_constraints"]) == (
            b["inferred_type"],
            b["completeness"],
            b["num_constraints"],
        )
    for key, value in theirs["monitoring_config"].items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                assert mine["monitoring_config"][key][sub] == subvalue
        else:
            assert mine["monitoring_config"][key] == value


def test_reads_the_fixture_files():
    stats = read_statistics(MONITOR_FIXTURES / "statistics.json")
    assert stats.item_count == 418
    message = stats.feature("message")
    assert message.inferred_type == "String" and message.categories == {"preproc-not-YET-supported-for-csv-json": 418}
    constraints = read_constraints(MONITOR_FIXTURES / "constraints.json")
    assert [f.name for f in constraints.features] == ["message", "second_message"]
    assert constraints.feature("message").domains == ("preproc-not-YET-supported-for-csv-json",)
    assert constraints.config.comparison_threshold == 1.0
    reference = read_statistics(QUALITY_BASELINE / "statistics.json")
    assert reference.feature("_c2").sketch.count == 100


@mock_aws
def test_the_sagemaker_sdks_classes_load_our_files(reference_baseline, tmp_path):
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.model_monitor.monitoring_files import Constraints, ConstraintViolations, Statistics

    from monitoring.analyzer import run_check

    session = Session(boto_session=boto3.Session(region_name="us-east-1"))
    result = run_check(
        QUALITY_BASELINE / "baseline_dataset.csv",
        reference_baseline / "statistics.json",
        reference_baseline / "constraints.json",
        tmp_path / "check",
    )
    stats = Statistics.from_file_path(str(reference_baseline / "statistics.json"), sagemaker_session=session)
    assert [f["name"] for f in stats.body_dict["features"]] == [f"_c{i}" for i in range(6)]
    constraints = Constraints.from_file_path(str(reference_baseline / "constraints.json"), sagemaker_session=session)
    constraints.set_monitoring(False, feature_name="_c3")
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(constraints.body_dict))
    assert read_constraints(edited).feature("_c3").config.evaluate_constraints is False
    violations = ConstraintViolations.from_file_path(str(result.paths["violations"]), sagemaker_session=session)
    assert violations.body_dict == {"violations": []}
