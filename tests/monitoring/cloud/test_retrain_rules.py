"""The retraining rule: disabled, no data, cool-down, unchanged data, start (the local loop's order)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitoring.cloud.retrain_rules import COOLDOWN, DISABLED, NO_DATA, NO_NEW_DATA, STARTED, decide

NOW = datetime(2025, 3, 4, 13, tzinfo=timezone.utc)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("enabled", "last_started", "data_hash", "trained_on", "action"),
    [
        (False, None, "new", "old", DISABLED),
        (True, None, None, "old", NO_DATA),
        (True, NOW - timedelta(hours=23, minutes=59), "new", "old", COOLDOWN),
        (True, NOW - DAY, "new", "old", STARTED),  # the cool-down has exactly elapsed
        (True, None, "same", "same", NO_NEW_DATA),
        (True, None, "new", None, STARTED),  # unknown training data does not block
        (True, NOW - timedelta(hours=1), None, None, NO_DATA),  # no data is said before the cool-down
        (True, NOW - timedelta(hours=1), "same", "same", COOLDOWN),  # cool-down before no-new-data
    ],
)
def test_the_rule_in_order(enabled, last_started, data_hash, trained_on, action):
    decision = decide(NOW, enabled, DAY, last_started, data_hash, trained_on, "s3://b/retraining/")
    assert decision.action == action
    assert decision.at == NOW.isoformat()
    hashed = action not in (DISABLED, NO_DATA)  # the decision carries the data's hash once it was computed
    assert decision.data_hash == (data_hash if hashed else "")


def test_reasons_say_what_to_look_at():
    assert "monitoring.retrain.enabled" in decide(NOW, False, DAY, None, "h", None).reason
    assert decide(NOW, True, DAY, None, None, None, "s3://b/r/").reason == "s3://b/r/ holds no data"
    cooling = decide(NOW, True, DAY, NOW - timedelta(hours=6), "h", None).reason
    assert "cool-down of 24 h ends in 18.0 h" in cooling and (NOW - timedelta(hours=6)).isoformat() in cooling
