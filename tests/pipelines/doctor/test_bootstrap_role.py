"""What the doctor simulates for the execution role is what infrastructure/bootstrap.yaml grants it: a freshly
bootstrapped account passes the permissions row (conditions evaluated with the context the doctor sends)."""

from __future__ import annotations

import pytest
from moto import mock_aws

from pipelines.doctor.simulate import Target, pipeline_needs
from tests.infrastructure import iam_recorder
from tests.infrastructure.bootstrap_stack import NETWORK, create_stack, moto_build_types
from tests.infrastructure.iam_recorder import ACCOUNT, REGION


@pytest.fixture(scope="module")
def bootstrapped():
    with mock_aws(), moto_build_types():
        stack = create_stack(NETWORK)
    return stack, stack.role_statements("ExecutionRole")


def _needs(stack) -> list[iam_recorder.Need]:
    subnets = tuple(NETWORK["SubnetIds"].split(","))
    target = Target(
        ACCOUNT, REGION, stack.outputs["ArtifactBucketName"], "683313688378", stack.outputs["KmsKeyArn"], subnets
    )
    return [
        iam_recorder.Need(action, resource, need.context, need.what)
        for need in pipeline_needs(target)
        for action in need.actions
        for resource in need.resources
    ]


def test_the_bootstrap_execution_role_grants_every_simulated_need(bootstrapped):
    stack, statements = bootstrapped
    missing, _ = iam_recorder.evaluate(statements, _needs(stack))
    assert missing == []


def test_a_role_without_its_key_statement_would_fail(bootstrapped):
    stack, statements = bootstrapped
    without_kms = [
        s for s in statements if not any(str(a).startswith("kms:") for a in iam_recorder._as_list(s["Action"]))
    ]
    missing, _ = iam_recorder.evaluate(without_kms, _needs(stack))
    assert {n.action for n in missing} == {"kms:Decrypt", "kms:GenerateDataKey"}
