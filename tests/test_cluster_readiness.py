"""What the EKS path needs after `up`, as the platform plans it: egress (interface endpoints or
NAT), the serving image's repository, the clusters' add-ons, load balancer controller, namespaces,
and who may reach and administer the API."""

from __future__ import annotations

import dataclasses
import json

import pytest

from modelform import naming
from modelform.egress import WORKLOAD_CALLS, interface_services, planned_workloads
from modelform.plan.engine import run_program
from modelform.programs import platform_program
from modelform.spec import Egress
from tests.conftest import resources_of

ENDPOINT_SERVICES = [
    "ec2",
    "ecr.api",
    "ecr.dkr",
    "eks",
    "eks-auth",
    "elasticloadbalancing",
    "monitoring",
    "sagemaker.api",
    "sagemaker.runtime",
    "sts",
]


def platform_resources(spec) -> dict[str, dict]:
    resources, _ = run_program(naming.PLATFORM_PROJECT, f"acme-ml.{spec.environment}", lambda: platform_program(spec))
    return {r.name: r.to_json() for r in resources}


def of_type(resources: dict, type_: str) -> dict[str, dict]:
    return {name: r for name, r in resources.items() if r["type"] == type_}


def test_egress_less_vpc_has_an_endpoint_for_every_call_of_every_workload(sample_plans, sample_specs):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    endpoints = of_type(resources, "aws:ec2/vpcEndpoint:VpcEndpoint")
    interface = {
        r["inputs"]["serviceName"]: r["inputs"]
        for r in endpoints.values()
        if r["inputs"]["vpcEndpointType"] == "Interface"
    }
    assert sorted(name.split(".", 3)[3] for name in interface) == ENDPOINT_SERVICES
    called = {s for w in planned_workloads(sample_specs.platform("prod")) for s in WORKLOAD_CALLS[w]}
    assert called == set(ENDPOINT_SERVICES) | {"s3"}  # s3: the gateway endpoint
    for endpoint in interface.values():
        assert endpoint["privateDnsEnabled"] is True and endpoint["securityGroupIds"] == [
            "<acme-ml-egress-endpoints.id>"
        ]
        assert endpoint["subnetIds"] == [f"<acme-ml-private-{i}.id>" for i in (1, 2, 3)]
    group = resources["acme-ml-egress-endpoints"]["inputs"]
    assert group["ingress"] == [
        {
            "cidrBlocks": ["10.40.0.0/16"],
            "description": "HTTPS from the VPC",
            "fromPort": 443,
            "protocol": "tcp",
            "toPort": 443,
        }
    ]
    assert not of_type(resources, "aws:ec2/natGateway:NatGateway") and not of_type(
        resources, "aws:ec2/internetGateway:InternetGateway"
    )


def test_nat_egress_has_a_gateway_per_zone_and_no_endpoints(sample_specs):
    spec = sample_specs.platform("prod")
    nat = dataclasses.replace(spec, network=dataclasses.replace(spec.network, egress=Egress.NAT))
    resources = platform_resources(nat)
    gateways = of_type(resources, "aws:ec2/natGateway:NatGateway")
    assert sorted(gateways) == [f"acme-ml-egress-public-{i}-nat" for i in (1, 2, 3)]
    public = [resources[f"acme-ml-egress-public-{i}"]["inputs"] for i in (1, 2, 3)]
    assert [s["cidrBlock"] for s in public] == ["10.40.224.0/21", "10.40.232.0/21", "10.40.240.0/21"]
    routes = {
        r["inputs"]["routeTableId"]: r["inputs"]["natGatewayId"]
        for r in of_type(resources, "aws:ec2/route:Route").values()
    }
    assert routes == {f"<acme-ml-private-{i}-route-table.id>": f"<acme-ml-egress-public-{i}-nat.id>" for i in (1, 2, 3)}
    interface = [
        r
        for r in of_type(resources, "aws:ec2/vpcEndpoint:VpcEndpoint").values()
        if r["inputs"]["vpcEndpointType"] == "Interface"
    ]
    assert interface == [] and interface_services(spec) == tuple(ENDPOINT_SERVICES)
    egress = resources["acme-ml-models"]["inputs"]["egress"]
    assert egress[1]["cidrBlocks"] == ["0.0.0.0/0"] and egress[1]["toPort"] == 443


