"""The Train step's channels in the built definition (train ShardedByS3Key over Preprocess's shards, the others
FullyReplicated) and the largest supported instance count (config and ``--param``)."""

from __future__ import annotations

import json

import pytest

from pipelines.config import ConfigError, load_config
from pipelines.parameters import check_params, parameter_specs
from processing.shards import MAX_INSTANCE_COUNT, SHARD_FILES
from tests.conftest import ROOT
from tests.pipelines.definition_helpers import built_json, config_for, steps_by_name


def test_the_train_channel_is_sharded_by_object_and_the_others_reach_every_host():
    train = steps_by_name(json.loads(built_json("processing")))["Train"]["Arguments"]
    channels = {c["ChannelName"]: c for c in train["InputDataConfig"]}
    assert list(channels) == ["train", "validation", "transform", "code"]
    assert channels["train"] == {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {
                "S3DataDistributionType": "ShardedByS3Key",
                "S3DataType": "S3Prefix",
                "S3Uri": {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
            }
        },
        "InputMode": "File",
    }
    for name in ("validation", "transform", "code"):
        source = channels[name]["DataSource"]["S3DataSource"]
        assert source["S3DataDistributionType"] == "FullyReplicated", name
        assert channels[name]["InputMode"] == "File", name
    assert train["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}


@pytest.mark.parametrize("name", ["ProcessingInstanceCount", "TrainingInstanceCount"])
def test_instance_counts_above_the_largest_supported_are_refused(name):
    config = config_for("processing")
    check_params({name: str(MAX_INSTANCE_COUNT)}, config)
    with pytest.raises(ConfigError) as info:
        check_params({name: str(MAX_INSTANCE_COUNT + 1), "GateThreshold": "x"}, config)
    lines = str(info.value).splitlines()
    assert f"--param {name}: must be at most {MAX_INSTANCE_COUNT} (the largest supported instance count: " in lines[0]
    assert f"as {SHARD_FILES} objects for the hosts to share), got {MAX_INSTANCE_COUNT + 1}" in lines[0]
    assert lines[1] == "--param GateThreshold: must be a number, got 'x'"  # every problem named


@pytest.mark.parametrize("setting", ["processing_instance_count", "training_instance_count"])
def test_a_configured_instance_count_above_the_largest_supported_is_refused(setting, tmp_path):
    config = config_for("processing")
    assert parameter_specs(config.with_overrides(sagemaker={setting: MAX_INSTANCE_COUNT}))
    expected = rf"sagemaker\.{setting}: must be an integer from 1 to {MAX_INSTANCE_COUNT}, got {MAX_INSTANCE_COUNT + 1}"
    with pytest.raises(ConfigError, match=expected):
        config.with_overrides(sagemaker={setting: MAX_INSTANCE_COUNT + 1})
    text = (ROOT / "mlops.yaml").read_text(encoding="utf-8").replace(f"{setting}: 1", f"{setting}: 9")
    (tmp_path / "mlops.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'mlops.yaml'}: {expected}"):  # the file named
        load_config(str(tmp_path / "mlops.yaml"))
