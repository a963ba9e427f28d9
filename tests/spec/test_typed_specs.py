"""The typed result: frozen dataclasses, every default filled in, environments applied."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from modelform.spec import EksDeployment, JwtIssuer, SageMakerDeployment, load_specs
from tests.conftest import REPO, SPECS

SMALLEST = """\
spec_version: 1
kind: Model
name: churn
owner: crm-ml@acme.example
team: crm
model: {framework_version: "2.6", code: model_code}
deployments:
  - name: default
    target: sagemaker
    instance_type: ml.m5.large
    variants: [{name: pinned, artifact: s3://acme-models/churn/model.tar.gz}]
"""


def test_the_smallest_useful_spec_is_valid_and_fully_defaulted(repo):
    repo.write("churn.yaml", SMALLEST)
    specs = repo.validate()
    assert specs.errors == []
    spec = specs.model("churn", "dev")
    assert (spec.description, dict(spec.tags), spec.protect, spec.decommission) == ("", {}, False, False)
    assert (spec.model.framework, spec.model.entry_point, spec.model.inference_entry_point) == (
        "pytorch",
        "train.py",
        "inference.py",
    )
    assert spec.data is spec.training is spec.monitoring is spec.retraining is None
    (deployment,) = spec.deployments
    assert isinstance(deployment, SageMakerDeployment)
    assert deployment.instance_count == 1 and deployment.autoscaling is None and deployment.data_capture_percent == 0
    assert (deployment.rollout.strategy, deployment.rollout.step_percent, deployment.rollout.wait_seconds) == (
        "all_at_once",
        None,
        600,
    )
    (variant,) = deployment.variants
    assert (variant.weight, variant.model_version, str(variant.artifact)) == (
        1.0,
        None,
        "s3://acme-models/churn/model.tar.gz",
    )


def test_prod_protects_by_default(repo):
    repo.write("churn.yaml", SMALLEST)
    specs = repo.validate()
    assert [specs.model("churn", env).protect for env in ("dev", "staging", "prod")] == [False, False, True]


def test_typed_specs_are_frozen(repo):
    repo.write("churn.yaml", SMALLEST)
    spec = repo.validate().model("churn", "dev")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.tags["x"] = "y"  # type: ignore[index]


@pytest.fixture(scope="module")
def samples():
    specs = load_specs([str(SPECS)], root=str(REPO))
    assert specs.errors == []
    return specs


def test_every_sample_is_valid_in_every_environment(samples):
    assert samples.environments == ("dev", "staging", "prod")
    for environment in samples.environments:
        assert [m.name for m in samples.models(environment)] == [
            "car-damage-estimator",
            "demand-forecaster",
            "fraud-detector",
        ]
        assert samples.platform(environment) is not None


def test_fraud_detector_typed_values(samples):
    prod = samples.model("fraud-detector", "prod")
    default, eu, sandbox = prod.deployments
    assert isinstance(default, SageMakerDeployment) and isinstance(eu, EksDeployment)
    assert [(v.name, v.model_version, v.weight) for v in default.variants] == [
        ("current", 12, 90.0),
        ("candidate", 13, 10.0),
    ]
    scaling = default.autoscaling
    assert (scaling.min_instances, scaling.max_instances, scaling.target_invocations_per_instance) == (2, 40, 300)
    assert (scaling.scale_in_cooldown_seconds, scaling.scale_out_cooldown_seconds) == (300, 60)
    (window,) = scaling.scheduled
    assert (window.start, window.end) == (
        datetime(2026, 11, 27, tzinfo=timezone.utc),
        datetime(2026, 12, 1, 8, tzinfo=timezone.utc),
    )
    assert (default.rollout.strategy, default.rollout.step_percent, default.rollout.wait_seconds) == ("canary", 10, 600)
    assert (eu.cluster, eu.namespace, eu.resources.gpu, eu.resources.memory_text) == ("serving-eu", "models", 1, "8Gi")
    assert prod.training.max_runtime_seconds == 4 * 3600 and prod.training.max_wait_seconds == 8 * 3600
    assert prod.monitoring.schedule.text == "rate(1 hour)" and prod.monitoring.drift.features is None
    assert prod.retraining.triggers == ("schedule", "drift", "quality") and prod.retraining.cooldown_seconds == 86400
    assert prod.protect and prod.stack_name == "fraud-detector.prod"
    assert default.api.auth == "iam" and [(c.name, c.rate, c.quota_per_day) for c in default.api.consumers] == [
        ("checkout", 300.0, None),
        ("chargeback-review", 20.0, 200000),
    ]
    assert (default.api.rate, default.api.burst, default.api.waf_rate_limit, default.api.domain) == (
        400.0,
        800,
        2000,
        None,
    )
    assert sandbox.serverless.max_concurrency == 10 and sandbox.api is None
    assert eu.api is not None and eu.api.http_api and eu.api.consumers == ()
    assert eu.api.jwt == JwtIssuer("https://login.acme.example/oauth2/default", ("fraud-eu-enterprise",))


def test_fraud_detector_dev_override(samples):
    dev = samples.model("fraud-detector", "dev")
    default, eu, _ = dev.deployments
    assert default.instance_type == "ml.m5.large"
    assert (default.autoscaling.min_instances, default.autoscaling.max_instances, default.autoscaling.scheduled) == (
        1,
        2,
        (),
    )
    assert default.autoscaling.target_invocations_per_instance == 300  # kept from the base
    assert (eu.autoscaling.min_replicas, eu.autoscaling.max_replicas, eu.autoscaling.target_cpu_percent) == (1, 2, 70)
    assert dev.retraining.triggers == ("schedule",) and not dev.protect


def test_environments_share_the_sections_their_overrides_leave_alone(samples):
    # dev overrides two deployments and retraining; staging has no override; prod sets protect only.
    dev, staging, prod = (samples.model("fraud-detector", env) for env in ("dev", "staging", "prod"))
    assert dev.training is staging.training is prod.training  # built once, from the same mapping
    assert dev.monitoring is staging.monitoring and dev.data is staging.data and dev.model is staging.model
    assert dev.deployments[2] is staging.deployments[2]  # the sandbox: not in dev's override
    assert dev.deployments[0] is not staging.deployments[0]  # overridden: built from the merge
    assert dev.deployments[0].instance_type == "ml.m5.large" != staging.deployments[0].instance_type
    assert dev.retraining != staging.retraining and dev.retraining.triggers == ("schedule",)
    assert prod.deployments == staging.deployments and prod.protect and not staging.protect


def test_demand_forecaster_has_both_retail_peaks(samples):
    scaling = samples.model("demand-forecaster", "prod").deployments[0].autoscaling
    assert [(w.name, w.floor, w.ceiling) for w in scaling.scheduled] == [
        ("black-friday", 12, 80),
        ("cyber-monday", 16, 100),
    ]
    assert samples.model("demand-forecaster", "staging").deployments[0].autoscaling.scheduled == ()


def test_car_damage_estimator_serves_on_gpus_and_trains_on_eks(samples):
    prod = samples.model("car-damage-estimator", "prod")
    (deployment,) = prod.deployments
    assert isinstance(deployment, EksDeployment) and deployment.resources.gpu == 1
    assert (prod.training.backend, prod.training.cluster, prod.training.instance_type) == (
        "eks",
        "gpu-training",
        "p4d.24xlarge",
    )
    dev = samples.model("car-damage-estimator", "dev")
    assert [(v.name, v.weight) for v in dev.deployments[0].variants] == [("current", 95.0), ("shadow", 0.0)]


def test_platform_environment_override(samples):
    assert samples.platform("dev").network.availability_zones == 2
    assert samples.platform("prod").network.availability_zones == 3
    training = samples.platform("prod").cluster("gpu-training")
    assert training.has_gpu_nodes and training.node_group("a100").capacity == "spot"
