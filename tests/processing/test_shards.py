"""Preprocess's sharded outputs: the train split and the baseline dataset as SHARD_FILES objects whose rows, read in
name order, are the one-file outputs' rows in the same order; small data sets (empty and header-only files) read by
train.py and the analyzer like the one file."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.analyzer import run_baseline
from processing.preprocess import preprocess
from processing.shards import MAX_INSTANCE_COUNT, SHARD_FILES, shard_bounds, shard_names
from tests.conftest import ABALONE
from tests.training.steps import REGRESSION, SMALL
from training.train import TrainingError, read_split, train

# sha256 of train/train.csv and baseline/baseline.csv as the one-file Preprocess wrote them (commit 096c6b9) for the
# bundled data with the default split and seed: the shards, concatenated, must be these bytes.
ONE_FILE_TRAIN_SHA256 = "c0eaa267fa5ef606807c86029db7d7528a8cbb43f48ac8b176d728ddaf811748"
ONE_FILE_BASELINE_SHA256 = "274c7a44ca0661fb157646ea3b746e88eeabcd2e47be2e7b1f22ccb53968baaa"
FLOAT_RELATIVE = 1e-12  # the equality for float sums, means and standard deviations


def texts(directory: Path) -> list[str]:
    return [path.read_text() for path in sorted(directory.glob("*.csv"))]


def one_baseline_file(directory: Path, target: Path) -> Path:
    """The baseline files joined into one CSV: the header once, then every file's rows in name order."""
    parts = texts(directory)
    target.write_text(parts[0].splitlines(keepends=True)[0] + "".join(p.split("\n", 1)[1] for p in parts))
    return target


def flat(document: object, path: str = "") -> dict[str, object]:
    if isinstance(document, dict):
        return {k: v for key, value in document.items() for k, v in flat(value, f"{path}.{key}").items()}
    if isinstance(document, list):
        return {k: v for i, value in enumerate(document) for k, v in flat(value, f"{path}[{i}]").items()}
    return {path: document}


def assert_same_statistics(sharded: Path, single: Path) -> None:
    """statistics.json and constraints.json of the shards equal the one file's: floats within FLOAT_RELATIVE,
    everything else (counts, min, max, KLL buckets, frequencies, constraints) identical."""
    assert (sharded / "constraints.json").read_text() == (single / "constraints.json").read_text()
    got, expected = (flat(json.loads((d / "statistics.json").read_text())) for d in (sharded, single))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float) and not isinstance(got[key], bool):
            assert math.isclose(got[key], value, rel_tol=FLOAT_RELATIVE), key
        else:
            assert got[key] == value, key


def test_names_are_zero_padded_so_name_order_is_row_order():
    assert SHARD_FILES == 2 * MAX_INSTANCE_COUNT
    names = shard_names("train")
    assert len(names) == SHARD_FILES and names == sorted(names)
    assert names[0] == "train-00.csv" and names[-1] == f"train-{SHARD_FILES - 1}.csv"
    assert shard_names("baseline", 101)[:2] == ["baseline-000.csv", "baseline-001.csv"]


@pytest.mark.parametrize("rows", [0, 1, 5, 16, 17, 2884])
def test_bounds_are_contiguous_chunks_differing_by_at_most_one_row(rows):
    bounds = shard_bounds(rows)
    assert len(bounds) == SHARD_FILES and bounds[0][0] == 0 and bounds[-1][1] == rows
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_bounds_refuse_impossible_cuts():
    with pytest.raises(ValueError, match=r"cannot cut 3 row\(s\) into 0 shard\(s\)"):
        shard_bounds(3, 0)
    with pytest.raises(ValueError, match=r"cannot cut -1 row"):
        shard_bounds(-1)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sharded")
    preprocess(ABALONE, out, REGRESSION)
    return out


