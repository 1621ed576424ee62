"""A cached ``mlops run`` never builds the definition: a pytest-mock spy on the real builder (it still runs)."""

from __future__ import annotations

import pipelines.build
from pipelines.cli import main
from tests.conftest import ROOT


def test_a_run_whose_definition_is_cached_never_calls_the_builder(tmp_path, mocker, capsys):
    builder = mocker.spy(pipelines.build, "build_definition")
    command = ["run", "--config", str(ROOT / "mlops.yaml"), "--state-dir", str(tmp_path), "--quiet"]

    assert main(command) == 0
    assert builder.call_count == 1  # the first run builds, through the function spied on
    (cached,) = (tmp_path / "definitions").glob("*.json")
    assert cached.read_text(encoding="utf-8") == builder.spy_return.json
    assert "definition built" in capsys.readouterr().out

    builder.reset_mock()
    assert main(command) == 0
    assert builder.call_count == 0, "the cached run built the definition again"
    assert "definition from cache" in capsys.readouterr().out
