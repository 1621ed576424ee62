"""``mlops doctor``: the table, --json and the exit code (0 nothing fails, 1 a check fails, 2 usage errors)."""

from __future__ import annotations

import argparse
import json

import boto3
import pytest
from botocore.stub import ANY
from moto import mock_aws

from pipelines.cli import main
from pipelines.commands.doctor import _doctor
from pipelines.doctor import DoctorClients
from pipelines.doctor.simulate import Target, pipeline_needs
from tests.pipelines.doctor.stubs import ACCOUNT, REGION, ROLE_ARN, add_quotas, add_simulations, default_quotas, stubbed

BUCKET = "abalone-artefacts"
TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]
}


@pytest.fixture
def account(tmp_path, monkeypatch):
    """A healthy account: moto bucket (versioned, encrypted); role and quotas stubbed; the config pointing at them."""
    path = tmp_path / "mlops.yaml"
    path.write_text(f"project:\n  region: {REGION}\nsagemaker:\n  role_arn: {ROLE_ARN}\n  bucket: {BUCKET}\n")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        iam, iam_stub = stubbed("iam")
        role = {"Path": "/", "RoleName": "abalone-execution", "RoleId": "AROAEXAMPLE000000000", "Arn": ROLE_ARN}
        role.update(CreateDate="2026-01-01T00:00:00Z", AssumeRolePolicyDocument=json.dumps(TRUST))
        iam_stub.add_response("get_role", {"Role": role}, {"RoleName": "abalone-execution"})
        add_simulations(iam_stub, pipeline_needs(Target(ACCOUNT, REGION, BUCKET, "683313688378")))
        passing = {"EvaluationResults": [{"EvalActionName": "iam:PassRole", "EvalDecision": "allowed"}]}
        iam_stub.add_response("simulate_principal_policy", passing, PASS_ROLE_PARAMS)  # the caller's PassRole
        quotas, quota_stub = stubbed("service-quotas")
        session = boto3.Session(region_name=REGION)
        clients = DoctorClients(
            session.client("sts"), iam, s3, session.client("kms"), session.client("ec2"), quotas, None
        )
        monkeypatch.setattr(DoctorClients, "from_session", classmethod(lambda cls, session: clients))
        yield path, quota_stub


PASS_ROLE_PARAMS = {"PolicySourceArn": ANY, "ActionNames": ANY, "ResourceArns": ANY, "ContextEntries": ANY}


def test_healthy_account_prints_the_table_and_exits_0(account, capsys):
    path, quota_stub = account
    add_quotas(quota_stub, default_quotas(1))
    assert main(["doctor", "--backend", "sagemaker", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS  credentials and region" in out and "PASS  quota: ml.m5.large for endpoint usage" in out
    assert "PASS  iam:PassRole for the caller" in out and "fix:" not in out
    assert out.rstrip().endswith("11 checks: 11 pass, 0 fail, 0 cannot tell")


def test_a_failing_check_exits_1_with_its_fix(account, capsys):
    path, quota_stub = account
    add_quotas(quota_stub, [dict(q, Value=0.0) if "training" in q["QuotaName"] else q for q in default_quotas(1)])
    assert main(["doctor", "--config", str(path), "--json"]) == 1
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    failed = rows["quota: ml.m5.xlarge for training job usage"]
    assert failed["status"] == "fail" and "request-service-quota-increase" in failed["fix"]
    assert [r["status"] for r in rows.values()].count("fail") == 1


def test_usage_and_config_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--backend", "local"])
    assert exc.value.code == 2
    bad = tmp_path / "mlops.yaml"
    bad.write_text("sagemaker:\n  role_arn: not-an-arn\n")
    assert main(["doctor", "--config", str(bad)]) == 2
    assert "mlops doctor: error:" in capsys.readouterr().err


def test_without_credentials_every_aws_check_cannot_tell(tmp_path, capsys):
    path = tmp_path / "mlops.yaml"
    path.write_text(f"sagemaker:\n  role_arn: {ROLE_ARN}\n  bucket: {BUCKET}\n")
    sts, stubber = stubbed("sts")
    stubber.add_client_error("get_caller_identity", "ExpiredToken", "expired")
    clients = DoctorClients(sts, None, None, None, None, None, None)
    args = argparse.Namespace(config=str(path), region=None, role_arn=None, bucket=None, json=False)
    assert _doctor(args, clients) == 1
    out = capsys.readouterr().out
    assert "FAIL  credentials and region" in out and "????  execution role trust" in out
    assert "PASS  framework image" in out


def test_rows_for_a_key_subnets_and_model_monitor_are_listed_even_without_credentials(tmp_path, capsys):
    path = tmp_path / "mlops.yaml"
    path.write_text(
        f"sagemaker:\n  role_arn: {ROLE_ARN}\n  bucket: {BUCKET}\n  kms_key_id: alias/abalone\n"
        "  subnets: [subnet-1]\n  security_group_ids: [sg-1]\nmonitoring:\n  engine: model-monitor\n"
    )
    sts, stubber = stubbed("sts")
    stubber.add_client_error("get_caller_identity", "ExpiredToken", "expired")
    args = argparse.Namespace(config=str(path), region=None, role_arn=None, bucket=None, json=True)
    assert _doctor(args, DoctorClients(sts, None, None, None, None, None, None)) == 1
    rows = {row["name"]: row["status"] for row in json.loads(capsys.readouterr().out)}
    assert rows["KMS key policy"] == rows["VPC endpoints"] == rows["Model Monitor"] == "cannot-tell"