def test_the_shards_concatenated_are_the_one_file_outputs(bundled):
    train_parts = texts(bundled / "train")
    assert len(train_parts) == SHARD_FILES
    assert hashlib.sha256("".join(train_parts).encode()).hexdigest() == ONE_FILE_TRAIN_SHA256
    assert [len(p.splitlines()) for p in train_parts] == [181] * 4 + [180] * 12  # 2884 rows
    baseline_parts = texts(bundled / "baseline")
    headers = {p.split("\n", 1)[0] for p in baseline_parts}
    assert headers == {"sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight"}
    joined = baseline_parts[0] + "".join(p.split("\n", 1)[1] for p in baseline_parts[1:])
    assert hashlib.sha256(joined.encode()).hexdigest() == ONE_FILE_BASELINE_SHA256
    # shard i of the baseline holds the raw features of shard i of train
    assert [len(p.splitlines()) - 1 for p in baseline_parts] == [len(p.splitlines()) for p in train_parts]


def test_the_analyzer_profiles_the_shards_as_the_one_file(bundled, tmp_path):
    single = one_baseline_file(bundled / "baseline", tmp_path / "baseline.csv")
    sharded_result = run_baseline(bundled / "baseline", tmp_path / "sharded")
    run_baseline(single, tmp_path / "single")
    assert sharded_result.item_count == 2884
    assert_same_statistics(tmp_path / "sharded", tmp_path / "single")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """20 rows: a train split of 11 rows, so 5 of the 16 train files are empty and 5 baseline files header-only."""
    root = tmp_path_factory.mktemp("small")
    source = root / "small.csv"
    source.write_text("".join(ABALONE.read_text().splitlines(keepends=True)[:21]))
    result = preprocess(source, root / "out", REGRESSION)
    assert result.rows["train"] == 11
    return root / "out"


def test_a_small_data_set_still_writes_every_file(small):
    train_sizes = [path.stat().st_size for path in sorted((small / "train").glob("*.csv"))]
    assert len(train_sizes) == SHARD_FILES and all(train_sizes[:11]) and train_sizes[11:] == [0] * 5
    baseline_rows = [len(text.splitlines()) for text in texts(small / "baseline")]
    assert baseline_rows == [2] * 11 + [1] * 5  # header + one row, then the header alone


def test_train_reads_a_channel_with_empty_files_as_its_rows(small, tmp_path):
    labels, features = read_split(small / "train", "train")
    one = np.loadtxt(small / "train" / "train-00.csv", delimiter=",", ndmin=2)
    assert features.shape == (11, 10) and labels[0] == one[0, 0]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "all.csv").write_text("".join(texts(small / "train")))
    sharded = train(small / "train", small / "validation", small / "transform", tmp_path / "a", SMALL)
    joined = train(tmp_path / "one", small / "validation", small / "transform", tmp_path / "b", SMALL)
    assert (tmp_path / "a" / "xgboost-model.json").read_bytes() == (tmp_path / "b" / "xgboost-model.json").read_bytes()
    assert sharded.train_rows == joined.train_rows == 11


def test_a_host_whose_shard_holds_only_empty_files_has_no_rows(small, tmp_path):
    shard = tmp_path / "shard"
    shard.mkdir()
    for name in ("train-14.csv", "train-15.csv"):
        (shard / name).write_bytes((small / "train" / name).read_bytes())
    labels, features = read_split(shard, "train", empty_width=10)  # a host of a distributed job: no rows
    assert labels.shape == (0,) and features.shape == (0, 10)
    with pytest.raises(TrainingError, match=r"No train data: the 2 \.csv file\(s\) in .*shard are empty"):
        read_split(shard, "train")  # one host and no rows: nothing to train on


def test_the_analyzer_reads_header_only_files_as_no_rows(small, tmp_path):
    single = one_baseline_file(small / "baseline", tmp_path / "baseline.csv")
    assert len(pd.read_csv(single)) == 11
    result = run_baseline(small / "baseline", tmp_path / "sharded")
    run_baseline(single, tmp_path / "single")
    assert result.item_count == 11
    assert_same_statistics(tmp_path / "sharded", tmp_path / "single")
