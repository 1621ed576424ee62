"""A partial profile whose counts do not fit together (damaged, or edited by hand) is refused naming its file and
column, instead of merging into wrong statistics: the record count and every column's type and missing counts must
agree, and a numeric column's min must not be above its max."""

from __future__ import annotations

import json

import pytest

from monitoring.partial_profile import PartialProfileError, read_partials
from monitoring.profile_merge import merge_profiles
from tests.monitoring.test_profile_merge import _two_partials


def test_undamaged_partials_merge(tmp_path):
    profile, _ = merge_profiles(read_partials(_two_partials(tmp_path)))
    assert profile.item_count > 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(item_count=1), r"column '\w+' counts \d+ rows, item_count says 1"),
        (lambda d: d["columns"][1].update(num_missing=d["columns"][1]["num_missing"] + 7), r"item_count says"),
        (lambda d: d["columns"][1].update(min=d["columns"][1]["max"] + 1), r"min .* is above max"),
    ],
)
def test_counts_that_do_not_fit_are_refused(tmp_path, edit, message):
    out = _two_partials(tmp_path)
    path = out / "partial_profile-algo-2.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PartialProfileError, match=message) as info:
        read_partials(out)
    assert "partial_profile-algo-2.json" in str(info.value)
