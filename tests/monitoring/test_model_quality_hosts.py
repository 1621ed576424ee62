"""Model-quality checks across hosts: each host joins its shard of the capture with all ground truth
(``analysis_stage=profile``), a one-instance job merges the partials (``analysis_stage=merge``) and writes what one
host writes: integers and counts equal, floats within 1e-12 relative, auc exactly equal, the same violations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from monitoring.container_entry import run
from monitoring.labelled import LabelledPredictions
from monitoring.model_quality import model_quality_statistics
from monitoring.model_quality_constraints import suggest_model_quality_constraints
from monitoring.model_quality_merge import merge_capture_with_ground_truth
from monitoring.model_quality_partial import (
    ModelQualityPartial,
    ModelQualityPartialError,
    read_partial,
    read_partials,
    write_partial,
)
from monitoring.model_quality_reduce import merge_partials
from tests.monitoring.model_quality_hosts_data import (
    ASSIGNMENTS,
    END,
    START,
    assert_close,
    assert_violations,
    host_dirs,
    make_files,
)


def _env(problem: str, output: Path, **more: str) -> dict[str, str]:
    return {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": problem,
        "start_time": START.isoformat(),
        "end_time": END.isoformat(),
        "min_pairs": "10",
        "output_path": str(output),
        "sagemaker_endpoint_name": "ep",
        "sagemaker_monitoring_schedule_name": "hourly",
        **more,
    }


def _constraints(tmp_path: Path, problem: str, capture: Path, truth: Path) -> Path:
    """Constraints of a better model (predictions halfway to the labels): the check violates some of them."""
    merged = merge_capture_with_ground_truth(
        sorted(capture.rglob("*.jsonl")), sorted(truth.rglob("*.jsonl")), problem_type=problem, start=START, end=END
    )
    pairs = merged.pairs
    if problem == "regression":
        better = type(pairs)(pairs.keys, pairs.labels, (pairs.labels + pairs.predictions) / 2)
    else:
        probabilities = (pairs.labels + pairs.probabilities) / 2
        better = type(pairs)(pairs.keys, pairs.labels, (probabilities >= 0.5).astype(float), probabilities)
    path = tmp_path / "constraints.json"
    suggested = suggest_model_quality_constraints(model_quality_statistics(better, problem), margin=0.02)
    path.write_text(json.dumps(suggested))
    return path


def _outputs(output: Path, opt_ml: Path) -> dict:
    statistics = json.loads((output / "statistics.json").read_text())
    statistics["dataset"].pop("evaluation_time")
    metrics = [json.loads(line) for line in (opt_ml / "output/metrics/cloudwatch").read_text().splitlines()]
    for datum in metrics:
        datum.pop("Timestamp")
    violations = json.loads((output / "constraint_violations.json").read_text())
    return {"statistics": statistics, "violations": violations, "metrics": metrics}


def _one_host(tmp_path: Path, problem: str, capture: Path, truth: Path, constraints: Path) -> tuple[dict, str]:
    output, opt_ml = tmp_path / "one" / "out", tmp_path / "one" / "opt_ml"
    env = _env(
        problem,
        output,
        dataset_source=str(capture),
        ground_truth_source=str(truth),
        baseline_constraints=str(constraints),
    )
    code, message = run(env, opt_ml)
    assert code == 0, message
    return _outputs(output, opt_ml), message


def _several_hosts(tmp_path: Path, problem: str, dirs: list[Path], constraints: Path) -> tuple[dict, str, Path]:
    partials = tmp_path / "partials"
    for opt_ml in dirs:
        env = _env(
            problem,
            partials / opt_ml.name,
            dataset_source=str(opt_ml / "endpoint"),
            ground_truth_source=str(opt_ml / "groundtruth"),
            analysis_stage="profile",
        )
        code, message = run(env, opt_ml)
        assert code == 0 and "joined" in message, message
    assert sorted(p.name for p in partials.rglob("*.parquet")) == [
        f"model_quality_partial-{d.name}.parquet" for d in dirs
    ]
    output, opt_ml = tmp_path / "merge" / "out", tmp_path / "merge" / "opt_ml"
    env = _env(
        problem, output, analysis_stage="merge", partial_profiles=str(partials), baseline_constraints=str(constraints)
    )
    code, message = run(env, opt_ml)
    assert code == 0, message
    return _outputs(output, opt_ml), message, partials


@pytest.mark.parametrize("problem", ["regression", "binary"])
@pytest.mark.parametrize("hosts", [2, 3])
@pytest.mark.parametrize("how", ASSIGNMENTS)
def test_merged_check_equals_one_host(tmp_path, problem, hosts, how):
    capture, truth = make_files(tmp_path / "data", problem)
    constraints = _constraints(tmp_path, problem, capture, truth)
    single, single_message = _one_host(tmp_path, problem, capture, truth, constraints)
    dirs = host_dirs(tmp_path / "hosts", capture, truth, hosts, how)
    merged, merged_message, partials = _several_hosts(tmp_path, problem, dirs, constraints)

    assert merged_message == single_message
    assert single_message.startswith("CompletedWithViolations") and single["violations"]["violations"]
    assert_violations(merged["violations"]["violations"], single["violations"]["violations"])
    assert_close(merged["statistics"], single["statistics"], "statistics")
    assert_close(merged["metrics"], single["metrics"], "metrics")
    if problem == "binary":  # counts at each distinct score: auc, au_prc, curves and deviations equal bit for bit
        assert merged == single
    else:  # subsamples summed in a canonical order: deviations bit for bit; values summed in record order
        deviations = [
            {k: m["standard_deviation"] for k, m in out["statistics"]["regression_metrics"].items()}
            for out in (merged, single)
        ]
        assert deviations[0] == deviations[1]
    section = merged["statistics"].get("binary_classification_metrics") or merged["statistics"]["regression_metrics"]
    assert all(
        isinstance(m["standard_deviation"], float)
        for k, m in section.items()
        if k != "confusion_matrix" and "value" in m
    )

    one = _one_join(capture, truth, problem)
    recombined = merge_partials(read_partials(partials))
    assert list(recombined.counts.items()) == list(one.counts.items())  # in the same order too
    assert one.counts["duplicate_capture_keys"] >= 8 and one.counts["duplicate_labels"] == 10
    assert one.counts["unmatched_capture"] and one.counts["unmatched_ground_truth"] >= 5
    assert one.counts["malformed.capture.invalid_json"] == 6 and one.counts["multi_record_requests"] == 6
    assert sorted(recombined.pairs.keys) == sorted(one.pairs.keys)


def test_binary_partials_are_sorted_by_score(tmp_path):
    capture, truth = make_files(tmp_path / "data", "binary")
    _profile_all(host_dirs(tmp_path / "hosts", capture, truth, 2, "round-robin"), tmp_path / "partials", "binary")
    partials = read_partials(tmp_path / "partials")
    assert [p.host for p in partials] == ["algo-1", "algo-2"]
    for partial in partials:
        assert np.all(np.diff(partial.pairs.probabilities) >= 0)
        assert partial.pairs.probabilities.dtype == np.float64
        assert partial.counts["ground_truth_labels"] == partials[0].counts["ground_truth_labels"]


def _profile_all(dirs: list[Path], partials: Path, problem: str = "regression") -> list[str]:
    messages = []
    for opt_ml in dirs:
        env = _env(problem, partials / opt_ml.name, dataset_source=str(opt_ml / "endpoint"))
        env.update(ground_truth_source=str(opt_ml / "groundtruth"), analysis_stage="profile")
        code, message = run(env, opt_ml)
        assert code == 0, message
        messages.append(message)
    return messages


def _one_join(capture: Path, truth: Path, problem: str = "regression"):
    files = sorted(capture.rglob("*.jsonl"), key=lambda p: p.parts)
    return merge_capture_with_ground_truth(
        files, sorted(truth.rglob("*.jsonl")), problem_type=problem, start=START, end=END
    )


def test_hosts_without_capture_objects_write_empty_partials_and_the_merge_still_equals_one_host(tmp_path):
    capture, truth = make_files(tmp_path / "data", "regression")
    dirs = host_dirs(tmp_path / "hosts", capture, truth, 8, "contiguous")  # 6 files: algo-7 and algo-8 get none
    assert not (dirs[-1] / "endpoint").exists()
    messages = _profile_all(dirs, tmp_path / "partials")
    assert "joined 0 predictions" in messages[-1]
    merged, one = merge_partials(read_partials(tmp_path / "partials")), _one_join(capture, truth)
    assert list(merged.counts.items()) == list(one.counts.items())
    assert list(merged.pairs.keys) == list(one.pairs.keys)  # contiguous: the one-host record order
    assert np.array_equal(merged.pairs.predictions, one.pairs.predictions)


def test_merge_refuses_partials_of_another_problem_type_or_job(tmp_path):
    capture, truth = make_files(tmp_path / "data", "regression")
    dirs = host_dirs(tmp_path / "hosts", capture, truth, 2, "round-robin")
    _profile_all(dirs, tmp_path / "partials")
    constraints = _constraints(tmp_path, "regression", capture, truth)
    env = _env("binary", tmp_path / "out", analysis_stage="merge", partial_profiles=str(tmp_path / "partials"))
    env["baseline_constraints"] = str(constraints)
    code, message = run(env, tmp_path / "merge")
    assert code == 1 and "profiled as regression, the merge is asked for binary" in message
    other = _env("regression", tmp_path / "partials" / "algo-2", dataset_source=str(dirs[1] / "endpoint"))
    other.update(ground_truth_source=str(dirs[1] / "groundtruth"), analysis_stage="profile", end_time=START.isoformat())
    assert run(other, dirs[1])[0] == 0  # algo-2 profiled again with another window
    with pytest.raises(ModelQualityPartialError, match="written by a different job"):
        read_partials(tmp_path / "partials")


def test_merge_below_min_pairs_is_no_data(tmp_path):
    capture, truth = make_files(tmp_path / "data", "binary")
    dirs = host_dirs(tmp_path / "hosts", capture, truth, 3, "round-robin")
    _profile_all(dirs, tmp_path / "partials", "binary")
    env = _env("binary", tmp_path / "out", analysis_stage="merge", partial_profiles=str(tmp_path / "partials"))
    env.update(baseline_constraints=str(_constraints(tmp_path, "binary", capture, truth)), min_pairs="100000")
    code, message = run(env, tmp_path / "merge")
    assert code == 0 and message.startswith("NoData") and not (tmp_path / "out" / "statistics.json").exists()


def test_merge_refuses_missing_hosts_and_ground_truth_that_differs(tmp_path):
    capture, truth = make_files(tmp_path / "data", "regression")
    dirs = host_dirs(tmp_path / "hosts", capture, truth, 2, "round-robin")
    (dirs[1] / "groundtruth" / "2026/11/30/13/b.jsonl").unlink()  # algo-2 did not get all the labels
    _profile_all(dirs, tmp_path / "partials")
    with pytest.raises(ModelQualityPartialError, match="FullyReplicated"):
        merge_partials(read_partials(tmp_path / "partials"))
    (tmp_path / "partials" / "algo-2" / "model_quality_partial-algo-2.parquet").unlink()
    with pytest.raises(ModelQualityPartialError, match=r"no model-quality partial from host\(s\) algo-2"):
        read_partials(tmp_path / "partials")
    (tmp_path / "partials" / "algo-1" / "model_quality_partial-algo-1.parquet").write_text("not parquet")
    with pytest.raises(ModelQualityPartialError, match="cannot read the model-quality partial"):
        read_partials(tmp_path / "partials")


def test_stages_that_cannot_shard_are_refused_with_a_clear_message(tmp_path):
    env = _env("regression", tmp_path / "out", analysis_stage="profile", ground_truth_attribute="label")
    env["baseline_constraints"] = str(tmp_path / "c.json")
    code, message = run(env, tmp_path / "opt_ml")
    assert code == 1 and "analysis_stage=profile" in message and "analysis_stage=full" in message
    opt_ml = tmp_path / "two"
    (opt_ml / "config").mkdir(parents=True)
    (opt_ml / "config" / "resourceconfig.json").write_text('{"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}')
    code, message = run(_env("regression", tmp_path / "out", analysis_stage="merge"), opt_ml)
    assert code == 1 and "analysis_stage=merge on 2 hosts" in message


def test_a_partial_reads_back_bit_for_bit(tmp_path):
    pairs = LabelledPredictions(
        np.array(["a", "b", "ü-1"], dtype=object),
        np.array([0.0, 1.0, 1.0]),
        np.array([0.0, 1.0, 0.0]),
        np.array([0.1, 1 / 3, np.nextafter(0.5, 0)]),
    )
    settings = {"problem_type": "binary", "probability_threshold": 0.5, "start": None}
    partial = ModelQualityPartial(
        "algo-2", ("algo-1", "algo-2"), settings, pairs, np.array(["x"], dtype=object), {"matched": 3}, {"r": "e"}
    )
    back = read_partial(write_partial(partial, tmp_path))
    assert list(back.pairs.keys) == list(pairs.keys) and list(back.unmatched_keys) == ["x"]
    for name in ("labels", "predictions", "probabilities"):
        assert getattr(back.pairs, name).tobytes() == getattr(pairs, name).tobytes()
    assert (back.host, back.hosts, back.settings, back.counts, back.examples) == (
        "algo-2",
        ("algo-1", "algo-2"),
        settings,
        {"matched": 3},
        {"r": "e"},
    )
    with pytest.raises(ModelQualityPartialError, match="cannot name a file"):
        write_partial(ModelQualityPartial("../x", ("../x",), settings, pairs, back.unmatched_keys, {}), tmp_path)
