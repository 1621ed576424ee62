"""``mlops smoke``: the estimate comes first, then the question (anything but yes starts nothing), --yes skips it,
and the stages run in order (a recording stand-in for the real run: nothing reaches AWS)."""

from __future__ import annotations

import re
from typing import ClassVar

import pytest

from pipelines.account.smoke import SmokeError, Stage
from pipelines.cli import build_parser, main
from pipelines.errors import StateError, UsageError
from tests.pipelines.account.conftest import config_file

__all__ = ["config_file"]
STAGES = ["bootstrap", "run-pipeline --wait", "approve", "deploy", "invoke", "monitoring run", "destroy"]


class Recorded:
    """Stands in for SmokeRun: records which stages ran; ``fail`` names one that fails."""

    created: ClassVar[list[Recorded]] = []
    fail = ""

    def __init__(self, path, config, session) -> None:
        self.ran: list[str] = []
        Recorded.created.append(self)

    def stages(self) -> list[Stage]:
        def run(name: str):
            def stage() -> str:
                self.ran.append(name)
                if name == Recorded.fail:
                    raise StateError(f"{name} broke")
                return "ok"

            return stage

        return [
            Stage(name, run(name), f"what {name} made" if name in ("bootstrap", "deploy") else "") for name in STAGES
        ]


@pytest.fixture(autouse=True)
def _fresh():
    Recorded.created, Recorded.fail = [], ""


def _args(config_file, *extra):
    return build_parser().parse_args(["smoke", "--backend", "sagemaker", "--config", str(config_file), *extra])


def test_the_estimate_is_printed_before_the_question_and_a_refusal_starts_nothing(config_file, capsys):
    asked: list[str] = []
    args = _args(config_file)
    with pytest.raises(UsageError, match=r"not confirmed \(answered 'no'\): nothing started"):
        args.handler(args, session=object(), ask=lambda prompt: asked.append(prompt) or "no", runner=Recorded)
    assert capsys.readouterr().out.startswith("Estimated cost of this smoke run")
    assert asked and Recorded.created == []


def test_yes_runs_every_stage_in_order(config_file, capsys):
    args = _args(config_file, "--yes")
    assert args.handler(args, session=object(), ask=lambda prompt: pytest.fail("asked"), runner=Recorded) == 0
    assert Recorded.created[0].ran == STAGES
    assert capsys.readouterr().out.endswith("Smoke run passed: every stage succeeded and its resources are deleted\n")


def test_a_failing_stage_stops_the_run_and_names_what_is_left(config_file):
    Recorded.fail = "invoke"
    args = _args(config_file, "--yes")
    with pytest.raises(
        SmokeError,
        match=re.escape("'invoke' failed: invoke broke. Left in the account: what bootstrap made; what deploy made"),
    ):
        args.handler(args, session=object(), runner=Recorded)
    assert Recorded.created[0].ran == STAGES[:5]


def test_an_unknown_backend_is_one_line(config_file, capsys):
    assert main(["smoke", "--backend", "local", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops smoke: error: --backend 'local'") and err.count("\n") == 1
