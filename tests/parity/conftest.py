"""Fixtures of the parity suite: the image's environment (built once, cached), one local pipeline run shared by
every parity test, a fresh container per test, and the guarantee that nothing writes /opt/ml on the host."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.parity.container import OPT_ML, Container
from tests.parity.environment import (
    ParityEnvironment,
    ParityEnvironmentError,
    ensure_environment,
    fallback_notice,
    find_interpreter,
)
from tests.parity.pipeline_run import LocalRun, run_pipeline


class ParityFallbackWarning(UserWarning):
    """The image's pins ran on another Python than the image's 3.10."""


def _opt_ml_snapshot() -> list[tuple[str, int]] | None:
    root = Path(OPT_ML)
    if not root.exists():
        return None
    return sorted((str(p), p.stat().st_mtime_ns) for p in [root, *root.rglob("*")])


@pytest.fixture(scope="session")
def parity_environment() -> ParityEnvironment:
    """The image's Python environment; a build that cannot be done fails the tests with pip's message."""
    try:
        interpreter = find_interpreter()
        notice = fallback_notice(interpreter)
        if notice:
            warnings.warn(notice, ParityFallbackWarning, stacklevel=1)
        return ensure_environment(interpreter)
    except ParityEnvironmentError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> LocalRun:
    """The project's pipeline run once by the local runner, shared by the parity tests."""
    return run_pipeline(tmp_path_factory.mktemp("parity-state"))


@pytest.fixture(autouse=True)
def _host_opt_ml_untouched() -> Iterator[None]:
    """No parity test may create or change /opt/ml on the host (the containers' /opt/ml is their base dir)."""
    before = _opt_ml_snapshot()
    yield
    assert _opt_ml_snapshot() == before, f"{OPT_ML} on the host was created or changed by a parity test"


@pytest.fixture
def container(parity_environment, tmp_path) -> Container:
    """A fresh container: its own SAGEMAKER_BASE_DIR under tmp_path, overlay virtualenv, HOME and TEMP."""
    return Container(parity_environment, tmp_path / "container")
