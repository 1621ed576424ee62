"""``mlops bootstrap``: the deploy's account, mlops.yaml filled in place (or the lines to add), and the one-line
errors (moto with the stand-in template; nothing reaches AWS)."""

from __future__ import annotations

import pytest

from pipelines.account import bootstrap as bootstrap_module
from pipelines.account import config_edit
from pipelines.cli import build_parser, main
from pipelines.commands.bootstrap import _bootstrap
from tests.pipelines.account.conftest import ROLE, aws, config_file, stand_in

__all__ = ["aws", "config_file", "stand_in"]


def _args(config_file, *extra):
    return build_parser().parse_args(["bootstrap", "--backend", "sagemaker", "--config", str(config_file), *extra])


@pytest.fixture
def deployed(aws, stand_in, monkeypatch):
    """The bootstrap stack as a finished deploy left it (moto's change sets give no outputs, create_stack does)."""
    monkeypatch.setattr(bootstrap_module, "TEMPLATE", stand_in)
    cfn = aws.client("cloudformation")
    given = {"ProjectName": "abalone", "FrameworkImageAccount": "683313688378", "BranchName": "main"}
    cfn.create_stack(
        StackName="abalone-bootstrap",
        TemplateBody=stand_in.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()],
    )
    return cfn


def test_the_outputs_are_written_into_mlops_yaml(deployed, config_file, capsys):
    assert _bootstrap(_args(config_file), cfn=deployed, image_account="683313688378") == 0
    out = capsys.readouterr().out
    assert "Applied stack abalone-bootstrap (UPDATE)\n  parameter CodeSource: (empty) -> none\n" in out
    assert f"Wrote sagemaker.role_arn, sagemaker.bucket and sagemaker.kms_key_id into {config_file}" in out
    text = config_file.read_text(encoding="utf-8")
    assert f"  role_arn: {ROLE}  # required for the cloud: --role-arn or here" in text
    assert "  bucket: abalone-artifacts-123456789012  # required for the cloud: --bucket or here" in text


def test_an_unwritable_mlops_yaml_gets_the_lines_to_add(deployed, config_file, capsys, monkeypatch):
    original = config_file.read_bytes()
    monkeypatch.setattr(config_edit.os, "access", lambda path, mode: False)  # root writes anything: fake the check
    assert _bootstrap(_args(config_file), cfn=deployed, image_account="683313688378") == 0
    captured = capsys.readouterr()
    assert f"{config_file} not written ({config_file} is not writable); add under sagemaker:" in captured.err
    assert f"  role_arn: {ROLE}\n  bucket: abalone-artifacts-123456789012\n  kms_key_id: arn:aws:kms:" in captured.out
    assert config_file.read_bytes() == original


def test_a_dry_run_changes_nothing(aws, stand_in, config_file, capsys, monkeypatch):
    monkeypatch.setattr(bootstrap_module, "TEMPLATE", stand_in)
    original = config_file.read_bytes()
    cfn = aws.client("cloudformation")
    assert _bootstrap(_args(config_file, "--dry-run"), cfn=cfn, image_account="683313688378") == 0
    out = capsys.readouterr().out
    assert "Would apply stack abalone-bootstrap (CREATE)" in out and "AWS::S3::Bucket" in out
    assert "Dry run: nothing changed" in out
    assert config_file.read_bytes() == original
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in cfn.list_stacks()["StackSummaries"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "local"], "mlops bootstrap: error: --backend 'local': mlops bootstrap acts on an AWS account"),
        (
            ["--backend", "sagemaker", "--code-source", "codecommit"],
            "mlops bootstrap: error: --code-source codecommit needs --repository NAME",
        ),
    ],
)
def test_bad_input_is_one_line(argv, message, config_file, capsys, monkeypatch):
    monkeypatch.setattr(bootstrap_module, "image_accounts", lambda config: ("683313688378", "156813124566"))
    assert main(["bootstrap", *argv, "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_a_dry_run_of_the_real_template_lists_its_resources_and_leaves_nothing(aws, config_file, capsys, monkeypatch):
    monkeypatch.setattr(bootstrap_module, "image_accounts", lambda config: ("683313688378", "156813124566"))
    assert main(["bootstrap", "--backend", "sagemaker", "--dry-run", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Would apply stack abalone-bootstrap (CREATE)\n")
    for resource in ("AWS::KMS::Key", "AWS::S3::Bucket", "AWS::IAM::Role", "AWS::CodeBuild::Project"):
        assert resource in out
    stacks = aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks)
