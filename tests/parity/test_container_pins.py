"""setup.py's CONTAINER_PINS are the versions the SageMaker XGBoost 3.0-5 image carries (the parity suite's pins):
the local runner computes with the libraries the image's jobs compute with, so their outputs are the same bytes."""

from __future__ import annotations

import ast

from tests.conftest import ROOT
from tests.parity.environment import normalise, read_pins

# A project pinned under another name than the image's: the CPU-only wheel of the same xgboost release.
IMAGE_NAME = {"xgboost-cpu": "xgboost"}


def container_pins() -> dict[str, str]:
    """Name -> version of setup.py's CONTAINER_PINS, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CONTAINER_PINS" for t in node.targets):
            pins = [pin.split("==") for pin in ast.literal_eval(node.value)]
            assert all(len(pin) == 2 for pin in pins), f"CONTAINER_PINS holds a pin that is not name==version: {pins}"
            return {normalise(name): version for name, version in pins}
    raise AssertionError("setup.py has no CONTAINER_PINS")


def test_every_container_pin_is_the_images_version():
    pins, image = container_pins(), read_pins()
    assert {"numpy", "pandas", "pyarrow", "scikit-learn", "xgboost-cpu"} <= set(pins)
    for name, version in pins.items():
        assert image.get(IMAGE_NAME.get(name, name)) == version, f"{name}=={version}: the image has another version"
