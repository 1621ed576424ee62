"""The serving input policy (non-finite values, all-empty records) is a model setting: configured under
``serving``, validated like every other value, and carried to training as hyperparameters (transform.json)."""

from __future__ import annotations

import pytest
import yaml

from pipelines.config import ConfigError, parse_config
from pipelines.definition import INFERENCE_ENV
from tests.conftest import ROOT


def document(**serving: object) -> dict:
    raw = yaml.safe_load((ROOT / "mlops.yaml").read_text())
    raw.setdefault("serving", {}).update(serving)
    return raw


def test_the_default_refuses_both():
    serving = parse_config(document()).serving
    assert (serving.allow_non_finite, serving.allow_empty_records) == (False, False)
    allowing = parse_config(document(allow_non_finite=True, allow_empty_records=True)).serving
    assert (allowing.allow_non_finite, allowing.allow_empty_records) == (True, True)


@pytest.mark.parametrize("key", ["allow_non_finite", "allow_empty_records"])
def test_a_non_boolean_setting_is_refused_naming_the_field(key):
    with pytest.raises(ConfigError, match=rf"serving\.{key}: must be true or false, got 'yes'"):
        parse_config(document(**{key: "yes"}))


def test_the_registered_model_sets_the_default_accept_next_to_the_program():
    assert INFERENCE_ENV["SAGEMAKER_PROGRAM"] == "inference.py"
    assert INFERENCE_ENV["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] == "text/csv"
