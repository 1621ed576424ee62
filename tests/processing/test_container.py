"""The container-program shell the processing steps share: exit codes and the failure reason SageMaker reads."""

from __future__ import annotations

import pytest

from processing.container import run_program


class BadInput(ValueError):
    pass


def test_a_finished_program_exits_0_and_leaves_no_failure_reason(tmp_path):
    failure = tmp_path / "output" / "message"
    assert run_program("Step", lambda: None, BadInput, failure) == 0
    assert not failure.exists()


def test_an_expected_error_exits_1_with_its_message_as_the_failure_reason(tmp_path, caplog):
    failure = tmp_path / "output" / "message"

    def work() -> None:
        raise BadInput("column 'rings' of data.csv line 3 must be a number, got 'x'")

    assert run_program("Step", work, BadInput, failure) == 1
    assert failure.read_text(encoding="utf-8") == "column 'rings' of data.csv line 3 must be a number, got 'x'\n"
    assert "line 3 must be a number" in caplog.text


def test_an_unexpected_error_is_named_as_such_and_raised_again_for_its_traceback(tmp_path):
    failure = tmp_path / "output" / "message"

    def work() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        run_program("Step", work, BadInput, failure)
    assert failure.read_text(encoding="utf-8") == "Step failed unexpectedly: KeyError: 'boom'\n"
