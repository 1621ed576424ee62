"""VPC endpoints of the subnets' VPC, against moto EC2."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipelines.doctor.network import INTERFACE_SERVICES, check_endpoints
from tests.pipelines.doctor.stubs import REGION, stubbed


@pytest.fixture
def vpc():
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        yield ec2, vpc_id, subnet


def _endpoint(ec2, vpc_id: str, service: str) -> None:
    kind = "Gateway" if service == "s3" else "Interface"
    ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName=f"com.amazonaws.{REGION}.{service}", VpcEndpointType=kind)


def test_endpoints_pass_when_all_exist(vpc):
    ec2, vpc_id, subnet = vpc
    for service in ("s3", *INTERFACE_SERVICES):
        _endpoint(ec2, vpc_id, service)
    row = check_endpoints(ec2, [subnet], REGION)
    assert row.status == "pass" and vpc_id in row.detail


def test_endpoints_fail_names_the_missing_ones(vpc):
    ec2, vpc_id, subnet = vpc
    for service in ("sagemaker.api", "logs"):
        _endpoint(ec2, vpc_id, service)
    row = check_endpoints(ec2, [subnet], REGION)
    assert row.status == "fail"
    assert "s3, sagemaker.runtime, monitoring, sts, ecr.api, ecr.dkr" in row.detail
    assert f"Gateway endpoint for com.amazonaws.{REGION}.s3" in row.fix and "ecr.dkr" in row.fix


def test_endpoints_pass_without_them_when_every_subnet_routes_through_nat(vpc):
    ec2, vpc_id, subnet = vpc
    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    assert check_endpoints(ec2, [subnet], REGION).status == "fail"  # its own table has no default route yet
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    row = check_endpoints(ec2, [subnet], REGION)
    assert row.status == "pass" and "NAT gateway" in row.detail
    assert check_endpoints(ec2, [subnet, public], REGION).status == "fail"  # the public one uses the main table


def test_endpoints_fail_for_unknown_subnets_or_subnets_of_two_vpcs(vpc):
    ec2, _, subnet = vpc
    assert check_endpoints(ec2, ["subnet-00000000"], REGION).status == "fail"
    other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    second = ec2.create_subnet(VpcId=other, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    row = check_endpoints(ec2, [subnet, second], REGION)
    assert row.status == "fail" and "one VPC" in row.fix


def test_endpoints_cannot_tell_when_refused():
    ec2, stubber = stubbed("ec2")
    stubber.add_client_error("describe_subnets", "UnauthorizedOperation", "no")
    assert check_endpoints(ec2, ["subnet-1"], REGION).status == "cannot-tell"
