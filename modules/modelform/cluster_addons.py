"""What a cluster needs after `up` before models can run on it, as code:

- EKS add-ons, each at AWS's default version for the cluster's Kubernetes version (looked up at
  plan time, `aws.eks.get_addon_version`, so the version is one AWS publishes for that cluster
  version and changes only when AWS changes its default, visibly in the diff): `vpc-cni` with
  its network-policy agent on (else NetworkPolicies are silently ignored), `coredns`,
  `kube-proxy`, and `metrics-server` (else no HPA ever scales). Their images come from AWS's
  regional ECR, reachable through the ECR endpoints.
- The AWS Load Balancer Controller (else no Ingress becomes an ALB): a Helm release of a pinned
  chart version, its image from AWS's regional ECR (never the internet), WAF and Shield
  integrations off, and a pod IAM role (IRSA) with the controller's actions scoped to this
  account, region and the load balancers tagged for this cluster (`iam.load_balancer_controller`).
- The namespaces of the spec (`clusters[].namespaces`), labelled for Pod Security Admission
  `restricted` (enforce, audit, warn) at the cluster's version.
GPU nodes run Bottlerocket's NVIDIA AMI, which ships the NVIDIA device plugin: no DaemonSet.
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import iam, kubernetes
from .spec import Cluster, PlatformSpec

#: EKS add-ons every cluster gets, and their configuration (JSON, as the EKS API takes it).
ADDONS: dict[str, Optional[dict]] = {
    "vpc-cni": {"enableNetworkPolicy": "true"},
    "coredns": None,
    "kube-proxy": None,
    "metrics-server": None,
}
#: Add-ons whose pods need nodes to become healthy (the others are node DaemonSets or networking).
NEEDS_NODES = frozenset({"coredns", "metrics-server"})

LOAD_BALANCER_CONTROLLER = "aws-load-balancer-controller"
LBC_CHART = "aws-load-balancer-controller"
LBC_CHART_REPOSITORY = "https://aws.github.io/eks-charts"
LBC_CHART_VERSION = "1.13.0"  # controller v2.13.0
#: AWS's account hosting EKS images in each region's ECR ("Amazon container image registries" in
#: the EKS user guide); 602401143452 everywhere else.
EKS_IMAGE_ACCOUNTS = {
    "af-south-1": "877085696533",
    "ap-east-1": "800184023465",
    "ap-south-2": "900889452093",
    "ap-southeast-3": "296578399912",
    "ap-southeast-4": "491585149902",
    "ca-west-1": "761377655185",
    "eu-central-2": "900612956339",
    "eu-south-1": "590381155156",
    "eu-south-2": "455263428931",
    "il-central-1": "066635153087",
    "me-central-1": "759879836304",
    "me-south-1": "558608220178",
}
POD_SECURITY = "restricted"


def eks_image_registry(region: str) -> str:
    return f"{EKS_IMAGE_ACCOUNTS.get(region, '602401143452')}.dkr.ecr.{region}.amazonaws.com"


def namespace_object(name: str, kubernetes_version: str, labels: dict[str, str]) -> dict:
    """A namespace whose pods must meet Pod Security `restricted` (the serving and training pods do)."""
    admission = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", POD_SECURITY), ("-version", f"v{kubernetes_version}"))
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {**labels, **admission}}}


def load_balancer_controller_values(cluster_name: str, region: str, vpc_id: str, role_arn: str) -> dict:
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": 2,
        "image": {"repository": f"{eks_image_registry(region)}/amazon/aws-load-balancer-controller"},
        "serviceAccount": {
            "create": True,
            "name": LOAD_BALANCER_CONTROLLER,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
        # Without WAF and Shield endpoints in an egress-less VPC these calls would time out.
        "enableShield": False,
        "enableWaf": False,
        "enableWafv2": False,
    }


class ClusterAddons(pulumi.ComponentResource):
    """The add-ons, load balancer controller and namespaces of one cluster (see the module doc)."""

    def __init__(
        self,
        name: str,
        platform: PlatformSpec,
        cluster: Cluster,
        *,
        cluster_name: pulumi.Output,
        kubeconfig: pulumi.Output,
        oidc_provider_arn: pulumi.Output,
        oidc_issuer: pulumi.Output,
        vpc_id: pulumi.Input[str],
        account_id: pulumi.Output,
        nodes: list[pulumi.Resource],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:cluster_addons:ClusterAddons", name, None, opts)
        self.addons: dict[str, aws.eks.Addon] = {}
        for addon, configuration in ADDONS.items():
            version = aws.eks.get_addon_version_output(
                addon_name=addon,
                kubernetes_version=cluster.kubernetes_version,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=cluster_name,
                addon_name=addon,
                addon_version=version.version,
                configuration_values=json.dumps(configuration, sort_keys=True) if configuration else None,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=nodes if addon in NEEDS_NODES else []),
            )
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, opts=pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        labels = {"app.kubernetes.io/managed-by": "modelform"}
        self.namespaces = {
            namespace: kubernetes.register(
                f"{name}-{namespace}",
                "v1",
                "Namespace",
                namespace_object(namespace, cluster.kubernetes_version, labels),
                on_cluster,
            )
            for namespace in cluster.namespaces
        }
        role, _ = iam.scoped_role(
            f"{name}-load-balancer-controller-role",
            trust=pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
                lambda v: iam.service_account_trust(v[0], v[1], "kube-system", LOAD_BALANCER_CONTROLLER)
            ),
            policy=pulumi.Output.all(account_id, cluster_name).apply(
                lambda v: iam.policy_document(iam.load_balancer_controller(platform.region, v[0], v[1]))
            ),
            description=f"AWS Load Balancer Controller of {name} (modelform)",
            parent=self,
        )
        self.load_balancer_controller = k8s.helm.v3.Release(
            f"{name}-load-balancer-controller",
            name=LOAD_BALANCER_CONTROLLER,
            chart=LBC_CHART,
            version=LBC_CHART_VERSION,
            repository_opts={"repo": LBC_CHART_REPOSITORY},
            namespace="kube-system",
            values=pulumi.Output.all(cluster_name, vpc_id, role.arn).apply(
                lambda v: load_balancer_controller_values(v[0], platform.region, v[1], v[2])
            ),
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[*nodes, self.addons["vpc-cni"]]),
        )
        self.register_outputs({})
