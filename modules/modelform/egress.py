"""How the platform's VPC workloads reach AWS APIs and image registries (`network.egress`).

The VPC has no internet gateway by default. Every workload that runs in it (EKS nodes and pods,
SageMaker endpoints, training and processing jobs attached to the private subnets) calls AWS
services at run time; `WORKLOAD_CALLS` says which, and both modes derive from it:
- `endpoints` (the default): one interface endpoint per service some planned workload calls
  (private DNS on, so SDKs need no configuration; a security group admitting HTTPS from the VPC
  only; an endpoint policy admitting only this account's callers or this account's resources),
  plus the S3 gateway endpoint. Nothing reaches the internet: images come from ECR only.
- `nat`: a public subnet, NAT gateway and Elastic IP per zone, and each private subnet's default
  route through its own zone's NAT gateway (a zone failure takes no other zone's egress down).
The plan's readiness check (`plan/readiness.py`) verifies the same table against what the plan
places in the VPC, so a workload whose calls lack a route is an error before `up`, not a timeout
after it.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

import pulumi
import pulumi_aws as aws

from . import iam
from .spec import Egress, PlatformSpec

#: Endpoint services (`com.amazonaws.<region>.<service>`) each VPC workload calls at run time.
WORKLOAD_CALLS: dict[str, tuple[str, ...]] = {
    # Node bootstrap and kubelet: instance metadata lookups, image pulls (ECR API, registry, and
    # S3 for the layers), IRSA and Pod Identity tokens, and the control plane's API.
    "eks-node": ("ec2", "ecr.api", "ecr.dkr", "s3", "sts", "eks", "eks-auth"),
    # The AWS Load Balancer Controller reconciles ALBs (WAF and Shield integrations are off).
    "load-balancer-controller": ("ec2", "elasticloadbalancing", "sts"),
    # Serving pods: the model fetch (DescribeModelPackage, S3) and data capture (S3), with IRSA.
    "serving-pod": ("sagemaker.api", "s3", "sts"),
    # EKS training pods: code, data and model artifacts in S3, with IRSA.
    "training-pod": ("s3", "sts"),
    # The monitoring job (a processing job in the private subnets) publishes its metrics.
    "monitoring-job": ("monitoring", "s3"),
    # SageMaker endpoints and training jobs attached to the VPC read and write S3.
    "sagemaker-job": ("s3",),
    # Applications inside the VPC that invoke the SageMaker endpoints.
    "endpoint-caller": ("sagemaker.runtime",),
}
#: Services reached through a gateway endpoint (route tables), not an interface endpoint.
GATEWAY_SERVICES = frozenset({"s3"})


def planned_workloads(spec: PlatformSpec) -> tuple[str, ...]:
    """The workloads the platform hosts: SageMaker's always; EKS's when it has clusters."""
    workloads = ["monitoring-job", "sagemaker-job", "endpoint-caller"]
    if spec.clusters:
        workloads += ["eks-node", "load-balancer-controller", "serving-pod", "training-pod"]
    return tuple(sorted(workloads))


def interface_services(spec: PlatformSpec) -> tuple[str, ...]:
    """The interface endpoints the `endpoints` mode creates: every call of every planned workload."""
    called = {service for workload in planned_workloads(spec) for service in WORKLOAD_CALLS[workload]}
    return tuple(sorted(called - GATEWAY_SERVICES))


def public_subnet_blocks(vpc_cidr: str, zones: int) -> list[str]:
    """Small public subnets (for NAT gateways only) carved from the last block of the VPC, which
    `platform.private_subnet_blocks` leaves free."""
    network = ipaddress.IPv4Network(vpc_cidr)
    last = list(network.subnets(new_prefix=network.prefixlen + max(1, (2 * zones - 1).bit_length())))[-1]
    pieces = list(last.subnets(new_prefix=min(28, last.prefixlen + max(1, (zones - 1).bit_length()))))
    return [str(block) for block in pieces[:zones]]


class VpcEgress(pulumi.ComponentResource):
    """The egress of the platform's VPC: interface endpoints or NAT gateways (see the module doc).

    `security_group_id` is the group the platform's workloads may send HTTPS to (the endpoints'),
    None with NAT; `interface_endpoints` maps a service to its endpoint."""

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        *,
        vpc: aws.ec2.Vpc,
        private_subnets: list[aws.ec2.Subnet],
        private_route_tables: list[aws.ec2.RouteTable],
        zone_names: pulumi.Output,
        account_id: pulumi.Output,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:egress:VpcEgress", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.interface_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        self.security_group_id: Optional[pulumi.Output] = None
        if spec.network.egress is Egress.ENDPOINTS:
            group = aws.ec2.SecurityGroup(
                f"{name}-endpoints",
                vpc_id=vpc.id,
                description="AWS service endpoints: HTTPS from inside the VPC only",
                ingress=[
                    {
                        "description": "HTTPS from the VPC",
                        "protocol": "tcp",
                        "from_port": 443,
                        "to_port": 443,
                        "cidr_blocks": [spec.network.vpc_cidr],
                    }
                ],
                egress=[],
                tags={"Name": f"{name}-endpoints"},
                opts=child,
            )
            self.security_group_id = group.id
            policy = account_id.apply(iam.endpoint_policy)
            for service in interface_services(spec):
                self.interface_endpoints[service] = aws.ec2.VpcEndpoint(
                    f"{name}-{service.replace('.', '-')}",
                    vpc_id=vpc.id,
                    service_name=f"com.amazonaws.{spec.region}.{service}",
                    vpc_endpoint_type="Interface",
                    private_dns_enabled=True,
                    subnet_ids=[s.id for s in private_subnets],
                    security_group_ids=[group.id],
                    policy=policy,
                    tags={"Name": f"{name}-{service}"},
                    opts=child,
                )
        else:
            self._nat(name, spec, vpc, private_route_tables, zone_names, child)
        self.register_outputs({})

    def _nat(self, name, spec, vpc, private_route_tables, zone_names, child) -> None:
        gateway = aws.ec2.InternetGateway(
            f"{name}-internet", vpc_id=vpc.id, tags={"Name": f"{name}-internet"}, opts=child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public-routes",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags={"Name": f"{name}-public"},
            opts=child,
        )
        for index, block in enumerate(public_subnet_blocks(spec.network.vpc_cidr, spec.network.availability_zones)):
            label = f"{name}-public-{index + 1}"
            subnet = aws.ec2.Subnet(
                label,
                vpc_id=vpc.id,
                cidr_block=block,
                availability_zone=zone_names.apply(lambda names, index=index: sorted(names)[index]),
                map_public_ip_on_launch=False,  # only the NAT gateway's Elastic IP is public
                tags={"Name": label, "modelform:tier": "public"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{label}-routes", subnet_id=subnet.id, route_table_id=public_routes.id, opts=child
            )
            address = aws.ec2.Eip(f"{label}-nat-ip", domain="vpc", tags={"Name": f"{label}-nat"}, opts=child)
            nat = aws.ec2.NatGateway(
                f"{label}-nat",
                subnet_id=subnet.id,
                allocation_id=address.id,
                tags={"Name": f"{label}-nat"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
            )
            self.nat_gateways.append(nat)
            aws.ec2.Route(
                f"{name}-private-{index + 1}-default",
                route_table_id=private_route_tables[index].id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child,
            )
