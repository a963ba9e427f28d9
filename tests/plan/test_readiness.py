"""The readiness check: a prod plan with EKS serving and EKS training reports nothing, and taking
away any one thing a cluster needs after `up` makes it report exactly that class."""

from __future__ import annotations

import copy
import json

import pytest

from modelform.plan import readiness
from modelform.plan.stack_plan import PlannedResource, StackPlan


def stacks_of(plan: dict) -> list[StackPlan]:
    return [
        StackPlan(
            s["stack"],
            s["kind"],
            s["spec"],
            [
                PlannedResource(
                    **{k: r[k] for k in ("urn", "type", "name", "parent", "inputs")}, options=r.get("options", {})
                )
                for r in s["resources"]
            ],
            {},
        )
        for s in plan["stacks"]
    ]


def without(plan: dict, keep) -> list[StackPlan]:
    trimmed = copy.deepcopy(plan)
    for stack in trimmed["stacks"]:
        stack["resources"] = [r for r in stack["resources"] if keep(r)]
    return stacks_of(trimmed)


def policies(findings) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.policy] = counts.get(finding.policy, 0) + 1
    return counts


def test_the_sample_prod_plan_is_ready(sample_plans):
    assert readiness.check(stacks_of(sample_plans["prod"])) == []


def test_a_namespace_nothing_creates(sample_plans):
    findings = readiness.check(
        without(sample_plans["prod"], lambda r: not r["name"].endswith("-addons-claims-namespace"))
    )
    assert set(policies(findings)) == {"readiness-namespace"}
    assert all("'claims'" in f.message and "acme-ml-serving-eu" in f.message for f in findings)
    assert {f.urn.rsplit("::", 1)[1] for f in findings} >= {
        "car-damage-estimator-default-current-deployment",
        "car-damage-estimator-default-ingress",
    }


def test_a_training_namespace_nothing_creates(sample_plans):
    findings = readiness.check(
        without(sample_plans["prod"], lambda r: not r["name"].endswith("-addons-training-namespace"))
    )
    assert {f.urn.rsplit("::", 1)[1] for f in findings} == {
        "car-damage-estimator-training-state-machine",  # its Jobs
        "car-damage-estimator-training-serviceaccount",
    }


def test_an_image_from_a_registry_the_vpc_cannot_reach(sample_plans):
    plan = copy.deepcopy(sample_plans["prod"])
    for stack in plan["stacks"]:
        for r in stack["resources"]:
            if r["name"] == "fraud-detector-eu-enterprise-current-deployment":
                pod = r["inputs"]["spec"]["template"]["spec"]
                pod["initContainers"][0]["image"] = "public.ecr.aws/aws-cli/aws-cli:2.17.0"
    (finding,) = readiness.check(stacks_of(plan))
    assert finding.policy == "readiness-image" and "public.ecr.aws/aws-cli/aws-cli:2.17.0" in finding.message


def test_ecr_without_its_endpoints_is_unreachable(sample_plans):
    findings = readiness.check(without(sample_plans["prod"], lambda r: r["name"] != "acme-ml-egress-ecr-dkr"))
    assert "readiness-image" in policies(findings) and "readiness-egress" in policies(findings)
    images = {f.message.split()[1] for f in findings if f.policy == "readiness-image"}
    assert any(image.startswith("<acme-ml-serve.repositoryUrl>:") for image in images)  # the serving image
    assert any(".dkr.ecr.us-east-1.amazonaws.com/" in image for image in images)  # AWS's training image


def test_an_hpa_without_metrics_server(sample_plans):
    findings = readiness.check(
        without(sample_plans["prod"], lambda r: r["name"] != "acme-ml-serving-eu-addons-metrics-server")
    )
    assert set(policies(findings)) == {"readiness-metrics-server"} and len(findings) == 3  # 3 serving variants


def test_an_alb_ingress_without_the_load_balancer_controller(sample_plans):
    findings = readiness.check(
        without(sample_plans["prod"], lambda r: r["name"] != "acme-ml-serving-eu-addons-load-balancer-controller")
    )
    assert set(policies(findings)) == {"readiness-load-balancer-controller"} and len(findings) == 2  # 2 ingresses


def test_a_network_policy_nothing_enforces(sample_plans):
    plan = copy.deepcopy(sample_plans["prod"])
    for stack in plan["stacks"]:
        for r in stack["resources"]:
            if r["name"] == "acme-ml-serving-eu-addons-vpc-cni":
                r["inputs"]["configurationValues"] = json.dumps({"enableNetworkPolicy": "false"})
    findings = readiness.check(stacks_of(plan))
    # the variants' policies (2 for car-damage-estimator, 1 for fraud-detector), the capacity scheduler's and
    # car-damage-estimator's batch scoring's
    assert set(policies(findings)) == {"readiness-network-policy"} and len(findings) == 5


@pytest.mark.parametrize(
    "endpoint, workload",
    [
        ("acme-ml-egress-monitoring", "monitoring-job"),
        ("acme-ml-egress-sagemaker-api", "serving-pod"),
        ("acme-ml-egress-elasticloadbalancing", "load-balancer-controller"),
        ("acme-ml-egress-sts", "eks-node"),
    ],
)
def test_a_workload_call_without_a_route(sample_plans, endpoint, workload):
    findings = readiness.check(without(sample_plans["prod"], lambda r: r["name"] != endpoint))
    egress = [f for f in findings if f.policy == "readiness-egress"]
    assert any(f.message.startswith(f"{workload} calls ") for f in egress)


def test_model_stacks_alone_are_not_checked(sample_plans):
    model_only = [s for s in stacks_of(sample_plans["prod"]) if s.kind == "Model"]
    assert readiness.check(model_only) == []
