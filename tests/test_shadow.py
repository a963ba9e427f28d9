"""Shadow tests: a candidate that sees a copy of a share of a deployment's requests, whose answers
are captured and scored on their own, never returned.

Given the samples (demand-forecaster's SageMaker deployment shadows version 8 on 25 % of its
requests) and an EKS variant of car-damage-estimator, these pin the endpoint configuration, the
shadow's capacity and alarms, the monitoring steps that keep its scores apart, the EKS objects
(mirroring pods, the shadow outside the ingress) and every validation rule."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from modelform.capacity import shadow_share
from modelform.plan import plan_environment
from modelform.spec import Shadow
from tests.conftest import DEPLOYMENT, HEADER, problems_of, resources_of, specs_with

CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:appautoscaling/target:Target"
SCHEDULED = "aws:appautoscaling/scheduledAction:ScheduledAction"


# --- SageMaker ------------------------------------------------------------------------------------


def test_the_endpoint_configuration_copies_a_quarter_of_the_requests_to_the_shadow(sample_plans):
    config = resources_of(sample_plans["prod"], "demand-forecaster.prod", CONFIG)["demand-forecaster-default-config"]
    (production,) = config["inputs"]["productionVariants"]
    (shadow,) = config["inputs"]["shadowProductionVariants"]
    assert shadow["variantName"] == "candidate"
    # SageMaker copies the share of requests given by the shadow's weight relative to production's.
    assert shadow["initialVariantWeight"] / production["initialVariantWeight"] == 0.25
    assert shadow["instanceType"] == production["instanceType"] == "ml.c6i.2xlarge"
    # Its fleet starts at its share of production's starting count (16: the highest floor).
    assert (production["initialInstanceCount"], shadow["initialInstanceCount"]) == (16, 4)
    assert shadow["modelName"].startswith("demand-forecaster-default-candidate-")


def test_the_shadow_serves_its_registry_version_network_isolated(sample_plans):
    model = resources_of(sample_plans["prod"], "demand-forecaster.prod")["demand-forecaster-default-candidate-model"]
    assert model["inputs"]["primaryContainer"] == {
        "modelPackageName": "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package/demand-forecaster/8"
    }
    assert model["inputs"]["enableNetworkIsolation"] is True


def test_the_shadow_alarms_tell_its_owners_but_never_roll_production_back(sample_plans):
    resources = resources_of(sample_plans["prod"], "demand-forecaster.prod")
    for alarm in ("p99-latency", "5xx-rate"):
        inputs = resources[f"demand-forecaster-default-candidate-{alarm}"]["inputs"]
        assert inputs["alarmActions"] == ["<demand-forecaster-monitoring-alerts.arn>"]
    endpoint = resources["demand-forecaster-default-endpoint"]["inputs"]
    rollback = {a["alarmName"] for a in endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]}
    assert rollback == {"demand-forecaster-default-current-p99-latency", "demand-forecaster-default-current-5xx-rate"}


def test_the_shadow_scales_on_its_copies_from_its_share_of_the_floor_without_windows(sample_plans):
    resources = resources_of(sample_plans["prod"], "demand-forecaster.prod")
    target = resources["demand-forecaster-default-candidate-scaling"]["inputs"]
    assert target["resourceId"] == "endpoint/demand-forecaster-default/variant/candidate"
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 30)  # 25 % of 2, rounded up; the ceiling as written
    tracking = resources["demand-forecaster-default-candidate-invocations-per-instance"]["inputs"]
    assert tracking["targetTrackingScalingPolicyConfiguration"]["targetValue"] == 600
    scheduled = resources_of(sample_plans["prod"], "demand-forecaster.prod", SCHEDULED)
    assert scheduled and not [name for name in scheduled if "-candidate-" in name]


def test_a_deployment_without_a_shadow_declares_none(sample_plans):
    config = resources_of(sample_plans["prod"], "fraud-detector.prod", CONFIG)["fraud-detector-default-config"]
    assert "shadowProductionVariants" not in config["inputs"]


@pytest.mark.parametrize("floor, percent, share", [(2, 25, 1), (10, 20, 2), (10, 25, 3), (7, 100, 7), (1, 1, 1)])
def test_shadow_share_of_a_floor(floor, percent, share):
    assert shadow_share(floor, Shadow("candidate", 2, None, percent)) == share


# --- monitoring -----------------------------------------------------------------------------------


def monitoring_steps(plan: dict, model: str) -> dict[str, dict]:
    pipeline = resources_of(plan, f"{model}.{plan['env']}")[f"{model}-monitoring-pipeline"]
    return {s["Name"]: s for s in json.loads(pipeline["inputs"]["pipelineDefinition"])["Steps"]}


def _argument(step: dict, flag: str) -> str:
    arguments = step["Arguments"]["AppSpecification"]["ContainerArguments"]
    return arguments[arguments.index(flag) + 1]


def _current(step: dict) -> str:
    (current,) = [i for i in step["Arguments"]["ProcessingInputs"] if i["InputName"] == "current"]
    return current["S3Input"]["S3Uri"]


def test_production_scores_leave_the_shadow_out_and_the_shadow_is_scored_on_its_own(sample_plans):
    steps = monitoring_steps(sample_plans["prod"], "demand-forecaster")
    assert sorted(steps) == ["Monitor-default", "Monitor-default-shadow"]
    production, shadow = steps["Monitor-default"], steps["Monitor-default-shadow"]
    prefix = "s3://<acme-ml-capture.bucket>/demand-forecaster/default/"
    # SageMaker writes <prefix><endpoint>/<variant>/...: the shadow's folder is left out of production's.
    assert _current(production) == prefix
    assert _argument(production, "--skip") == "demand-forecaster-default/candidate"
    assert "--variant" not in production["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert _current(shadow) == prefix + "demand-forecaster-default/candidate/"
    assert _argument(shadow, "--variant") == "candidate" and _argument(shadow, "--deployment") == "default"


# --- EKS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eks_shadow_plan():
    """car-damage-estimator with its 5 % variant turned into a 50 % shadow."""
    specs = specs_with(
        "car-damage-estimator.yaml",
        "      - {name: current, model_version: 4, weight: 95}\n      - {name: shadow, model_version: 5, weight: 5}\n",
        "      - {name: current, model_version: 4, weight: 100}\n"
        "    shadow: {name: candidate, model_version: 5, percent: 50}\n",
        "        variants: [{name: shadow, weight: 0}]   # named lists merge by name: keep, but no traffic\n",
        "",
    )
    assert specs.errors == [], specs.errors
    return specs, plan_environment(specs, "prod", models=["car-damage-estimator"], progress=False)


def _object(plan: dict, name: str) -> dict:
    return resources_of(plan, "car-damage-estimator.prod")[name]["inputs"]


def test_production_pods_mirror_half_their_requests_to_the_shadow_service(eks_shadow_plan):
    _, plan = eks_shadow_plan
    pod = _object(plan, "car-damage-estimator-default-current-deployment")["spec"]["template"]["spec"]
    arguments = pod["containers"][0]["args"]
    assert arguments[arguments.index("--mirror-url") + 1] == (
        "http://car-damage-estimator-default-candidate.claims.svc.cluster.local/invocations"
    )
    assert arguments[arguments.index("--mirror-percent") + 1] == "50"
    service = _object(plan, "car-damage-estimator-default-candidate-service")
    assert service["metadata"]["name"] == "car-damage-estimator-default-candidate"
    assert service["spec"]["ports"][0]["port"] == 80


def test_only_production_pods_may_reach_the_shadow_and_only_its_serving_port(eks_shadow_plan):
    _, plan = eks_shadow_plan
    policy = _object(plan, "car-damage-estimator-default-current-networkpolicy")
    mirroring = [rule for rule in policy["spec"]["egress"] if "to" in rule]
    assert mirroring == [
        {
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "car-damage-estimator",
                            "modelform/deployment": "default",
                            "modelform/variant": "candidate",
                        }
                    }
                }
            ],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]
    shadow_policy = _object(plan, "car-damage-estimator-default-candidate-networkpolicy")
    assert not [rule for rule in shadow_policy["spec"]["egress"] if "to" in rule]  # a shadow mirrors nothing


def test_the_shadow_pods_capture_under_their_own_prefix_and_never_mirror(eks_shadow_plan):
    _, plan = eks_shadow_plan
    pod = _object(plan, "car-damage-estimator-default-candidate-deployment")["spec"]["template"]["spec"]
    arguments = pod["containers"][0]["args"]
    assert "--mirror-url" not in arguments
    assert arguments[arguments.index("--capture-uri") + 1] == (
        "s3://<acme-ml-capture.bucket>/car-damage-estimator/default/candidate/"
    )
    fetch = pod["initContainers"][0]["args"]
    assert fetch[fetch.index("--model-package") + 1].endswith(":model-package/car-damage-estimator/5")


def test_the_shadow_is_outside_the_ingress_and_holds_its_share_of_the_floor(eks_shadow_plan):
    _, plan = eks_shadow_plan
    ingress = _object(plan, "car-damage-estimator-default-ingress")
    forward = json.loads(ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.weighted"])
    assert [g["serviceName"] for g in forward["forwardConfig"]["targetGroups"]] == [
        "car-damage-estimator-default-current"
    ]
    hpa = _object(plan, "car-damage-estimator-default-candidate-horizontalpodautoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 12)  # 50 % of 2; the ceiling as written


def test_the_shadow_pod_role_reads_only_its_version_and_writes_only_its_capture(eks_shadow_plan):
    _, plan = eks_shadow_plan
    policy = json.loads(_object(plan, "car-damage-estimator-default-candidate-pod-role-policy")["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["DescribeOwnVersion"]["Resource"] == [
        "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package/car-damage-estimator/5"
    ]
    assert by_sid["WriteOwnDataCapture"]["Resource"] == [
        "arn:aws:s3:::<acme-ml-capture.bucket>/car-damage-estimator/default/candidate/*"
    ]


def test_the_shadow_objects_validate_strictly(eks_shadow_plan):
    specs, plan = eks_shadow_plan
    version = specs.platform("prod").cluster("serving-eu").kubernetes_version
    for name, resource in resources_of(plan, "car-damage-estimator.prod").items():
        if "-candidate-" in name and resource["type"].startswith("kubernetes:"):
            kubernetes_validate.validate(resource["inputs"], version, strict=True)


def test_eks_monitoring_scores_the_shadow_capture_folder(eks_shadow_plan):
    _, plan = eks_shadow_plan
    steps = monitoring_steps(plan, "car-damage-estimator")
    assert _argument(steps["Monitor-default"], "--skip") == "candidate"
    assert _current(steps["Monitor-default-shadow"]) == (
        "s3://<acme-ml-capture.bucket>/car-damage-estimator/default/candidate/"
    )


# --- rules ----------------------------------------------------------------------------------------

CAPTURING = DEPLOYMENT + "    data_capture_percent: 10\n"


@pytest.mark.parametrize(
    "shadow, expected",
    [
        (
            "    shadow: {name: next, model_version: 2, artifact: s3://models/m.tar.gz}\n",
            "specs/m.yaml:13:54: deployments[0].shadow.artifact: a shadow has exactly one of model_version and "
            "artifact (found both)",
        ),
        (
            "    shadow: {name: next}\n",
            "specs/m.yaml:13:13: deployments[0].shadow: a shadow has exactly one of model_version and artifact "
            "(found neither)",
        ),
        (
            "    shadow: {name: current, model_version: 2}\n",
            "specs/m.yaml:13:20: deployments[0].shadow.name: 'current' already names a variant of this deployment",
        ),
        (
            "    shadow: {name: next, model_version: 2, percent: 0}\n",
            "specs/m.yaml:13:53: deployments[0].shadow.percent: must be at least 1 (got 0)",
        ),
        (
            "    shadow: {name: next, model_version: 2, percent: 101}\n",
            "specs/m.yaml:13:53: deployments[0].shadow.percent: must be at most 100 (got 101)",
        ),
    ],
)
def test_shadow_rules(repo, shadow, expected):
    assert problems_of(repo, HEADER + CAPTURING + shadow) == [expected]


def test_a_shadow_needs_data_capture(repo):
    assert problems_of(repo, HEADER + DEPLOYMENT + "    shadow: {name: next, model_version: 2}\n") == [
        "specs/m.yaml:12:13: deployments[0].shadow: a shadow's answers are only read from the data capture: "
        "set data_capture_percent above 0"
    ]


def test_a_sagemaker_shadow_needs_exactly_one_production_variant(repo):
    text = HEADER + CAPTURING.replace(
        "variants: [{name: current, model_version: 1}]",
        "variants: [{name: current, model_version: 1}, {name: other, model_version: 2}]",
    )
    assert problems_of(repo, text + "    shadow: {name: next, model_version: 3}\n") == [
        "specs/m.yaml:13:13: deployments[0].shadow: SageMaker copies requests from exactly one production variant "
        "to a shadow (this deployment has 2): move the other variants to a deployment of their own"
    ]


def test_a_shadow_name_too_long_for_derived_names(repo):
    header = HEADER.replace("name: fraud", "name: fraud-detection-for-payments")
    problems = problems_of(repo, header + CAPTURING + f"    shadow: {{name: {'n' * 30}, model_version: 2}}\n")
    assert len(problems) == 1 and problems[0].startswith("specs/m.yaml:13:20: deployments[0].shadow.name: the derived")
