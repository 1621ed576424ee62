"""VPC endpoints a job in private subnets needs: S3 (gateway), SageMaker API and runtime, logs, monitoring, STS, ECR."""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.doctor.result import AWS_ERRORS, FAIL, PASS, CheckResult, error_code, unknown

ENDPOINTS = "VPC endpoints"
INTERFACE_SERVICES = ("sagemaker.api", "sagemaker.runtime", "logs", "monitoring", "sts", "ecr.api", "ecr.dkr")


def check_endpoints(ec2, subnets: Sequence[str], region: str) -> CheckResult:
    """The subnets' VPC has an available endpoint for each service the jobs call, or every subnet reaches the
    public service endpoints through a NAT gateway."""
    try:
        vpcs = {s["VpcId"] for s in ec2.describe_subnets(SubnetIds=list(subnets))["Subnets"]}
    except AWS_ERRORS as exc:
        if error_code(exc) in ("InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"):
            fix = "set sagemaker.subnets to subnets of this account and region"
            return CheckResult(ENDPOINTS, FAIL, f"subnets {', '.join(subnets)}: {error_code(exc)}", fix)
        return unknown(ENDPOINTS, "ec2 describe-subnets", exc, "grant the caller ec2:DescribeSubnets")
    if len(vpcs) != 1:
        fix = "set sagemaker.subnets to subnets of one VPC"
        return CheckResult(ENDPOINTS, FAIL, f"subnets span VPCs {', '.join(sorted(vpcs))}", fix)
    vpc = vpcs.pop()
    try:
        present = _endpoints(ec2, vpc)
    except AWS_ERRORS as exc:
        return unknown(ENDPOINTS, "ec2 describe-vpc-endpoints", exc, "grant the caller ec2:DescribeVpcEndpoints")
    missing = [s for s in ("s3", *INTERFACE_SERVICES) if f"com.amazonaws.{region}.{s}" not in present]
    if missing and _all_through_nat(ec2, subnets, vpc):
        detail = f"{vpc} lacks endpoints for {', '.join(missing)}; every subnet routes 0.0.0.0/0 through a NAT gateway"
        return CheckResult(ENDPOINTS, PASS, detail)
    if missing:
        s3 = f"a Gateway endpoint for com.amazonaws.{region}.s3" if "s3" in missing else ""
        interfaces = [f"com.amazonaws.{region}.{s}" for s in missing if s != "s3"]
        parts = [p for p in (s3, f"Interface endpoints for {', '.join(interfaces)}" if interfaces else "") if p]
        fix = f"create in {vpc} (private DNS on): {'; '.join(parts)}"
        return CheckResult(ENDPOINTS, FAIL, f"{vpc} lacks endpoints for {', '.join(missing)}", fix)
    return CheckResult(ENDPOINTS, PASS, f"{vpc} has endpoints for s3, {', '.join(INTERFACE_SERVICES)}")


def _endpoints(ec2, vpc: str) -> set[str]:
    """Service names of the VPC's usable endpoints (available or pending acceptance)."""
    names: set[str] = set()
    pages = ec2.get_paginator("describe_vpc_endpoints").paginate(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    for page in pages:
        for endpoint in page["VpcEndpoints"]:
            if str(endpoint.get("State", "available")).lower() in ("available", "pending"):
                names.add(endpoint["ServiceName"])
    return names


def _all_through_nat(ec2, subnets: Sequence[str], vpc: str) -> bool:
    """Whether each subnet's route table (its own, else the VPC's main one) sends 0.0.0.0/0 to a NAT gateway."""
    try:
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    except AWS_ERRORS:
        return False
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
    for subnet in subnets:
        own = [t for t in tables if any(a.get("SubnetId") == subnet for a in t.get("Associations", []))]
        table = own[0] if own else main
        routes = table.get("Routes", []) if table else []
        if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("NatGatewayId") for r in routes):
            return False
    return True
