"""The SageMaker endpoint of every sample deployment in every environment, pinned from the plan:
weights, instance types, capacity bounds, tracking target, both edges of every scheduled window,
rollout policy, alarms; and the pure translation functions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from modelform.sagemaker_endpoint import (
    ScheduledStep,
    inference_image,
    initial_instance_count,
    max_execution_timeout,
    scheduled_steps,
    traffic_routing,
)
from modelform.spec import (
    EndpointAlarms,
    Rollout,
    RolloutStrategy,
    SageMakerAutoscaling,
    SageMakerDeployment,
    ScheduledCapacity,
    Variant,
)
from tests.conftest import DEPLOYMENT, HEADER, PLATFORM, resources_of

CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
MODEL = "aws:sagemaker/model:Model"
TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"
SCHEDULED = "aws:appautoscaling/scheduledAction:ScheduledAction"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

# Expected from reading the specs, not from the code under test.
EXPECTED = {
    ("fraud-detector", "dev"): dict(
        instance_type="ml.m5.large",
        weights={"current": 90, "candidate": 10},
        bounds=(1, 2),
        initial=1,
        target=300,
        cooldowns=(300, 60),
        windows={},
        routing={
            "type": "CANARY",
            "waitIntervalInSeconds": 600,
            "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
        },
        capture=20,
        latency_us=250_000,
        error_percent=1,
    ),
    ("fraud-detector", "staging"): dict(
        instance_type="ml.g5.xlarge",
        weights={"current": 90, "candidate": 10},
        # Floors are the deployment's, shared by weight (rounded up, at least 1): 2 -> 2 + 1, 20 -> 18 + 2.
        bounds={"current": (2, 40), "candidate": (1, 40)},
        initial={"current": 18, "candidate": 2},
        target=300,
        cooldowns=(300, 60),
        windows={
            "current": {
                "black-friday-start": ("at(2026-11-27T00:00:00)", 18, 120),
                "black-friday-end": ("at(2026-12-01T08:00:00)", 2, 40),
            },
            "candidate": {
                "black-friday-start": ("at(2026-11-27T00:00:00)", 2, 120),
                "black-friday-end": ("at(2026-12-01T08:00:00)", 1, 40),
            },
        },
        routing={
            "type": "CANARY",
            "waitIntervalInSeconds": 600,
            "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
        },
        capture=20,
        latency_us=250_000,
        error_percent=1,
    ),
    ("demand-forecaster", "dev"): dict(
        instance_type="ml.m5.large",
        weights={"current": 100},
        bounds=(1, 2),
        initial=1,
        target=600,
        cooldowns=(600, 120),
        windows={},
        routing={
            "type": "LINEAR",
            "waitIntervalInSeconds": 300,
            "linearStepSize": {"type": "CAPACITY_PERCENT", "value": 25},
        },
        capture=10,
        latency_us=400_000,
        error_percent=0.5,
    ),
    ("demand-forecaster", "staging"): dict(
        instance_type="ml.c6i.2xlarge",
        weights={"current": 100},
        bounds=(1, 4),
        initial=1,
        target=600,
        cooldowns=(600, 120),
        windows={},
        routing={
            "type": "LINEAR",
            "waitIntervalInSeconds": 300,
            "linearStepSize": {"type": "CAPACITY_PERCENT", "value": 25},
        },
        capture=10,
        latency_us=400_000,
        error_percent=0.5,
    ),
    ("demand-forecaster", "prod"): dict(
        instance_type="ml.c6i.2xlarge",
        weights={"current": 100},
        bounds=(2, 30),
        initial=16,
        target=600,
        cooldowns=(600, 120),
        windows={
            "black-friday-start": ("at(2026-11-26T20:00:00)", 12, 80),
            "black-friday-end": ("at(2026-11-29T06:00:00)", 2, 30),
            "cyber-monday-start": ("at(2026-11-29T20:00:00)", 16, 100),
            "cyber-monday-end": ("at(2026-12-01T08:00:00)", 2, 30),
        },
        routing={
            "type": "LINEAR",
            "waitIntervalInSeconds": 300,
            "linearStepSize": {"type": "CAPACITY_PERCENT", "value": 25},
        },
        capture=10,
        latency_us=400_000,
        error_percent=0.5,
    ),
}
EXPECTED[("fraud-detector", "prod")] = EXPECTED[("fraud-detector", "staging")]


@pytest.mark.parametrize("model, env", sorted(EXPECTED))
def test_sample_endpoints_are_pinned(sample_plans, model, env):
    expected = dict(EXPECTED[(model, env)])
    for key in ("bounds", "initial"):  # the same for every variant unless given per variant
        if not isinstance(expected[key], dict):
            expected[key] = {variant: expected[key] for variant in expected["weights"]}
    if not set(expected["windows"]) <= set(expected["weights"]) or not expected["windows"]:
        expected["windows"] = {variant: expected["windows"] for variant in expected["weights"]}
    stack = f"{model}.{env}"
    endpoint_name = f"{model}-default"
    config = resources_of(sample_plans[env], stack, CONFIG)[f"{endpoint_name}-config"]
    variants = config["inputs"]["productionVariants"]
    assert {v["variantName"]: v["initialVariantWeight"] for v in variants} == expected["weights"]
    assert {v["instanceType"] for v in variants} == {expected["instance_type"]}
    assert {v["variantName"]: v["initialInstanceCount"] for v in variants} == expected["initial"]
    assert config["inputs"]["kmsKeyArn"] == "<acme-ml-key.arn>"
    capture = config["inputs"]["dataCaptureConfig"]
    assert capture["initialSamplingPercentage"] == expected["capture"] and capture["kmsKeyId"] == "<acme-ml-key.arn>"
    assert capture["destinationS3Uri"] == f"s3://<acme-ml-capture.bucket>/{model}/default/"

    endpoint = resources_of(sample_plans[env], stack, ENDPOINT)[f"{endpoint_name}-endpoint"]
    assert endpoint["inputs"]["name"] == endpoint_name
    assert endpoint["inputs"]["endpointConfigName"] == config["inputs"]["name"]
    policy = endpoint["inputs"]["deploymentConfig"]["blueGreenUpdatePolicy"]
    assert policy["trafficRoutingConfiguration"] == expected["routing"]
    rollback = {a["alarmName"] for a in endpoint["inputs"]["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]}
    # The production variants' alarms roll a deploy back (a shadow's do not: see tests/test_shadow.py).
    alarms = {
        n: a
        for n, a in resources_of(sample_plans[env], stack, ALARM).items()
        if n.endswith(("-p99-latency", "-5xx-rate"))
        and any(n.startswith(f"{endpoint_name}-{v}-") for v in expected["weights"])
    }
    assert rollback == {a["inputs"]["name"] for a in alarms.values()} and len(alarms) == 2 * len(expected["weights"])
    topic = f"<{model}-monitoring-alerts.arn>"
    assert all(a["inputs"]["alarmActions"] == [topic] and a["inputs"]["okActions"] == [topic] for a in alarms.values())

    for variant in expected["weights"]:
        prefix = f"{model}-default-{variant}"
        latency, errors = alarms[f"{prefix}-p99-latency"]["inputs"], alarms[f"{prefix}-5xx-rate"]["inputs"]
        assert (latency["metricName"], latency["extendedStatistic"], latency["threshold"]) == (
            "ModelLatency",
            "p99",
            expected["latency_us"],
        )
        assert latency["dimensions"] == {"EndpointName": endpoint_name, "VariantName": variant}
        assert errors["threshold"] == expected["error_percent"]
        assert errors["metricQueries"][2]["expression"] == "100 * errors / invocations"

        target = resources_of(sample_plans[env], stack, TARGET)[f"{prefix}-scaling"]["inputs"]
        assert (target["minCapacity"], target["maxCapacity"]) == expected["bounds"][variant]
        assert target["resourceId"] == f"endpoint/{endpoint_name}/variant/{variant}"
        tracking = resources_of(sample_plans[env], stack, POLICY)[f"{prefix}-invocations-per-instance"]["inputs"]
        configuration = tracking["targetTrackingScalingPolicyConfiguration"]
        assert configuration["targetValue"] == expected["target"]
        assert (configuration["scaleInCooldown"], configuration["scaleOutCooldown"]) == expected["cooldowns"]
        assert (
            configuration["predefinedMetricSpecification"]["predefinedMetricType"]
            == "SageMakerVariantInvocationsPerInstance"
        )
        scheduled = {
            name[len(prefix) + 1 :]: (
                r["inputs"]["schedule"],
                r["inputs"]["scalableTargetAction"]["minCapacity"],
                r["inputs"]["scalableTargetAction"]["maxCapacity"],
            )
            for name, r in resources_of(sample_plans[env], stack, SCHEDULED).items()
            if name.startswith(prefix + "-")
        }
        assert scheduled == expected["windows"][variant]


def test_models_serve_registry_versions_network_isolated(sample_plans):
    models = resources_of(sample_plans["prod"], "fraud-detector.prod", MODEL)
    assert sorted(models) == [
        "fraud-detector-default-candidate-model",
        "fraud-detector-default-current-model",
        "fraud-detector-sandbox-current-model",  # serverless: see tests/test_async_and_serverless.py
    ]
    current = models["fraud-detector-default-current-model"]["inputs"]
    assert current["primaryContainer"] == {
        "modelPackageName": "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package/fraud-detector/12"
    }
    assert current["enableNetworkIsolation"] is True
    assert current["vpcConfig"] == {
        "securityGroupIds": ["<acme-ml-models.id>"],
        "subnets": ["<acme-ml-private-1.id>", "<acme-ml-private-2.id>", "<acme-ml-private-3.id>"],
    }
    assert current["executionRoleArn"] == "<fraud-detector-sagemaker-execution.arn>"
    assert current["name"].startswith("fraud-detector-default-current-") and len(current["name"]) <= 63


def test_eks_only_models_get_no_sagemaker_serving_or_training(sample_plans):
    for env in ("dev", "staging", "prod"):
        types = {r["type"] for r in resources_of(sample_plans[env], f"car-damage-estimator.{env}").values()}
        assert not types & {ENDPOINT, CONFIG, MODEL}  # its alarms and pipeline are monitoring's (EKS capture)
        assert "aws:sagemaker/modelPackageGroup:ModelPackageGroup" in types and "aws:sns/topic:Topic" in types


# --- pure translation -----------------------------------------------------------------------------


def _deployment(scaling=None, count=1, rollout=Rollout(RolloutStrategy.ALL_AT_ONCE, None, 600)):
    return SageMakerDeployment(
        "d", "sagemaker", "ml.m5.large", count, (Variant("v", 1, None, 1.0),), scaling, rollout, 0
    )


def _utc(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=timezone.utc)


ONLY = Variant("v", 1, None, 1.0)


def test_initial_count_is_the_highest_floor_the_autoscaler_may_hold():
    windows = (ScheduledCapacity("a", _utc(1), _utc(2), 5, 10), ScheduledCapacity("b", _utc(3), _utc(4), 12, 20))
    assert initial_instance_count(_deployment(SageMakerAutoscaling(3, 8, 100, 300, 60, windows)), ONLY) == 12
    assert initial_instance_count(_deployment(SageMakerAutoscaling(3, 8, 100, 300, 60, ())), ONLY) == 3
    assert initial_instance_count(_deployment(None, count=4), ONLY) == 4  # without autoscaling: per variant


def test_scheduled_steps_raise_at_start_and_restore_at_end():
    scaling = SageMakerAutoscaling(2, 10, 100, 300, 60, (ScheduledCapacity("peak", _utc(27), _utc(28, 6), 20, 50),))
    assert scheduled_steps(_deployment(scaling), ONLY) == [
        ScheduledStep("peak-start", "2026-11-27T00:00:00", 20, 50),
        ScheduledStep("peak-end", "2026-11-28T06:00:00", 2, 10),
    ]
    assert scheduled_steps(_deployment(None), ONLY) == []


@pytest.mark.parametrize(
    "floor, weights, shares",
    [
        (15, (95, 5), (15, 1)),  # the 5 % candidate no longer starts at the 95 % variant's floor
        (20, (90, 10), (18, 2)),
        (3, (1, 1), (2, 2)),  # rounded up: the floor is never undercut
        (10, (100, 0), (10, 1)),  # a variant without traffic still runs one instance
        (1, (50, 50), (1, 1)),
        (4, (0, 0), (4, 4)),  # no weights at all: each variant the whole floor
    ],
)
def test_floors_are_shared_by_weight(floor, weights, shares):
    from modelform.capacity import weight_share

    variants = tuple(Variant(f"v{i}", 1, None, float(w)) for i, w in enumerate(weights))
    assert tuple(weight_share(floor, v, variants) for v in variants) == shares


def test_traffic_routing_and_timeouts():
    assert traffic_routing(Rollout(RolloutStrategy.ALL_AT_ONCE, None, 300)) == {
        "type": "ALL_AT_ONCE",
        "wait_interval_in_seconds": 300,
    }
    assert max_execution_timeout(Rollout(RolloutStrategy.ALL_AT_ONCE, None, 0)) == 900
    assert max_execution_timeout(Rollout(RolloutStrategy.CANARY, 10, 600)) == 2 * (600 + 900)
    assert max_execution_timeout(Rollout(RolloutStrategy.LINEAR, 10, 3600)) == 28800  # SageMaker's ceiling
    assert max_execution_timeout(Rollout(RolloutStrategy.LINEAR, 50, 60)) == 2 * (60 + 900)


def test_alarm_defaults_without_monitoring_are_resolved_by_the_spec_layer(repo):
    repo.write("m.yaml", HEADER + DEPLOYMENT)
    repo.write("platform.yaml", PLATFORM)
    specs = repo.validate()
    assert specs.errors == []
    assert specs.model("fraud", "dev").endpoint_alarms == EndpointAlarms(latency_p99_ms=1000, error_rate_percent=1.0)


@pytest.mark.parametrize(
    "instance_type, expected",
    [
        ("ml.g5.xlarge", "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-gpu-py312"),
        ("ml.m5.large", "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"),
    ],
)
def test_inference_image_from_the_sdk_catalogue(instance_type, expected):
    assert inference_image("2.6.0", "us-east-1", instance_type) == expected
