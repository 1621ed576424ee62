"""Shards profiled apart and merged equal the one-host profile: integers bit-equal, float sums / means / standard
deviations within 1e-12 relative, sketch-derived fields within the KLL error weight, violations equal unless a drift
distance lies within that bound of its threshold."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from monitoring.analysis_results import check_from_profile
from monitoring.analyzer import read_dataset
from monitoring.constraints import read_constraints, suggest_constraints
from monitoring.partial_profile import PartialProfileError, read_partials, write_partial
from monitoring.profile import DatasetProfile
from monitoring.profile_merge import baseline_from_partials, listing_key, merge_profiles
from monitoring.report import ReadReport
from monitoring.shard import profile_shard
from monitoring.statistics import profile_to_json, profile_to_statistics, read_statistics
from tests.conftest import ABALONE, QUALITY_BASELINE

FILES = 6
# Two assignments of the six files to hosts per host count: contiguous blocks, and round robin from the end.
ASSIGNMENTS = {
    2: [[[0, 1, 2], [3, 4, 5]], [[5, 3, 1], [4, 2, 0]]],
    3: [[[0, 1], [2, 3], [4, 5]], [[5, 2], [4, 1], [3, 0]]],
}
CASES = [(hosts, which) for hosts in (2, 3) for which in (0, 1)]


def split_file(source: Path, directory: Path, header: bool, files: int = FILES, stride: bool = True) -> list[str]:
    """Write ``source``'s rows into ``files`` CSV files (rows dealt round robin, or in blocks); returns the names."""
    lines = source.read_text().splitlines()
    head, rows = (lines[:1], lines[1:]) if header else ([], lines)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(files):
        part = rows[i::files] if stride else rows[i * len(rows) // files : (i + 1) * len(rows) // files]
        name = f"part-{i:02d}.csv"
        (directory / name).write_text("\n".join(head + part) + "\n")
        names.append(name)
    return names


def one_host(directory: Path, names=None) -> tuple[DatasetProfile, ReadReport]:
    report = ReadReport()
    return DatasetProfile().add_all(read_dataset(directory, None, report, names)), report


def sharded(directory: Path, tmp: Path, assignment: list[list[int]], names=None) -> tuple[DatasetProfile, ReadReport]:
    """Each host profiles its files (copied to its own folder, as ShardedByS3Key does), writes its partial; the
    merge reads them back from disk."""
    keys = [p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()]
    files = sorted(keys, key=lambda key: listing_key((key, 0)))
    hosts = tuple(f"algo-{i + 1}" for i in range(len(assignment)))
    partials = tmp / "partials"
    for host, indices in zip(hosts, assignment, strict=True):
        shard = tmp / host
        shard.mkdir(parents=True)
        for i in indices:
            (shard / files[i]).parent.mkdir(parents=True, exist_ok=True)
            (shard / files[i]).write_bytes((directory / files[i]).read_bytes())
        write_partial(profile_shard(shard, host, hosts, names=names), partials)
    return merge_profiles(read_partials(partials))


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def assert_equal_within_bounds(one: DatasetProfile, merged: DatasetProfile) -> None:
    """The contract of issue 13 between a one-host profile and a merged one."""
    a, b = profile_to_json(one), profile_to_json(merged)
    assert a["dataset"] == b["dataset"]
    assert [f["name"] for f in a["features"]] == [f["name"] for f in b["features"]]
    for fa, fb in zip(a["features"], b["features"], strict=True):
        assert fa["inferred_type"] == fb["inferred_type"]
        if "string_statistics" in fa:
            assert fa == fb  # counts, distinct count and categorical buckets: exact
            continue
        na, nb = fa["numerical_statistics"], fb["numerical_statistics"]
        assert na["common"] == nb["common"]
        assert (na["min"], na["max"]) == (nb["min"], nb["max"])
        for key in ("sum", "mean", "std_dev"):
            assert rel(na[key], nb[key]) <= 1e-12, (fa["name"], key)
        bound = one.columns[fa["name"]].sketch.error_weight + merged.columns[fa["name"]].sketch.error_weight
        buckets_a, buckets_b = na["distribution"]["kll"]["buckets"], nb["distribution"]["kll"]["buckets"]
        assert [(x["lower_bound"], x["upper_bound"]) for x in buckets_a] == [
            (x["lower_bound"], x["upper_bound"]) for x in buckets_b
        ]
        for x, y in zip(buckets_a, buckets_b, strict=True):
            assert abs(x["count"] - y["count"]) <= 2 * bound, (fa["name"], x, y, bound)
        sa, sb = one.columns[fa["name"]].sketch, merged.columns[fa["name"]].sketch
        assert sa.count == sb.count
        values, _ = sa.weighted_items()
        probes = np.unique(np.concatenate([values, sb.weighted_items()[0]]))
        assert max(abs(sa.cdf(probes) - sb.cdf(probes))) * sa.count <= bound + 1e-6


@pytest.mark.parametrize(("hosts", "which"), CASES)
def test_abalone_baseline_merged_equals_one_host(tmp_path, hosts, which):
    data = tmp_path / "data"
    split_file(ABALONE, data, header=True)
    one, one_report = one_host(data)
    merged, report = sharded(data, tmp_path / "run", ASSIGNMENTS[hosts][which])
    assert_equal_within_bounds(one, merged)
    assert report.to_json() == one_report.to_json()
    # constraints come from exact fields only: identical documents
    assert suggest_constraints(profile_to_statistics(merged)) == suggest_constraints(profile_to_statistics(one))


def test_abalone_sketches_compact_so_the_bound_is_exercised(tmp_path):
    data = tmp_path / "data"
    split_file(ABALONE, data, header=True)
    merged, _ = sharded(data, tmp_path / "run", ASSIGNMENTS[3][1])
    one, _ = one_host(data)
    rings = "rings"
    assert merged.columns[rings].sketch.error_weight > 0 and one.columns[rings].sketch.error_weight > 0
    assert len(merged.columns[rings].sketch.levels) >= 2


@pytest.mark.parametrize(("hosts", "which"), CASES)
def test_reference_baseline_merged_equals_the_container_output(tmp_path, hosts, which):
    """Model Monitor's own statistics.json of 100 rows: no compaction, so the merged sketch ranks are exact."""
    data = tmp_path / "data"
    split_file(QUALITY_BASELINE / "baseline_dataset.csv", data, header=False, stride=False)
    reference = json.loads((QUALITY_BASELINE / "statistics.json").read_text())
    merged, _ = sharded(data, tmp_path / "run", ASSIGNMENTS[hosts][which])
    doc = profile_to_json(merged)
    assert doc["dataset"] == reference["dataset"]
    for mine, theirs in zip(doc["features"], reference["features"], strict=True):
        assert (mine["name"], mine["inferred_type"]) == (theirs["name"], theirs["inferred_type"])
        m, t = mine["numerical_statistics"], theirs["numerical_statistics"]
        assert m["common"] == t["common"]
        assert (m["min"], m["max"]) == (t["min"], t["max"])
        for key in ("sum", "mean", "std_dev"):
            assert rel(m[key], t[key]) <= 1e-12
        assert m["distribution"]["kll"]["buckets"] == t["distribution"]["kll"]["buckets"]
        if which == 0:  # files in order on hosts in order: Deequ's merge concatenates to the very same buffers
            assert m["distribution"]["kll"]["sketch"] == t["distribution"]["kll"]["sketch"]


def drifted_abalone(path: Path) -> Path:
    """Abalone with shifted lengths, a few missing weights and an unknown sex: several violations to compare."""
    lines = ABALONE.read_text().splitlines()
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        fields = line.split(",")
        fields[1] = f"{float(fields[1]) * 1.3:.4f}"
        if i % 40 == 0:
            fields[4] = ""
        if i % 25 == 0:
            fields[0] = "X"
        out.append(",".join(fields))
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.mark.parametrize(("hosts", "which"), CASES)
def test_check_from_merged_profiles_gives_the_one_host_violations(tmp_path, hosts, which):
    base_dir, current_dir = tmp_path / "base", tmp_path / "current"
    split_file(ABALONE, base_dir, header=True)
    split_file(drifted_abalone(tmp_path / "drifted.csv"), current_dir, header=True)
    one_base, _ = one_host(base_dir)
    merged_base, _ = sharded(base_dir, tmp_path / "b", ASSIGNMENTS[hosts][which])
    results = []
    for label, base in (("one", one_base), ("merged", merged_base)):
        out = tmp_path / label
        (out / "baseline").mkdir(parents=True)
        (out / "baseline" / "statistics.json").write_text(json.dumps(profile_to_json(base)))
        (out / "baseline" / "constraints.json").write_text(json.dumps(suggest_constraints(profile_to_statistics(base))))
        baseline = read_statistics(out / "baseline" / "statistics.json")
        constraints = read_constraints(out / "baseline" / "constraints.json")
        names = [f.name for f in constraints.features]
        current, report = (
            one_host(current_dir, names)
            if label == "one"
            else sharded(current_dir, out / "c", ASSIGNMENTS[hosts][which], names)
        )
        results.append(
            (check_from_profile(current, report, baseline, constraints, out / "result", current_dir), base, current)
        )
    (one, one_b, one_c), (merged, m_b, m_c) = results
    assert one.status == merged.status == "CompletedWithViolations"
    assert {
        (v.feature_name, v.constraint_check_type)
        for v in one.violations
        if v.constraint_check_type != "baseline_drift_check"
    } == {
        (v.feature_name, v.constraint_check_type)
        for v in merged.violations
        if v.constraint_check_type != "baseline_drift_check"
    }
    for d1, d2 in zip(one.drifts, merged.drifts, strict=True):
        assert (d1.feature_name, d1.threshold, d1.method) == (d2.feature_name, d2.threshold, d2.method)
        if d1.feature_name in one_c.columns and one_b.columns[d1.feature_name].count:
            n, m = one_b.item_count, one_c.item_count
            name = d1.feature_name
            bound = (one_b.columns[name].sketch.error_weight + m_b.columns[name].sketch.error_weight) / n + (
                one_c.columns[name].sketch.error_weight + m_c.columns[name].sketch.error_weight
            ) / m
        else:
            bound = 0.0  # categorical: exact frequencies
        assert abs(d1.distance - d2.distance) <= bound + 1e-12, (d1, d2, bound)
        if abs(d1.distance - d1.threshold) > bound:
            assert d1.drifted == d2.drifted
    assert any(d.drifted for d in merged.drifts)


def write_values(path: Path, values) -> None:
    path.write_text("code\n" + "\n".join(values) + "\n")


@pytest.mark.parametrize(
    ("left", "right", "kept"),
    [
        (range(0, 6000), range(3000, 9000), True),  # union 9,000: within the cap on both sides
        (range(0, 7000), range(5000, 12000), False),  # each under the cap, together 12,000: over it
        (range(0, 10500), range(0, 10), False),  # one shard alone over the cap
    ],
)
def test_the_distinct_value_cap_merges_as_one_host_applies_it(tmp_path, left, right, kept):
    data = tmp_path / "data"
    data.mkdir()
    write_values(data / "a.csv", [f"v{i}" for i in left])
    write_values(data / "b.csv", [f"v{i}" for i in right])
    one, _ = one_host(data)
    merged, _ = sharded(data, tmp_path / "run", [[0], [1]])
    col_one, col_merged = one.columns["code"], merged.columns["code"]
    truth = len({f"v{i}" for i in left} | {f"v{i}" for i in right})
    assert (col_merged.frequencies is not None) is kept is (col_one.frequencies is not None)
    if kept:
        assert col_merged.frequencies == col_one.frequencies
        assert col_merged.distinct_count() == col_one.distinct_count() == truth
    else:  # past the cap: no categorical distribution, the distinct count a lower bound above the cap on both
        assert 10_000 < col_merged.distinct_count() <= truth
        assert 10_000 < col_one.distinct_count() <= truth
        assert "distribution" not in profile_to_json(merged)["features"][0]["string_statistics"]


def test_columns_keep_the_one_host_order_when_they_come_and_go(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "1.jsonl").write_text('{"a": 1}\n{"a": 2, "c": "x"}\n')
    (data / "2.jsonl").write_text('{"b": 3.5}\n{"a": 4, "b": 1.0}\n')
    (data / "sub").mkdir()
    (data / "sub" / "0.jsonl").write_text('{"d": 1}\n')
    one, _ = one_host(data)
    merged, _ = sharded(data, tmp_path / "run", [[2], [1, 0]])  # file index order: 1, 2, sub/0
    assert list(merged.columns) == list(one.columns) == ["a", "c", "b", "d"]
    for name in one.columns:
        assert merged.columns[name].num_missing == one.columns[name].num_missing


def test_listing_key_orders_files_as_the_analyzer_lists_them():
    paths = ["z.csv", "a/x.csv", "a.csv", "a/b/c.csv", "a/y.csv"]
    assert sorted(paths, key=lambda p: listing_key((p, 0))) == ["a.csv", "z.csv", "a/x.csv", "a/y.csv", "a/b/c.csv"]


def test_serialisation_is_deterministic_and_exact(tmp_path):
    data = tmp_path / "data"
    split_file(ABALONE, data, header=True)
    first = profile_shard(data, "algo-1", ("algo-1",))
    second = profile_shard(data, "algo-1", ("algo-1",))
    assert first.dumps() == second.dumps()
    path = write_partial(first, tmp_path / "out")
    assert path.name == "partial_profile-algo-1.json"
    (restored,) = read_partials(tmp_path / "out")
    assert restored.dumps() == first.dumps()


def test_an_empty_shard_merges_as_nothing(tmp_path):
    data = tmp_path / "data"
    split_file(ABALONE, data, header=True, files=2)
    one, _ = one_host(data)
    merged, _ = sharded(data, tmp_path / "run", [[0, 1], [], []])
    assert_equal_within_bounds(one, merged)


def test_baseline_from_partials_writes_the_outputs_and_refuses_an_empty_job(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    write_partial(profile_shard(empty, "algo-1", ("algo-1", "algo-2")), tmp_path / "p")
    write_partial(profile_shard(empty, "algo-2", ("algo-1", "algo-2")), tmp_path / "p")
    with pytest.raises(Exception, match="holds no data rows"):
        baseline_from_partials(tmp_path / "p", tmp_path / "out")


def _two_partials(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    split_file(ABALONE, data, header=True, files=2)
    out = tmp_path / "partials"
    for host in ("algo-1", "algo-2"):
        write_partial(profile_shard(data / f"part-0{int(host[-1]) - 1}.csv", host, ("algo-1", "algo-2")), out)
    return out


def test_undamaged_partials_merge(tmp_path):
    profile, _ = merge_profiles(read_partials(_two_partials(tmp_path)))
    assert profile.item_count > 0


def test_a_missing_host_or_a_stale_partial_is_named(tmp_path):
    out = _two_partials(tmp_path)
    (out / "partial_profile-algo-2.json").unlink()
    with pytest.raises(PartialProfileError, match=r"no partial profile from host\(s\) algo-2"):
        read_partials(out)
    stale = profile_shard(tmp_path / "data", "algo-3", ("algo-1", "algo-2", "algo-3"))
    write_partial(stale, out)
    with pytest.raises(PartialProfileError, match=r"partial_profile-algo-3\.json: written by a different job"):
        read_partials(out)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(kind="other"), "not a partial profile"),
        (lambda d: d.update(schema=99), "schema 99"),
        (lambda d: d["columns"][1].update(count=-1), "count must be a non-negative integer"),
        (lambda d: d["columns"][1].update(count=5), "its sketch holds"),
        (lambda d: d["columns"][1].update(sum=None), "sum must be a finite number"),
        # counts that do not fit together: the record count and every column's type and missing counts must agree,
        # and a numeric column's min must not be above its max (else a damaged partial merges into wrong statistics)
        (lambda d: d.update(item_count=1), r"column '\w+' counts \d+ rows, item_count says 1"),
        (lambda d: d["columns"][1].update(num_missing=d["columns"][1]["num_missing"] + 7), r"item_count says"),
        (lambda d: d["columns"][1].update(min=d["columns"][1]["max"] + 1), r"min .* is above max"),
    ],
)
def test_a_corrupt_partial_is_a_clear_error(tmp_path, edit, message):
    out = _two_partials(tmp_path)
    path = out / "partial_profile-algo-1.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PartialProfileError, match=message) as info:
        read_partials(out)
    assert "partial_profile-algo-1.json" in str(info.value)


def test_not_json_is_a_clear_error(tmp_path):
    out = _two_partials(tmp_path)
    (out / "partial_profile-algo-2.json").write_text("{not json")
    with pytest.raises(PartialProfileError, match=r"partial_profile-algo-2\.json: cannot read"):
        read_partials(out)


def test_std_dev_of_shards_with_a_large_offset_keeps_1e_12(tmp_path):
    """Chan's formula keeps precision where a naive sum of squares would not."""
    values = 1e6 + np.random.default_rng(9).normal(size=20_000)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        write_values(data / f"{i}.csv", [repr(float(v)) for v in values[i::4]])
    one, _ = one_host(data)
    merged, _ = sharded(data, tmp_path / "run", [[3, 0], [2], [1]])
    assert rel(one.columns["code"].std_dev, merged.columns["code"].std_dev) <= 1e-12
    assert rel(one.columns["code"].std_dev, float(np.std(values))) <= 1e-9
    assert math.isclose(merged.columns["code"].mean, float(np.mean(values)), rel_tol=1e-12)
