"""``mlops destroy``: the list, the question (yes or the project name; anything else deletes nothing), --dry-run,
and the one-line errors (moto and Stubber: nothing reaches AWS)."""

from __future__ import annotations

import pytest

from pipelines.cli import build_parser, main
from pipelines.errors import UsageError
from tests.pipelines.account.conftest import aws, config_file
from tests.pipelines.account.test_destroy import NOW, SCHEDULE, _clients, account

__all__ = ["account", "aws", "config_file"]


def _args(config_file, *extra):
    return build_parser().parse_args(["destroy", "--backend", "sagemaker", "--config", str(config_file), *extra])


def _endpoint_exists(account) -> bool:
    return bool(account.client("sagemaker").list_endpoints()["Endpoints"])


def test_a_dry_run_lists_in_order_and_deletes_nothing(account, config_file, capsys):
    clients, stubber = _clients(account, [SCHEDULE])
    args = _args(config_file, "--dry-run")
    with stubber:
        assert args.handler(args, clients=clients) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Would delete, in this order (us-east-1):"
    assert out[1].split() == ["monitoring", "schedule", SCHEDULE]
    assert [line.split()[0] for line in out[-3:]] == ["bucket", "stack", "bucket"]
    assert _endpoint_exists(account)


@pytest.mark.parametrize("answer", ["no", "", "y"])
def test_anything_but_yes_or_the_project_name_deletes_nothing(account, config_file, answer):
    clients, stubber = _clients(account, [])
    args = _args(config_file)
    with stubber, pytest.raises(UsageError, match=f"not confirmed \\(answered '{answer}'\\): nothing deleted"):
        args.handler(args, clients=clients, ask=lambda prompt: answer, wait=NOW)
    assert _endpoint_exists(account)


def test_typing_the_project_name_deletes_with_keep_data(account, config_file, capsys):
    clients, stubber = _clients(account, [])
    args = _args(config_file, "--keep-data")
    asked: list[str] = []
    with stubber:
        assert args.handler(args, clients=clients, ask=lambda p: asked.append(p) or "abalone", wait=NOW) == 0
    assert asked == ["Delete these 8 resources? Type yes or the project name (abalone): "]
    out = capsys.readouterr().out
    assert "Kept (--keep-data): the bucket's objects and the bootstrap stack" in out and "Deleted 8 resources" in out
    assert "Not deleted (they cost nothing while unused): pipeline abalone-pipeline, model package group" in out
    assert not _endpoint_exists(account)
    assert account.client("cloudformation").describe_stacks(StackName="abalone-bootstrap")["Stacks"]


def test_an_unknown_backend_is_one_line(config_file, capsys):
    assert main(["destroy", "--backend", "local", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "mlops destroy: error: --backend 'local': mlops destroy acts on an AWS account, so the only backend is "
        "sagemaker (the local backend needs no setup or teardown)\n"
    )
