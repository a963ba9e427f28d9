"""The shared platform of one environment: network, encryption key, buckets and EKS clusters.

`Platform` provisions, for a `PlatformSpec` in one environment:
- a VPC with one private subnet and route table in each of the region's first
  `availability_zones` zones (asked of AWS, `aws.get_availability_zones`), an S3 gateway endpoint
  on every route table (SageMaker reads model artifacts and writes captures through it), the
  VPC's egress (`VpcEgress`: interface endpoints, or NAT per zone), and a security group for model
  containers whose only egress is HTTPS to S3 and to the AWS APIs;
- the ECR repository of the serving image `<platform>/serve` (immutable tags, scan on push, KMS,
  a lifecycle keeping the newest `KEEP_IMAGES`);
- one customer-managed KMS key (rotated yearly) with an alias, for buckets, endpoint volumes,
  data capture and alert topics;
- buckets (`SecureBucket`): `<platform>-artifacts` (model artifacts and code, one prefix per
  model), `<platform>-capture` (endpoint data capture, one prefix per model) and
  `<platform>-access-logs` (their server access logs);
- one `EksCluster` per spec cluster (control plane, managed node groups, OIDC provider).

Data-bearing resources (key, buckets) are protected and retained in prod. Its outputs are the
stack contract (`contract.PlatformOutputs`) the model stacks read.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from . import iam, naming
from .contract import PlatformOutputs
from .egress import VpcEgress
from .eks_cluster import EksCluster
from .secure_bucket import SecureBucket
from .spec import PlatformSpec


def private_subnet_blocks(vpc_cidr: str, zones: int) -> list[str]:
    """Equal private subnets, one per zone, leaving half of the VPC free for later (EKS pods)."""
    network = ipaddress.IPv4Network(vpc_cidr)
    # Split into 2*zones rounded up to a power of two; the first `zones` blocks are used.
    new_prefix = network.prefixlen + max(1, (2 * zones - 1).bit_length())
    return [str(block) for block in list(network.subnets(new_prefix=new_prefix))[:zones]]


def key_policy(account_id: str, region: str) -> str:
    """The account administers and uses the key through IAM (the default); CloudWatch alarms and
    EventBridge may encrypt messages to the KMS-encrypted alert topics, and CloudWatch Logs may
    encrypt this account's log groups, for this account only."""
    return iam.policy_document(
        [
            iam.Statement(
                "AccountAdministersThroughIam", ("kms:*",), ("*",), principal={"AWS": f"arn:aws:iam::{account_id}:root"}
            ),
            iam.Statement(
                "AlarmsAndEventsPublishToEncryptedTopics",
                ("kms:Decrypt", "kms:GenerateDataKey*"),
                ("*",),
                conditions={"StringEquals": {"aws:SourceAccount": account_id}},
                principal={"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
            ),
            iam.Statement(
                "LogsEncryptThisAccountsLogGroups",
                ("kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"),
                ("*",),
                conditions={
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"}
                },
                principal={"Service": f"logs.{region}.amazonaws.com"},
            ),
        ]
    )


class Platform(pulumi.ComponentResource):
    """The network, key, buckets and clusters that every model stack of an environment uses."""

    outputs: PlatformOutputs

    def __init__(self, name: str, spec: PlatformSpec, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:platform:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        data = pulumi.ResourceOptions(parent=self, protect=spec.protect, retain_on_delete=spec.protect)
        network = spec.network

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=network.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        # Only the region's own zones (no Local or Wavelength Zones, which need an opt-in).
        zones = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.private_subnets, route_tables = [], []
        for index, block in enumerate(private_subnet_blocks(network.vpc_cidr, network.availability_zones)):
            label = f"{name}-private-{index + 1}"
            subnet = aws.ec2.Subnet(
                label,
                vpc_id=self.vpc.id,
                cidr_block=block,
                availability_zone=zones.names.apply(
                    lambda names, index=index: _zone(names, index, network.availability_zones)
                ),
                map_public_ip_on_launch=False,
                tags={"Name": label, "modelform:tier": "private"},
                opts=child,
            )
            # One route table per zone: with NAT egress, each zone leaves through its own gateway.
            route_table = aws.ec2.RouteTable(
                f"{label}-route-table", vpc_id=self.vpc.id, tags={"Name": label}, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"{label}-routes", subnet_id=subnet.id, route_table_id=route_table.id, opts=child
            )
            self.private_subnets.append(subnet)
            route_tables.append(route_table)
        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{spec.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in route_tables],
            tags={"Name": f"{name}-s3"},
            opts=child,
        )
        # The VPC's default group: adopted and emptied, so nothing that lands in it by default can talk.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-group",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags={"Name": f"{name}-default-denies-all"},
            opts=child,
        )
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.egress = VpcEgress(
            f"{name}-egress",
            spec,
            vpc=self.vpc,
            private_subnets=self.private_subnets,
            private_route_tables=route_tables,
            zone_names=zones.names,
            account_id=account_id,
            opts=child,
        )
        self.model_security_group = aws.ec2.SecurityGroup(
            f"{name}-models",
            vpc_id=self.vpc.id,
            description="Model containers: no inbound; outbound HTTPS to S3 and the AWS APIs only",
            egress=model_egress(spec, s3_endpoint.prefix_list_id, self.egress.security_group_id),
            tags={"Name": f"{name}-models"},
            opts=child,
        )
        # Training jobs of several instances talk to each other (torchrun's rendezvous, NCCL; EFA
        # needs every protocol): all traffic between members of this group, nothing from outside.
        between_members = {
            "description": "Training instances of one job to each other (NCCL, EFA)",
            "protocol": "-1",
            "from_port": 0,
            "to_port": 0,
            "self": True,
        }
        self.training_security_group = aws.ec2.SecurityGroup(
            f"{name}-training",
            vpc_id=self.vpc.id,
            description="Training jobs: each other's instances; outbound HTTPS to S3 and the AWS APIs",
            ingress=[between_members],
            egress=[*model_egress(spec, s3_endpoint.prefix_list_id, self.egress.security_group_id), between_members],
            tags={"Name": f"{name}-training"},
            opts=child,
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"modelform {name}: buckets, endpoint volumes, data capture, alert topics",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account_id.apply(lambda account: key_policy(account, spec.region)),
            opts=data,
        )
        aws.kms.Alias(f"{name}-key-alias", name=naming.key_alias(name), target_key_id=self.key.key_id, opts=child)
        self._flow_logs(name, spec, account_id, child)
        self._api_gateway_logging(name, spec, account_id, child)

        retention = spec.retention
        kept = dict(protect=spec.protect, noncurrent_days=retention.noncurrent_versions, opts=child)
        self.log_bucket = SecureBucket(
            f"{name}-access-logs", kms_key_arn=None, log_bucket=None, expire_days=retention.access_logs, **kept
        )
        logged = dict(kms_key_arn=self.key.arn, log_bucket=self.log_bucket.bucket.bucket, **kept)
        # Artifacts (models, code, evaluations) are what every version is reproduced from: kept.
        self.artifact_bucket = SecureBucket(f"{name}-artifacts", **logged)
        self.capture_bucket = SecureBucket(f"{name}-capture", expire_days=retention.data_capture, **logged)
        self.serving_repository = self._serving_repository(name, spec)
        subnet_ids = [s.id for s in self.private_subnets]
        self.clusters = {
            cluster.name: EksCluster(
                f"{name}-{cluster.name}",
                spec,
                cluster,
                subnet_ids=subnet_ids,
                kms_key_arn=self.key.arn,
                vpc_id=self.vpc.id,
                account_id=account_id,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.egress]),
            )
            for cluster in spec.clusters
        }
        self.outputs = PlatformOutputs(
            region=spec.region,
            vpc_id=self.vpc.id,
            private_subnet_ids=pulumi.Output.all(*subnet_ids),
            model_security_group_id=self.model_security_group.id,
            training_security_group_id=self.training_security_group.id,
            kms_key_arn=self.key.arn,
            artifact_bucket=self.artifact_bucket.bucket.bucket,
            capture_bucket=self.capture_bucket.bucket.bucket,
            log_bucket=self.log_bucket.bucket.bucket,
            serving_repository=self.serving_repository.repository_url,
            clusters={cluster: component.outputs.exports() for cluster, component in self.clusters.items()},
        )
        self.register_outputs(self.outputs.exports())

    def _serving_repository(self, name: str, spec: PlatformSpec) -> aws.ecr.Repository:
        """The serving image's repository: a tag is a code version, written once (immutable),
        scanned on push, encrypted with the platform key; the newest `KEEP_IMAGES` stay."""
        repository = aws.ecr.Repository(
            f"{name}-serve",
            name=naming.serving_repository(name),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": self.key.arn}],
            force_delete=False,
            opts=pulumi.ResourceOptions(parent=self, protect=spec.protect, retain_on_delete=spec.protect),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-serve-lifecycle",
            repository=repository.name,
            policy=json.dumps(image_lifecycle(KEEP_IMAGES), sort_keys=True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return repository

    def _api_gateway_logging(
        self, name: str, spec: PlatformSpec, account_id: pulumi.Output, child: pulumi.ResourceOptions
    ):
        """API Gateway writes a model API's access and execution logs only through the role set on
        the account (one per account and region): models' APIs need it (`ModelApi`)."""
        role, policy = iam.scoped_role(
            f"{name}-apigateway-logs-role",
            # API Gateway assumes this account-level role without a source account to match.
            trust=iam.service_trust("apigateway.amazonaws.com"),
            policy=account_id.apply(
                lambda account: iam.policy_document(api_gateway_log_statements(spec.region, account))
            ),
            description=f"API Gateway writes the logs of platform {name}'s model APIs (modelform)",
            parent=self,
        )
        aws.apigateway.Account(
            f"{name}-apigateway-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy] if policy else []),
        )

    def _flow_logs(self, name: str, spec: PlatformSpec, account_id: pulumi.Output, child: pulumi.ResourceOptions):
        """Every flow of the VPC (accepted and rejected) into a KMS-encrypted log group."""
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=naming.flow_log_group(name),
            retention_in_days=spec.retention.log_groups,
            kms_key_id=self.key.arn,
            opts=child,
        )
        role, _ = iam.scoped_role(
            f"{name}-flow-logs-role",
            trust=account_id.apply(lambda account: iam.service_trust("vpc-flow-logs.amazonaws.com", account)),
            policy=group.arn.apply(lambda arn: iam.policy_document(flow_log_statements(arn))),
            description=f"VPC flow logs of platform {name} (modelform)",
            parent=self,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=600,
            tags={"Name": f"{name}-flow-log"},
            opts=child,
        )


#: Serving images kept per platform: the code versions still deployed, and room to roll back.
KEEP_IMAGES = 50


def image_lifecycle(keep: int) -> dict:
    """ECR lifecycle rules: untagged layers after a day; beyond the newest `keep` images, the oldest."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "untagged images (interrupted pushes) after a day",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {keep} code versions",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                "action": {"type": "expire"},
            },
        ]
    }


def model_egress(spec: PlatformSpec, s3_prefix_list: pulumi.Input[str], endpoints_group) -> list[dict]:
    """Model containers (endpoints, jobs) send HTTPS to S3 through the gateway endpoint and to the
    AWS APIs: the interface endpoints' group, or anywhere through NAT."""
    rules = [
        {
            "description": "HTTPS to S3 (gateway endpoint)",
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "prefix_list_ids": [s3_prefix_list],
        }
    ]
    if endpoints_group is not None:
        rules.append(
            {
                "description": "HTTPS to the AWS service endpoints",
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "security_groups": [endpoints_group],
            }
        )
    else:
        rules.append(
            {
                "description": "HTTPS to the AWS APIs through the NAT gateways",
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidr_blocks": ["0.0.0.0/0"],
            }
        )
    return rules


def api_gateway_log_statements(region: str, account_id: str) -> list[iam.Statement]:
    """The model APIs' access log groups (`/aws/apigateway/<endpoint>`) and API Gateway's own
    execution log groups (`API-Gateway-Execution-Logs_<api id>/<stage>`), nothing else."""
    groups = [
        iam.log_group_arn(region, account_id, "/aws/apigateway/*"),
        iam.log_group_arn(region, account_id, "API-Gateway-Execution-Logs_*"),
    ]
    return [
        iam.allow(
            "WriteApiLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            groups + [f"{group}:log-stream:*" for group in groups],
        ),
        iam.allow("FindLogGroupsIsOnlyOnStar", ["logs:DescribeLogGroups"], ["*"]),
    ]


def flow_log_statements(log_group_arn: str) -> list[iam.Statement]:
    """VPC Flow Logs writes only into the platform's flow-log group."""
    return [
        iam.allow(
            "WriteFlowLogs",
            ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        ),
        # Describing log groups is authorized only on `*` (read-only; it lists names, not events).
        iam.allow("DescribeLogGroupsIsOnlyOnStar", ["logs:DescribeLogGroups"], ["*"]),
    ]


def _zone(names: list[str], index: int, wanted: int) -> str:
    if len(names) < wanted:
        raise ValueError(
            f"the region offers {len(names)} availability zones; network.availability_zones asks for {wanted}"
        )
    return sorted(names)[index]
