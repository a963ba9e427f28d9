"""An EKS cluster of the platform, with `aws.eks.*` directly so the plan shows every part.

Per Platform `clusters` entry:
- the control plane `<platform>-<cluster>`: private API endpoint only, all control-plane log
  types, Kubernetes secrets encrypted with the platform key, API access entries, deletion
  protection in prod; its IAM role with AmazonEKSClusterPolicy;
- one managed node group per `node_groups` entry, in the private subnets: Bottlerocket AMIs
  (`BOTTLEROCKET_x86_64_NVIDIA` for `gpu: true`, which ships the NVIDIA device plugin, so no
  DaemonSet is needed), a `nvidia.com/gpu=true:NoSchedule` taint on GPU groups so only pods that
  ask for GPUs land there, SPOT or ON_DEMAND capacity, min/max from the spec and the desired size
  left to the cluster autoscaler (`ignoreChanges: scalingConfig.desiredSize`);
- the IAM OIDC provider of the cluster, for pod IAM roles (IRSA);
- a kubeconfig (exec: `aws eks get-token`) as an output, for the model stacks' providers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from .spec import Cluster

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy")


def cluster_name(platform: str, cluster: str) -> str:
    return f"{platform}-{cluster}"


def kubeconfig(name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived secrets)."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name, "--region", region]}}}],
    }, sort_keys=True)


def _field(value, name: str):
    """Output objects are typed classes at deployment and plain mappings under the mocks."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name)


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}, sort_keys=True)


@dataclass
class EksClusterArgs:
    """platform: the platform name; cluster: the spec's cluster; region; subnet_ids: private
    subnets; kms_key_arn: encrypts secrets; protect: deletion protection (prod); tags."""

    platform: str
    cluster: Cluster
    region: str
    subnet_ids: list
    kms_key_arn: pulumi.Input[str]
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


class EksCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: EksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:eks:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        physical = cluster_name(args.platform, args.cluster.name)
        role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=_trust("eks.amazonaws.com"), tags=tags, opts=child)
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=role.name, policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=child)
        self.cluster = aws.eks.Cluster(
            f"{name}-control-plane",
            name=physical,
            version=args.cluster.kubernetes_version,
            role_arn=role.arn,
            vpc_config={"subnet_ids": args.subnet_ids, "endpoint_private_access": True, "endpoint_public_access": False},
            enabled_cluster_log_types=LOG_TYPES,
            encryption_config={"provider": {"key_arn": args.kms_key_arn}, "resources": ["secrets"]},
            access_config={"authentication_mode": "API"},
            deletion_protection=args.protect,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment], protect=args.protect),
        )
        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=_trust("ec2.amazonaws.com"), tags=tags, opts=child)
        node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name,
                                         policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child)
            for policy in NODE_POLICIES
        ]
        self.node_groups = {}
        for group in args.cluster.node_groups:
            self.node_groups[group.name] = aws.eks.NodeGroup(
                f"{name}-{group.name}",
                cluster_name=self.cluster.name,
                node_group_name=f"{args.cluster.name}-{group.name}",
                node_role_arn=node_role.arn,
                subnet_ids=args.subnet_ids,
                instance_types=list(group.instance_types),
                ami_type="BOTTLEROCKET_x86_64_NVIDIA" if group.gpu else "BOTTLEROCKET_x86_64",
                capacity_type="SPOT" if group.capacity == "spot" else "ON_DEMAND",
                disk_size=group.disk_gb,
                scaling_config={"min_size": group.min, "max_size": group.max, "desired_size": group.min},
                update_config={"max_unavailable": 1},
                labels={"modelform/node-group": group.name, "modelform/gpu": str(group.gpu).lower()},
                taints=[GPU_TAINT] if group.gpu else [],
                tags=tags,
                # The cluster autoscaler owns the desired size; Pulumi must not reset it.
                opts=pulumi.ResourceOptions(parent=self, depends_on=node_policies, ignore_changes=["scalingConfig.desiredSize"]),
            )
        issuer = self.cluster.identities.apply(
            lambda ids: _field(_field(ids[0], "oidcs")[0], "issuer") if ids else "")
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], tags=tags, opts=child)
        self.kubeconfig = pulumi.Output.all(
            self.cluster.endpoint, self.cluster.certificate_authority.apply(lambda ca: _field(ca, "data") if ca else "")
        ).apply(lambda v: kubeconfig(physical, v[0], v[1], args.region))
        self.outputs = {
            "name": self.cluster.name,
            "endpoint": self.cluster.endpoint,
            "certificateAuthority": self.cluster.certificate_authority.apply(lambda ca: _field(ca, "data") if ca else ""),
            "kubeconfig": pulumi.Output.secret(self.kubeconfig),
            "oidcProviderArn": self.oidc_provider.arn,
            "oidcIssuer": issuer,
        }
        self.register_outputs(self.outputs)
