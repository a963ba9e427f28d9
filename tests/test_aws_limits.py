"""Names AWS accepts: with the longest names the spec language accepts, every physical name in
the plan fits AWS's limit for its resource type (explicit names, and Pulumi's autonames, which add
8 characters to the logical name)."""

from __future__ import annotations

import re

import pytest

from modelform import naming
from modelform.plan import plan_environment
from modelform.spec import load_spec_texts
from tests.conftest import REPO, SPECS

#: The longest names the spec language accepts, each at its limit.
PLATFORM = "acme-global-ml-platform-euwest01"  # 32
MODELS = {
    "fraud-detector": "fraud-detector-card-payments-eu1",  # 32
    "demand-forecaster": "demand-forecaster-retail-stores1",  # 32
    "car-damage-estimator": "car-damage-estimator-claims-eu01",  # 32
}
CLUSTERS = {
    "serving-eu": "serving-eu-central-inference-gpu-clust1",  # 40
    "gpu-training": "gpu-training-cluster-for-large-models-a",  # 40
}
NODE_GROUPS = {
    "gpu": "gpu-inference-nodes-g5-family01",
    "system": "system-nodes-general-purpose-01",
    "a100": "a100-training-nodes-spot-pool01",
}  # 31 -> trimmed below to 30

#: (resource type, input holding the physical name) -> AWS's limit; None: Pulumi autonames it
#: from the logical name (+ 8 characters) when the input is absent.
LIMITS = {
    "aws:iam/role:Role": ("name", 64),
    "aws:iam/rolePolicy:RolePolicy": ("name", 128),
    "aws:eks/nodeGroup:NodeGroup": ("nodeGroupName", 63),
    "aws:eks/cluster:Cluster": ("name", 100),
    "aws:cloudwatch/eventRule:EventRule": ("name", 64),
    "aws:lambda/function:Function": ("name", 64),
    "aws:sfn/stateMachine:StateMachine": ("name", 80),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", 255),
    "aws:sagemaker/endpoint:Endpoint": ("name", 63),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ("name", 63),
    "aws:sagemaker/model:Model": ("name", 63),
    "aws:sagemaker/pipeline:Pipeline": ("pipelineName", 256),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ("modelPackageGroupName", 63),
    "aws:sns/topic:Topic": ("name", 256),
    "aws:s3/bucket:Bucket": ("bucket", 63),
    "aws:ec2/securityGroup:SecurityGroup": ("name", 255),
    "aws:appautoscaling/policy:Policy": ("name", 255),
    "aws:appautoscaling/scheduledAction:ScheduledAction": ("name", 256),
    "aws:cloudwatch/logGroup:LogGroup": ("name", 512),
    "aws:kms/alias:Alias": ("name", 256),
    "aws:scheduler/schedule:Schedule": ("name", 64),
    "aws:sqs/queue:Queue": ("name", 80),
    "aws:wafv2/webAcl:WebAcl": ("name", 128),
    "aws:apigateway/apiKey:ApiKey": ("name", 1024),
    "aws:lb/loadBalancer:LoadBalancer": ("name", 32),
    "aws:lb/targetGroup:TargetGroup": ("name", 32),
}
#: Names modelform gives to what others create: the load balancer controller's ALB per Ingress.
ANNOTATED_NAMES = {"alb.ingress.kubernetes.io/load-balancer-name": 32}
#: Kubernetes object names: DNS labels (63) for Services, DNS subdomains (253) for the rest.
KUBERNETES_LIMITS = {"Service": 63}
AUTONAME_SUFFIX = 8  # "-" and 7 random characters


def longest_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(SPECS.glob("*.yaml")):
        text = path.read_text().replace("name: acme-ml\n", f"name: {PLATFORM}\n")
        for old, new in {**CLUSTERS, **MODELS}.items():
            text = re.sub(rf"\b(name|cluster): {old}\b", rf"\1: {new}", text)
        for old, new in NODE_GROUPS.items():
            text = text.replace(f"{{name: {old},", f"{{name: {new[:30]},")
        texts.append((path.name, text))
    return texts


@pytest.fixture(scope="module")
def longest_plans():
    specs = load_spec_texts(longest_texts(), root=str(REPO))
    assert [str(e) for e in specs.errors] == []
    assert {m.name for m in specs.models("prod")} == set(MODELS.values())
    return {env: plan_environment(specs, env, progress=False) for env in ("dev", "prod")}


def physical_names(plan: dict):
    for stack in plan["stacks"]:
        for resource in stack["resources"]:
            inputs = resource["inputs"]
            if resource["type"] in LIMITS:
                field, limit = LIMITS[resource["type"]]
                name = inputs.get(field)
                yield resource["urn"], name or f"{resource['name']}-xxxxxxx", limit
            elif resource["type"].startswith("kubernetes:") and "metadata" in inputs:
                yield resource["urn"], inputs["metadata"]["name"], KUBERNETES_LIMITS.get(inputs.get("kind"), 253)
                for annotation, limit in ANNOTATED_NAMES.items():
                    if annotation in inputs["metadata"].get("annotations", {}):
                        yield resource["urn"], inputs["metadata"]["annotations"][annotation], limit


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_physical_name_fits_its_limit(longest_plans, env):
    names = list(physical_names(longest_plans[env]))
    assert len(names) > 100
    too_long = [(urn, name, len(name), limit) for urn, name, limit in names if len(name) > limit]
    assert too_long == []


def test_long_names_are_fitted_with_a_hash_not_cut(longest_plans):
    roles = [
        r["inputs"]["name"]
        for s in longest_plans["prod"]["stacks"]
        for r in s["resources"]
        if r["type"] == "aws:iam/role:Role"
    ]
    fitted = [name for name in roles if re.search(r"-[0-9a-f]{8}$", name)]
    assert fitted, "the longest names need fitting"
    assert len(set(roles)) == len(roles)
    assert all(len(name) <= 64 for name in roles)


def test_fit_keeps_short_names_and_hashes_long_ones():
    assert naming.fit("fraud-detector-guard-role", 64) == "fraud-detector-guard-role"
    long = "x" * 40 + "-default-current-pod-role"
    fitted = naming.fit(long, 64)
    assert len(fitted) == 64 and fitted.startswith("x" * 40) and re.fullmatch(r".*-[0-9a-f]{8}", fitted)
    assert naming.fit(long, 64) == fitted and naming.fit(long + "2", 64) != fitted
