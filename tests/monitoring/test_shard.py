"""A host's role from resourceconfig.json, and the container entry's profile and merge stages on simulated hosts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from monitoring.container_entry import run
from monitoring.errors import AnalyzerInputError
from monitoring.host_role import HostRole, analysis_stage, read_resource_config
from tests.conftest import ABALONE
from tests.monitoring.capture_files import capture_line, write_capture
from tests.monitoring.test_arrow_without_pandas import ENTRY_PROBE, run_python
from tests.monitoring.test_capture import T0

HOSTS = ["algo-1", "algo-2"]
CAPTURE_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}'


def opt_ml_of(tmp_path: Path, host: str, hosts=HOSTS) -> Path:
    """An /opt/ml with the resourceconfig.json SageMaker writes for ``host``."""
    opt_ml = tmp_path / f"opt_ml-{host}"
    (opt_ml / "config").mkdir(parents=True)
    (opt_ml / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": host, "hosts": hosts, "network_interface_name": "eth0"})
    )
    return opt_ml


def abalone_shards(tmp_path: Path) -> dict[str, Path]:
    """Abalone's rows in four files; algo-1 gets files 3 and 0, algo-2 files 1 and 2 (the objects' keys kept)."""
    lines = ABALONE.read_text().splitlines()
    shards = {host: tmp_path / "input" / host for host in HOSTS}
    for i in range(4):
        host = "algo-1" if i in (0, 3) else "algo-2"
        shards[host].mkdir(parents=True, exist_ok=True)
        (shards[host] / f"part-{i}.csv").write_text("\n".join([lines[0], *lines[1 + i :: 4]]) + "\n")
    return shards


def test_baseline_on_two_hosts_then_merge_equals_one_host(tmp_path):
    shards = abalone_shards(tmp_path)
    partials = tmp_path / "s3" / "partials"  # both hosts upload to the same output prefix
    for host in HOSTS:
        env = {"analysis_stage": "profile", "dataset_source": str(shards[host]), "output_path": str(partials)}
        code, message = run(env, opt_ml_of(tmp_path, host))
        assert code == 0 and f"Host {host} of 2 profiled" in message, message
    assert sorted(p.name for p in partials.iterdir()) == ["partial_profile-algo-1.json", "partial_profile-algo-2.json"]
    merged_out = tmp_path / "merged"
    env = {"analysis_stage": "merge", "partial_profiles": str(partials), "output_path": str(merged_out)}
    assert run(env, tmp_path / "opt_ml-merge") == (
        0,
        f"Completed: Job completed successfully. Baseline of 4177 records written to {merged_out}.",
    )
    one_out = tmp_path / "one"
    assert run({"dataset_source": str(ABALONE), "output_path": str(one_out)}, tmp_path / "opt_ml-one")[0] == 0
    assert (merged_out / "constraints.json").read_text() == (one_out / "constraints.json").read_text()
    merged = json.loads((merged_out / "statistics.json").read_text())
    one = json.loads((one_out / "statistics.json").read_text())
    for mine, theirs in zip(merged["features"], one["features"], strict=True):
        block = "numerical_statistics" if "numerical_statistics" in theirs else "string_statistics"
        assert mine[block]["common"] == theirs[block]["common"]


def drifted_capture_shards(tmp_path: Path) -> dict[str, Path]:
    rows = [line.split(",") for line in ABALONE.read_text().splitlines()[1:1001]]
    lines = [capture_line(",".join([r[0], str(float(r[1]) * 2), *r[2:]]), T0) for r in rows]
    shards = {}
    for h, host in enumerate(HOSTS):
        shards[host] = tmp_path / "capture" / host
        write_capture(shards[host], T0, lines[h::2], name=f"capture-{h}.jsonl")
        write_capture(tmp_path / "capture" / "all", T0, lines[h::2], name=f"capture-{h}.jsonl")
    return shards


def test_check_on_two_hosts_then_merge_gives_the_one_host_result(tmp_path):
    baseline = tmp_path / "baseline"
    assert run({"dataset_source": str(ABALONE), "output_path": str(baseline)}, tmp_path / "opt_ml-b")[0] == 0
    shards = drifted_capture_shards(tmp_path)
    common = {
        "dataset_format": CAPTURE_FORMAT,
        "baseline_statistics": str(baseline / "statistics.json"),
        "baseline_constraints": str(baseline / "constraints.json"),
        "start_time": (T0 - timedelta(minutes=15)).isoformat(),
        "end_time": (T0 + timedelta(minutes=45)).isoformat(),
    }
    partials = tmp_path / "s3" / "partials"
    for host in HOSTS:
        env = {**common, "analysis_stage": "profile", "dataset_source": str(shards[host]), "output_path": str(partials)}
        code, message = run(env, opt_ml_of(tmp_path, host))
        assert code == 0, message
    merge_opt_ml = tmp_path / "opt_ml-merge"
    env = {**common, "analysis_stage": "merge", "partial_profiles": str(partials), "output_path": str(tmp_path / "m")}
    merged = run(env, merge_opt_ml)
    one_env = {**common, "dataset_source": str(tmp_path / "capture" / "all"), "output_path": str(tmp_path / "o")}
    one = run(one_env, tmp_path / "opt_ml-one")
    assert merged == one == (0, "CompletedWithViolations: Job completed successfully with 1 violations.")
    for name in ("constraint_violations.json",):
        assert (tmp_path / "m" / name).read_text() == (tmp_path / "o" / name).read_text()
    assert (merge_opt_ml / "output" / "metrics" / "cloudwatch").exists()


def test_full_stage_on_several_hosts_runs_on_the_leader_only(tmp_path):
    env = {"dataset_source": str(ABALONE), "output_path": str(tmp_path / "out")}
    code, message = run(env, opt_ml_of(tmp_path, "algo-2"))
    assert code == 0 and message.endswith("Host algo-2 left the baseline to algo-1.")
    assert not (tmp_path / "out").exists()
    code, message = run({**env, "analysis_stage": "full"}, opt_ml_of(tmp_path / "leader", "algo-1"))
    assert code == 0 and "Baseline of 4177 records" in message
    assert (tmp_path / "out" / "statistics.json").is_file()


def test_merge_stage_on_several_hosts_is_refused(tmp_path):
    env = {"analysis_stage": "merge", "output_path": str(tmp_path / "out")}
    code, message = run(env, opt_ml_of(tmp_path, "algo-2"))
    assert code == 1 and "analysis_stage=merge on 2 hosts" in message and "every host would write" in message
    assert not (tmp_path / "out").exists()


def test_merge_stage_needs_its_partials(tmp_path):
    env = {"analysis_stage": "merge", "partial_profiles": str(tmp_path / "none"), "output_path": str(tmp_path / "o")}
    code, message = run(env, tmp_path / "opt_ml")
    assert code == 1 and "Partial profiles directory not found" in message and str(tmp_path / "none") in message


def test_role_defaults_to_one_host_without_resourceconfig(tmp_path):
    assert read_resource_config(tmp_path) == HostRole("algo-1", ("algo-1",))
    assert analysis_stage({}, HostRole()) == "full"
    assert analysis_stage({}, HostRole("algo-2", ("algo-1", "algo-2"))) == "idle"
    assert analysis_stage({}, HostRole("algo-1", ("algo-1", "algo-2"))) == "full"
    assert analysis_stage({"analysis_stage": "profile"}, HostRole("algo-2", ("algo-1", "algo-2"))) == "profile"
    with pytest.raises(AnalyzerInputError, match="analysis_stage must be one of full, profile, merge, got 'reduce'"):
        analysis_stage({"analysis_stage": "reduce"}, HostRole())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "expected JSON with current_host and hosts"),
        ('{"hosts": ["algo-1"]}', "expected JSON with current_host and hosts"),
        ('{"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]}', "must be one of the distinct hosts"),
        ('{"current_host": "algo-1", "hosts": "algo-1"}', "hosts a list of strings"),
    ],
)
def test_a_bad_resourceconfig_is_named(tmp_path, text, message):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "resourceconfig.json").write_text(text)
    with pytest.raises(AnalyzerInputError, match=message) as info:
        read_resource_config(tmp_path)
    assert "resourceconfig.json" in str(info.value)


def test_a_host_without_input_profiles_an_empty_shard_but_one_host_needs_its_data(tmp_path):
    from monitoring.errors import AnalyzerFileNotFoundError
    from monitoring.shard import profile_shard

    partial = profile_shard(tmp_path / "nothing", "algo-2", HOSTS)
    assert partial.profile.item_count == 0 and not partial.profile.columns
    with pytest.raises(AnalyzerFileNotFoundError, match="Dataset not found"):
        profile_shard(tmp_path / "nothing", "algo-1", ["algo-1"])


@pytest.mark.parametrize("mode", ["baseline", "check"])
def test_a_merge_job_imports_neither_arrow_nor_pandas_and_writes_what_an_in_process_merge_writes(tmp_path, mode):
    """The merge reads JSON profiles only: its container spares itself pyarrow (0.2 s of a 0.5 s job)."""
    shards = abalone_shards(tmp_path)
    partials, baseline = tmp_path / "partials", tmp_path / "baseline"
    assert run({"dataset_source": str(ABALONE), "output_path": str(baseline)}, tmp_path / "opt_ml-base")[0] == 0
    check = {
        "baseline_statistics": str(baseline / "statistics.json"),
        "baseline_constraints": str(baseline / "constraints.json"),
        "start_time": "2026-11-30T10:00:00Z",
        "end_time": "2026-11-30T11:00:00Z",
    }
    extra = check if mode == "check" else {}
    for host in HOSTS:
        env = {"analysis_stage": "profile", "dataset_source": str(shards[host]), "output_path": str(partials), **extra}
        assert run(env, opt_ml_of(tmp_path, host))[0] == 0
    env = {"analysis_stage": "merge", "partial_profiles": str(partials), **extra}
    container = {"SM_OPT_ML": str(tmp_path / "opt_ml-merge"), "output_path": str(tmp_path / "container"), **env}
    assert run_python(ENTRY_PROBE, container) == {"code": 0, "arrow": False, "pandas": False}
    assert run({**env, "output_path": str(tmp_path / "in_process")}, tmp_path / "opt_ml-in")[0] == 0
    written = sorted(p.name for p in (tmp_path / "in_process").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "container").iterdir())
    assert "statistics.json" in written
    for name in written:
        mine, theirs = ((tmp_path / run / name).read_text(encoding="utf-8") for run in ("container", "in_process"))
        if name == "cloudwatch_metrics.jsonl":  # stamped with the time each merge ran
            mine, theirs = (_unstamped(text) for text in (mine, theirs))
        assert mine == theirs, name


def _unstamped(jsonl: str) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "Timestamp"} for line in jsonl.splitlines()]
