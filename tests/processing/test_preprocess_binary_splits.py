"""Binary Preprocess refuses a split without one of the two classes, naming the class and where its rows fell.

A validation split of one class left early stopping an undefined AUC, and a test split of one class gave an AUC of
NaN and an accuracy of 1.0 for a model that never predicts the other class: it passed an accuracy gate."""

from __future__ import annotations

import re

import pandas as pd

from processing.preprocess import DataSchema, preprocess
from processing.split import row_fractions
from tests.processing.test_preprocess import HEADER, LINES, expect_error, write

COLUMNS = [c.strip() for c in HEADER.split(",")]
SCHEMA = DataSchema("rings", tuple(COLUMNS[1:-1]), ("sex",), "binary", "yes")


def labelled(rows: list[str], positive) -> list[str]:
    """The rows with the target 'yes' where ``positive(fields, fraction of the 'yes' row)``, else 'no'."""
    fields = [line.rstrip("\r").split(",") for line in rows]
    as_yes = pd.DataFrame([[*f[:-1], "yes"] for f in fields], columns=COLUMNS)
    places = row_fractions(as_yes, SCHEMA, 42)
    return [",".join([*f[:-1], "yes" if positive(f, p) else "no"]) for f, p in zip(fields, places, strict=True)]


def test_a_class_only_in_the_train_split_is_refused(tmp_path):
    rows = labelled(LINES[:1500], lambda fields, place: place < 0.7 and int(fields[-1]) >= 12)
    count = sum(r.endswith(",yes") for r in rows)
    source = write(tmp_path / "rare.csv", [HEADER, *rows])
    pattern = (
        rf"^Column 'rings' in .*rare\.csv: the validation split holds no row of the class 'yes', so it cannot train or "
        rf"score a binary model; the {count} row\(s\) of that class fell "
        rf"{{'train': {count}, 'validation': 0, 'test': 0}}"
    )
    expect_error(tmp_path, source, SCHEMA, pattern)


def test_a_class_missing_from_the_test_split_only_is_named(tmp_path):
    rows = labelled(LINES[:1500], lambda fields, place: place < 0.85 and int(fields[-1]) >= 12)
    source = write(tmp_path / "rare.csv", [HEADER, *rows])
    expect_error(tmp_path, source, SCHEMA, re.escape("the test split holds no row of the class 'yes'"))


def test_one_row_of_each_class_in_every_split_is_enough(tmp_path):
    rows = labelled(LINES[:1500], lambda fields, place: int(fields[-1]) >= 22)
    result = preprocess(write(tmp_path / "rare.csv", [HEADER, *rows]), tmp_path / "out", SCHEMA)
    assert sum(result.rows.values()) == 1500
