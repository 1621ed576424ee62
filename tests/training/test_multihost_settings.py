"""The ring's settings and the resource config are refused with the variable or file named, whatever their value:
no value leaves a host waiting forever or failing with a bare Python error."""

from __future__ import annotations

import pytest

from training.multihost import Cluster, ClusterError, collective_ring, read_cluster

FOLLOWER = Cluster(("algo-1", "algo-2"), "algo-2")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MLOPS_TRACKER_TIMEOUT", "nan"),  # a nan deadline is never passed: the host would wait forever
        ("MLOPS_TRACKER_TIMEOUT", "inf"),
        ("MLOPS_COLLECTIVE_TIMEOUT", "nan"),
        ("MLOPS_COLLECTIVE_TIMEOUT", "inf"),
        ("MLOPS_TRACKER_PORT", "70000"),
    ],
)
def test_a_setting_out_of_range_is_refused_before_any_connection(name, value):
    environ = {"MLOPS_TRACKER_HOST": "127.0.0.1", "MLOPS_TRACKER_TIMEOUT": "1", name: value}
    ring = collective_ring(FOLLOWER, environ)
    with pytest.raises(ClusterError, match=f"{name} must be a positive (int|float), got '{value}'"), ring:
        pytest.fail("the ring must not form")


def test_a_resource_config_that_is_not_text_is_refused_naming_it(tmp_path):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "resourceconfig.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ClusterError, match=r"resourceconfig\.json is not readable JSON"):
        read_cluster({"SM_INPUT_DIR": str(tmp_path / "input")})
