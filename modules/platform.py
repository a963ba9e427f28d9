"""The shared platform of one environment: network, encryption key, and buckets.

`Platform` provisions, for a `PlatformSpec` in one environment:
- a VPC with one private subnet per availability zone (no internet gateway, no NAT: model
  containers run network-isolated), a private route table with an S3 gateway endpoint (SageMaker
  reads model artifacts and writes captures through it), and a security group for model
  containers whose only egress is HTTPS to S3 through that endpoint;
- one customer-managed KMS key (rotated yearly) with an alias, for buckets, endpoint volumes and
  data capture;
- buckets (`SecureBucket`): `<platform>-artifacts` (model artifacts and code, one prefix per
  model), `<platform>-capture` (endpoint data capture, one prefix per model) and
  `<platform>-access-logs` (their server access logs).

and one `EksCluster` per spec cluster (control plane, managed node groups, OIDC provider).
Data-bearing resources (key, buckets) are protected and retained in prod.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from .eks_cluster import EksCluster, EksClusterArgs
from .secure_bucket import SecureBucket, SecureBucketArgs
from .spec import PlatformSpec
from .tags import platform_tags

#: Platform stack outputs that model stacks read through a StackReference.
OUTPUT_NAMES = (
    "region",
    "vpcId",
    "privateSubnetIds",
    "modelSecurityGroupId",
    "kmsKeyArn",
    "artifactBucket",
    "captureBucket",
    "logBucket",
)


@dataclass
class PlatformArgs:
    """Inputs of `Platform`.

    region: AWS region, e.g. us-east-1.
    vpc_cidr: the VPC block (RFC 1918, /16 to /24).
    availability_zones: how many zones get a private subnet (2 to 6).
    protect: protect and retain data-bearing resources. Defaults to False.
    tags: merged into every taggable child.
    """

    region: str
    vpc_cidr: str
    availability_zones: int
    name: str = ""
    clusters: tuple = ()
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def platform_args(spec: PlatformSpec) -> PlatformArgs:
    """Spec -> args: pure, tested without Pulumi."""
    return PlatformArgs(
        name=spec.name,
        clusters=spec.clusters,
        region=spec.region,
        vpc_cidr=spec.network.vpc_cidr,
        availability_zones=spec.network.availability_zones,
        protect=spec.environment == "prod",
        tags=platform_tags(spec.tags, spec.name, spec.environment),
    )


def private_subnet_blocks(vpc_cidr: str, zones: int) -> list[str]:
    """Equal private subnets, one per zone, leaving half of the VPC free for later (EKS pods)."""
    network = ipaddress.IPv4Network(vpc_cidr)
    # Split into 2*zones rounded up to a power of two; the first `zones` blocks are used.
    new_prefix = network.prefixlen + max(1, (2 * zones - 1).bit_length())
    return [str(block) for block in list(network.subnets(new_prefix=new_prefix))[:zones]]


def key_policy(account_id: str) -> str:
    """The account administers and uses the key through IAM (the default); CloudWatch alarms and
    EventBridge may encrypt messages to the KMS-encrypted alert topics, for this account only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministersThroughIam", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "AlarmsAndEventsPublishToEncryptedTopics", "Effect": "Allow",
         "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    ]}, sort_keys=True)


def zone_names(region: str, zones: int) -> list[str]:
    """The first `zones` availability zones of the region by letter (a, b, c, ...)."""
    return [f"{region}{letter}" for letter in "abcdef"[:zones]]


class Platform(pulumi.ComponentResource):
    """The network, key and buckets that every model stack of an environment uses."""

    def __init__(self, name: str, args: PlatformArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:platform:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        data = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        tags = dict(args.tags)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        route_table = aws.ec2.RouteTable(
            f"{name}-private-routes", vpc_id=self.vpc.id, tags={**tags, "Name": f"{name}-private"}, opts=child
        )
        self.private_subnets = []
        zones = zone_names(args.region, args.availability_zones)
        for zone, block in zip(zones, private_subnet_blocks(args.vpc_cidr, args.availability_zones)):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{zone[-1]}",
                vpc_id=self.vpc.id,
                cidr_block=block,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{name}-private-{zone[-1]}", "modelform:tier": "private"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone[-1]}-routes", subnet_id=subnet.id, route_table_id=route_table.id, opts=child
            )
            self.private_subnets.append(subnet)
        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[route_table.id],
            tags={**tags, "Name": f"{name}-s3"},
            opts=child,
        )
        self.model_security_group = aws.ec2.SecurityGroup(
            f"{name}-models",
            vpc_id=self.vpc.id,
            description="Model containers: no inbound; outbound HTTPS to S3 through the gateway endpoint only",
            egress=[
                {
                    "description": "HTTPS to S3 (gateway endpoint)",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "prefix_list_ids": [s3_endpoint.prefix_list_id],
                }
            ],
            tags={**tags, "Name": f"{name}-models"},
            opts=child,
        )

        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"modelform {name}: buckets, endpoint volumes, data capture, alert topics",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account_id.apply(key_policy),
            tags=tags,
            opts=data,
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/modelform/{name}", target_key_id=self.key.key_id, opts=child)

        bucket_opts = pulumi.ResourceOptions(parent=self)
        self.log_bucket = SecureBucket(
            f"{name}-access-logs", SecureBucketArgs(None, None, args.protect, tags), bucket_opts
        )
        self.artifact_bucket = SecureBucket(
            f"{name}-artifacts",
            SecureBucketArgs(self.key.arn, self.log_bucket.bucket.bucket, args.protect, tags),
            bucket_opts,
        )
        self.capture_bucket = SecureBucket(
            f"{name}-capture",
            SecureBucketArgs(self.key.arn, self.log_bucket.bucket.bucket, args.protect, tags),
            bucket_opts,
        )
        self.clusters = {
            cluster.name: EksCluster(f"{name}-{cluster.name}", EksClusterArgs(
                platform=args.name or name, cluster=cluster, region=args.region,
                subnet_ids=[s.id for s in self.private_subnets], kms_key_arn=self.key.arn,
                protect=args.protect, tags=tags), pulumi.ResourceOptions(parent=self))
            for cluster in args.clusters
        }
        self.outputs = {
            "region": args.region,
            "vpcId": self.vpc.id,
            "privateSubnetIds": pulumi.Output.all(*[s.id for s in self.private_subnets]),
            "modelSecurityGroupId": self.model_security_group.id,
            "kmsKeyArn": self.key.arn,
            "artifactBucket": self.artifact_bucket.bucket.bucket,
            "captureBucket": self.capture_bucket.bucket.bucket,
            "logBucket": self.log_bucket.bucket.bucket,
            "clusters": {cluster: component.outputs for cluster, component in self.clusters.items()},
        }
        self.register_outputs(self.outputs)
