"""A model-quality partial whose metadata is damaged is refused naming its file, as a damaged parquet file is: the
merge job's message says which partial to look at, never a bare Python error."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from monitoring.labelled import LabelledPredictions
from monitoring.model_quality_partial import (
    ModelQualityPartial,
    ModelQualityPartialError,
    read_partial,
    write_partial,
)


def a_partial(tmp_path):
    pairs = LabelledPredictions(np.array(["a", "b"], dtype=object), np.array([1.0, 2.0]), np.array([1.5, 2.5]), None)
    settings = {"problem_type": "regression", "probability_threshold": 0.5, "start": None}
    partial = ModelQualityPartial("algo-1", ("algo-1", "algo-2"), settings, pairs, np.array([], dtype=object), {}, {})
    return write_partial(partial, tmp_path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda meta: meta.update(counts=[1, 2]),
        lambda meta: meta.update(examples=["x"]) or meta.update(counts={"matched": "x"}),
        lambda meta: meta.clear() or meta.update(kind=0),
        lambda meta: meta.update(hosts=None),
    ],
)
def test_damaged_metadata_is_refused_naming_the_file(tmp_path, damage):
    path = a_partial(tmp_path)
    table = pq.read_table(path)
    (key,) = [k for k in table.schema.metadata if k.startswith(b"mlops")]
    meta = json.loads(table.schema.metadata[key])
    damage(meta)
    pq.write_table(table.replace_schema_metadata({key: json.dumps(meta).encode()}), path)
    with pytest.raises(ModelQualityPartialError) as info:
        read_partial(path)
    assert str(path) in str(info.value)


def test_metadata_that_is_not_an_object_is_refused_naming_the_file(tmp_path):
    path = a_partial(tmp_path)
    table = pq.read_table(path)
    (key,) = [k for k in table.schema.metadata if k.startswith(b"mlops")]
    pq.write_table(table.replace_schema_metadata({key: b"[1, 2]"}), path)
    with pytest.raises(ModelQualityPartialError, match=r"model_quality_partial-algo-1\.parquet: its"):
        read_partial(path)
