"""Resource names derived from the configuration (the cron conversion: tests/pipelines/test_cron.py)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from monitoring.local.alarm_names import drift_alarm_name, feature_alarm_name
from pipelines.monitoring_stack import names

AWS_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def test_names_of_the_bundled_configuration(cloud_config):
    assert names.stack_name(cloud_config) == "abalone-endpoint-monitoring"
    assert names.schedule_name(cloud_config) == "abalone-endpoint-data-quality"
    assert names.job_name_prefix(cloud_config) == "abalone-endpoint-dq"
    prefix = names.name_prefix(cloud_config)
    assert drift_alarm_name(prefix) == "abalone-endpoint-drift"
    assert feature_alarm_name(prefix, "whole_weight") == "abalone-endpoint-drift-whole_weight"


def test_long_and_odd_endpoint_names_still_give_valid_names(cloud_config):
    config = replace(cloud_config, serving=replace(cloud_config.serving, endpoint_name="9" + "Very-Long-Endpoint" * 3))
    assert len(config.endpoint_name) == 55
    assert names.stack_name(config).startswith("mlops-9")
    assert AWS_NAME.match(names.schedule_name(config)) and len(names.schedule_name(config)) <= 63
    prefix = names.job_name_prefix(config)
    assert prefix == prefix.lower() and len(prefix) <= 37 and AWS_NAME.match(prefix)
    assert len(names.name_prefix(config)) <= 40


def test_features_that_alarm_names_cannot_carry_are_refused(cloud_config):
    config = replace(cloud_config, data=replace(cloud_config.data, numeric=("len\tgth",), categorical=()))
    with pytest.raises(ValueError, match=r"data feature 'len\\tgth': CloudWatch metric names cannot contain control"):
        names.monitored_features(config)
    many = replace(cloud_config, data=replace(cloud_config.data, numeric=tuple(f"f{i}" for i in range(101))))
    with pytest.raises(ValueError, match="at most 100 alarms, got 102"):
        names.monitored_features(many)