def test_the_serving_image_repository(sample_plans):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    repository = resources["acme-ml-serve"]
    assert repository["inputs"]["name"] == "acme-ml/serve"
    assert repository["inputs"]["imageTagMutability"] == "IMMUTABLE"
    assert repository["inputs"]["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["inputs"]["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": "<acme-ml-key.arn>"}
    ]
    assert repository["options"]["protect"] is True and repository["options"]["retainOnDelete"] is True
    rules = json.loads(resources["acme-ml-serve-lifecycle"]["inputs"]["policy"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[1]["selection"]["countNumber"] == 50
    dev = resources_of(sample_plans["dev"], "acme-ml.dev")["acme-ml-serve"]
    assert "protect" not in dev.get("options", {})


@pytest.mark.parametrize("cluster", ["serving-eu", "gpu-training"])
def test_every_cluster_gets_its_addons_at_awss_version_for_the_cluster(sample_plans, cluster):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    addons = {
        r["inputs"]["addonName"]: r["inputs"]
        for r in of_type(resources, "aws:eks/addon:Addon").values()
        if r["inputs"]["clusterName"] == f"acme-ml-{cluster}"
    }
    assert sorted(addons) == ["coredns", "kube-proxy", "metrics-server", "vpc-cni"]
    assert {name: a["addonVersion"] for name, a in addons.items()} == {
        name: f"<eks.{name}@1.31>"
        for name in addons  # aws.eks.get_addon_version for 1.31
    }
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    release = resources[f"acme-ml-{cluster}-addons-load-balancer-controller"]["inputs"]
    assert (release["chart"], release["version"], release["namespace"]) == (
        "aws-load-balancer-controller",
        "1.13.0",
        "kube-system",
    )
    values = release["values"]
    assert values["image"] == {
        "repository": "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon/aws-load-balancer-controller"
    }
    assert (values["enableShield"], values["enableWaf"], values["enableWafv2"]) == (False, False, False)
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"<acme-ml-{cluster}-addons-load-balancer-controller-role.arn>"
    }


def test_namespaces_are_created_with_pod_security_restricted(sample_plans):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    namespaces = {
        r["inputs"]["metadata"]["name"]: r for r in of_type(resources, "kubernetes:core/v1:Namespace").values()
    }
    assert sorted(namespaces) == ["claims", "models", "training"]
    labels = namespaces["claims"]["inputs"]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.31"
    assert namespaces["training"]["options"]["provider"].endswith("::acme-ml-gpu-training-addons-k8s")


def test_the_deploy_role_administers_the_clusters_and_the_api_stays_private(sample_plans):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    for cluster in ("serving-eu", "gpu-training"):
        control_plane = resources[f"acme-ml-{cluster}-control-plane"]["inputs"]
        assert control_plane["accessConfig"] == {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": False,
        }
        assert control_plane["vpcConfig"]["endpointPublicAccess"] is False
        assert "publicAccessCidrs" not in control_plane["vpcConfig"]
        entry = resources[f"acme-ml-{cluster}-deploy-access"]["inputs"]
        assert entry["principalArn"] == "arn:aws:iam::444455556666:role/acme-ml-deploy"  # prod's own account
        admin = resources[f"acme-ml-{cluster}-deploy-admin"]["inputs"]
        assert admin["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert admin["accessScope"] == {"type": "cluster"}


def test_public_api_access_only_for_the_allowlist_and_no_deploy_role_keeps_the_creator(sample_specs):
    spec = sample_specs.platform("dev")
    serving = dataclasses.replace(spec.clusters[0], public_api_cidrs=("203.0.113.0/24",))
    variant = dataclasses.replace(spec, clusters=(serving, *spec.clusters[1:]), deploy_role_arn=None)
    resources = platform_resources(variant)
    control_plane = resources["acme-ml-serving-eu-control-plane"]["inputs"]
    assert control_plane["vpcConfig"]["endpointPublicAccess"] is True
    assert control_plane["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert control_plane["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True
    assert not of_type(resources, "aws:eks/accessEntry:AccessEntry")
