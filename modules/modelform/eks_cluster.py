"""An EKS cluster of the platform, with `aws.eks.*` directly so the plan shows every part.

Per Platform `clusters` entry:
- the control plane `<platform>-<cluster>`: a private API endpoint (public only for the spec's
  `public_api_cidrs`), all control-plane log types, Kubernetes secrets encrypted with the
  platform key, API access entries (the spec's `deploy_role_arn` as cluster admin, and then no
  implicit admin for the creator), deletion protection in prod; its IAM role with
  AmazonEKSClusterPolicy;
- one managed node group per `node_groups` entry, in the private subnets: Bottlerocket AMIs
  (`BOTTLEROCKET_x86_64_NVIDIA` for `gpu: true`, which ships the NVIDIA device plugin, so no
  DaemonSet is needed), a `nvidia.com/gpu=true:NoSchedule` taint on GPU groups so only pods that
  ask for GPUs land there, SPOT or ON_DEMAND capacity, min/max from the spec and the desired size
  left to the cluster autoscaler (`ignoreChanges: scalingConfig.desiredSize`);
- the IAM OIDC provider of the cluster, for pod IAM roles (IRSA);
- a kubeconfig (exec: `aws eks get-token`) as an output, for the model stacks' providers;
- its add-ons, load balancer controller and namespaces (`ClusterAddons`).
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from . import iam, kubernetes, naming
from .cluster_addons import ClusterAddons
from .contract import ClusterOutputs
from .spec import Capacity, Cluster, PlatformSpec

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
#: The node-group form of `kubernetes.GPU_TOLERATION`'s taint.
GPU_TAINT = {"key": kubernetes.GPU_RESOURCE, "value": "true", "effect": "NO_SCHEDULE"}
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy")


def kubeconfig(
    name: str, endpoint: str, certificate_authority: str, region: str, role_arn: Optional[str] = None
) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived secrets), as
    `role_arn` when the environment's account is reached by assuming a role (as the AWS provider
    does), so that Kubernetes sees the same identity as AWS."""
    token = ["eks", "get-token", "--cluster-name", name, "--region", region]
    if role_arn:
        token += ["--role-arn", role_arn]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "preferences": {},
            "clusters": [
                {"name": name, "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": token,
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def _field(value, name: str):
    """Output objects are typed classes at deployment and plain mappings under the mocks."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name)


class EksCluster(pulumi.ComponentResource):
    """One cluster of the platform `platform` in the private subnets `subnet_ids`, its secrets
    encrypted with `kms_key_arn`; `outputs` is its part of the stack contract."""

    outputs: ClusterOutputs

    def __init__(
        self,
        name: str,
        platform: PlatformSpec,
        cluster: Cluster,
        *,
        subnet_ids: list,
        kms_key_arn: pulumi.Input[str],
        vpc_id: pulumi.Input[str],
        account_id: pulumi.Output,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:eks_cluster:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        physical = naming.cluster(platform.name, cluster.name)
        role, _ = iam.scoped_role(
            f"{name}-cluster-role",
            trust=iam.service_trust("eks.amazonaws.com"),
            policy=None,
            description=f"EKS control plane of {physical} (modelform)",
            parent=self,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child,
        )
        self.cluster = aws.eks.Cluster(
            f"{name}-control-plane",
            name=physical,
            version=cluster.kubernetes_version,
            role_arn=role.arn,
            vpc_config=api_access(subnet_ids, cluster.public_api_cidrs),
            enabled_cluster_log_types=LOG_TYPES,
            encryption_config={"provider": {"key_arn": kms_key_arn}, "resources": ["secrets"]},
            # With a deploy role, it (not whoever happened to create the cluster) is the admin.
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": platform.deploy_role_arn is None,
            },
            deletion_protection=platform.protect,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment], protect=platform.protect),
        )
        node_role, _ = iam.scoped_role(
            f"{name}-node-role",
            trust=iam.service_trust("ec2.amazonaws.com"),
            policy=None,
            description=f"Nodes of {physical} (modelform)",
            parent=self,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child
            )
            for policy in NODE_POLICIES
        ]
        self.node_groups = {}
        for group in cluster.node_groups:
            self.node_groups[group.name] = aws.eks.NodeGroup(
                f"{name}-{group.name}",
                cluster_name=self.cluster.name,
                node_group_name=naming.node_group(cluster.name, group.name),
                node_role_arn=node_role.arn,
                subnet_ids=subnet_ids,
                instance_types=list(group.instance_types),
                ami_type="BOTTLEROCKET_x86_64_NVIDIA" if group.gpu else "BOTTLEROCKET_x86_64",
                capacity_type="SPOT" if group.capacity is Capacity.SPOT else "ON_DEMAND",
                disk_size=group.disk_gb,
                scaling_config={"min_size": group.min, "max_size": group.max, "desired_size": group.min},
                update_config={"max_unavailable": 1},
                labels={kubernetes.NODE_GROUP_LABEL: group.name, kubernetes.GPU_NODE_LABEL: str(group.gpu).lower()},
                taints=[GPU_TAINT] if group.gpu else [],
                # The cluster autoscaler owns the desired size; Pulumi must not reset it.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=node_policies, ignore_changes=["scalingConfig.desiredSize"]
                ),
            )
        issuer = self.cluster.identities.apply(lambda ids: _field(_field(ids[0], "oidcs")[0], "issuer") if ids else "")
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], opts=child
        )
        certificate_authority = self.cluster.certificate_authority.apply(lambda ca: _field(ca, "data") if ca else "")
        config = pulumi.Output.all(self.cluster.endpoint, certificate_authority).apply(
            lambda v: kubeconfig(
                physical, v[0], v[1], platform.region, platform.account.assume_role if platform.account else None
            )
        )
        self.access = self._deploy_role_access(name, platform)
        self.addons = ClusterAddons(
            f"{name}-addons",
            platform,
            cluster,
            cluster_name=self.cluster.name,
            kubeconfig=config,
            oidc_provider_arn=self.oidc_provider.arn,
            oidc_issuer=issuer,
            vpc_id=vpc_id,
            account_id=account_id,
            nodes=list(self.node_groups.values()) + self.access,
            opts=child,
        )
        self.outputs = ClusterOutputs(
            name=self.cluster.name,
            endpoint=self.cluster.endpoint,
            certificate_authority=certificate_authority,
            kubeconfig=pulumi.Output.secret(config),
            oidc_provider_arn=self.oidc_provider.arn,
            oidc_issuer=issuer,
        )
        self.register_outputs(self.outputs.exports())

    def _deploy_role_access(self, name: str, platform: PlatformSpec) -> list[pulumi.Resource]:
        """The deploy role may administer the cluster: the platform stack installs add-ons, CRDs and
        namespaces (cluster scope), the model stacks their objects."""
        if platform.deploy_role_arn is None:
            return []
        child = pulumi.ResourceOptions(parent=self)
        entry = aws.eks.AccessEntry(
            f"{name}-deploy-access", cluster_name=self.cluster.name, principal_arn=platform.deploy_role_arn, opts=child
        )
        association = aws.eks.AccessPolicyAssociation(
            f"{name}-deploy-admin",
            cluster_name=self.cluster.name,
            principal_arn=platform.deploy_role_arn,
            policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            access_scope={"type": "cluster"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
        )
        return [entry, association]


def api_access(subnet_ids: list, public_cidrs: tuple[str, ...]) -> dict:
    """The API endpoint: private, and public only for the allowlisted ranges when there are any."""
    config = {"subnet_ids": subnet_ids, "endpoint_private_access": True, "endpoint_public_access": bool(public_cidrs)}
    if public_cidrs:
        config["public_access_cidrs"] = list(public_cidrs)
    return config
