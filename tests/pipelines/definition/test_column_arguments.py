"""Preprocess's --numeric / --categorical in the definition: any column name reaches the container whole."""

from __future__ import annotations

import json

import pytest

from pipelines.build import build_definition
from pipelines.definition.context import column_list
from processing.preprocess import _columns
from tests.conftest import ROOT
from tests.pipelines.definition_helpers import config_for, no_network, steps_by_name

NAMES = [
    ["length", "diameter", "height"],
    ["len,gth", "sex"],
    ["[x", "y"],
    ["a b", "ü, é", 'quote"d'],
    [],
]


@pytest.mark.parametrize("names", NAMES)
def test_the_argument_reads_back_as_the_names(names):
    assert _columns(column_list(names)) == names


def test_usual_names_stay_comma_separated():
    assert column_list(["length", "diameter"]) == "length,diameter"


def test_a_name_with_a_comma_reaches_preprocess_as_a_json_list():
    plain = config_for()
    config = plain.with_overrides(data={"numeric": ["len,gth", *plain.data.numeric[1:]]})
    with no_network():
        definition = json.loads(build_definition(config, root=ROOT).json)
    arguments = steps_by_name(definition)["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    numeric = arguments[arguments.index("--numeric") + 1]
    assert _columns(numeric) == ["len,gth", *plain.data.numeric[1:]]
