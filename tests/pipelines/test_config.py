"""The configuration file: defaults load, and every bad value is a clear "must be X, got Y" naming its field."""

from __future__ import annotations

import pytest
import yaml

from pipelines.config import ConfigError, load_config, parse_config
from tests.conftest import ROOT


def test_the_bundled_configuration_loads_with_its_defaults():
    config = load_config(ROOT / "mlops.yaml")
    assert config.pipeline_name == "abalone-pipeline" and config.model_package_group == "abalone"
    assert config.endpoint_name == "abalone-endpoint" and config.gate.lower_is_better
    assert config.data.input.endswith("data/abalone.csv") and config.data.categorical == ("sex",)
    assert config.monitoring.alarm.treat_missing_data == "ignore" and config.serving.capture.sampling_percentage == 100


def raw(**changes) -> dict:
    document = yaml.safe_load((ROOT / "mlops.yaml").read_text())
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        block = document
        for part in path:
            block = block.setdefault(part, {})
        block[key] = value
    return document


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data__split": [0.5, 0.5]}, "data.split: must be three positive fractions summing to 1, got [0.5, 0.5]"),
        ({"data__problem_type": "ranking"}, "data.problem_type: must be regression or binary, got 'ranking'"),
        ({"gate__metric": "auc"}, "gate.metric: must be one of mse, rmse, mae, r2 for regression, got 'auc'"),
        (
            {"data__problem_type": "binary", "training__objective": "binary:logistic", "gate__metric": "auc"},
            "data.positive_class: must be set for binary classification",
        ),
        ({"sagemaker__role_arn": "admin"}, "sagemaker.role_arn: must be an IAM role ARN"),
        ({"sagemaker__subnets": ["subnet-1"]}, "sagemaker.subnets/security_group_ids: must be both set or both empty"),
        ({"sagemaker__processing_instance_count": 0}, "processing_instance_count: must be an integer from 1 to 8"),
        ({"serving__capture__sampling_percentage": 150}, "sampling_percentage: must be an integer from 0 to 100"),
        ({"serving__port": "eighty"}, "serving.port: must be a port number"),
        ({"monitoring__schedule": "hourly"}, "monitoring.schedule: must be five cron fields"),
        ({"monitoring__alarm__datapoints_to_alarm": 3}, "datapoints_to_alarm: must be at most evaluation_periods"),
        ({"monitoring__alerts__webhook_url": "ftp://x"}, "webhook_url: must be an http(s):// URL"),
        ({"monitoring__engine": "spark"}, "monitoring.engine: must be processing or model-monitor"),
        ({"project__name": "my project"}, "project.name: must be 1-63 letters, digits or hyphens"),
        ({"data__colour": "red"}, "data: unknown key(s) colour"),
        ({"extras": {}}, "unknown section(s) extras"),
    ],
)
def test_bad_values_name_their_field(changes, message):
    with pytest.raises(ConfigError) as info:
        parse_config(raw(**changes), "mlops.yaml")
    assert message in str(info.value) and str(info.value).startswith("mlops.yaml")


def test_missing_and_unparseable_files(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="Configuration file not found"):
        load_config(tmp_path / "nope.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as missing:
        load_config()  # the default mlops.yaml: the error says which directory it looked in
    assert f"mlops.yaml (looked in {tmp_path.resolve()})" in str(missing.value)
    assert "--config" in str(missing.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)


def test_overrides_are_validated_again():
    config = load_config(ROOT / "mlops.yaml")
    assert config.with_overrides(sagemaker={"bucket": "bkt", "role_arn": None}).sagemaker.bucket == "bkt"
    with pytest.raises(ConfigError, match="role_arn: must be an IAM role ARN"):
        config.with_overrides(sagemaker={"role_arn": "nobody"})
