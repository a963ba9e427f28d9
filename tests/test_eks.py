"""EKS: the platform's clusters and node groups, and the EKS endpoints' Kubernetes objects, all
validated strictly against the official schemas of the cluster's version and pinned."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import kubernetes_validate
import pytest

from tests.conftest import resources_of

ENVIRONMENTS = ("dev", "staging", "prod")


def k8s_objects(plan: dict) -> list[dict]:
    return [
        r["inputs"]
        for s in plan["stacks"]
        for r in s["resources"]
        if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_kubernetes_object_validates_strictly(sample_plans, sample_specs, env):
    version = sample_specs.platform(env).cluster("serving-eu").kubernetes_version
    objects = k8s_objects(sample_plans[env])
    assert sorted({o["kind"] for o in objects}) == [
        "CronJob",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    for manifest in objects:
        kubernetes_validate.validate(manifest, version, strict=True)  # raises on any violation


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pods_are_locked_down(sample_plans, env):
    deployments = [o for o in k8s_objects(sample_plans[env]) if o["kind"] == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"] + pod["initContainers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]} and context["seccompProfile"] == {
                "type": "RuntimeDefault"
            }
            assert container["resources"]["requests"] == container["resources"]["limits"]
        assert "replicas" not in deployment["spec"]  # the HPA owns it


def test_gpu_pods_request_gpus_and_tolerate_the_taint(sample_plans):
    resources = resources_of(sample_plans["prod"], "car-damage-estimator.prod")
    pod = resources["car-damage-estimator-default-current-deployment"]["inputs"]["spec"]["template"]["spec"]
    (serve,) = pod["containers"]
    assert serve["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert pod["nodeSelector"] == {"modelform/gpu": "true"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert serve["readinessProbe"]["httpGet"] == {"path": "/ping", "port": 8080}
    assert serve["livenessProbe"]["httpGet"] == {"path": "/ping", "port": 8080}
    assert serve["image"] == "<acme-ml-serve.repositoryUrl>:" + serve["image"].rsplit(":", 1)[1]  # the platform's ECR
    (fetch,) = pod["initContainers"]
    assert fetch["image"] == serve["image"] and fetch["command"] == ["python"]
    assert fetch["args"] == [
        "-m",
        "model_code.serve.fetch_model",
        "--model-package",
        "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package/car-damage-estimator/4",
        "--region",
        "us-east-1",
        "--to",
        "/opt/ml/model",
    ]


@pytest.mark.parametrize("env, bounds", [("dev", (1, 2, 70)), ("staging", (2, 20, 70)), ("prod", (2, 20, 70))])
def test_hpa_and_pdb(sample_plans, env, bounds):
    resources = resources_of(sample_plans[env], f"fraud-detector.{env}")
    hpa = resources["fraud-detector-eu-enterprise-current-horizontalpodautoscaler"]["inputs"]["spec"]
    target = hpa["metrics"][0]["resource"]["target"]["averageUtilization"]
    assert (hpa["minReplicas"], hpa["maxReplicas"], target) == bounds
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraud-detector-eu-enterprise-current",
    }
    deployment = resources["fraud-detector-eu-enterprise-current-deployment"]["inputs"]["spec"]
    # A rolling update adds a pod before it removes one: serving capacity never drops.
    assert deployment["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pdb = resources["fraud-detector-eu-enterprise-current-poddisruptionbudget"]["inputs"]["spec"]
    assert pdb["maxUnavailable"] == 1
    network = resources["fraud-detector-eu-enterprise-current-networkpolicy"]["inputs"]["spec"]
    assert network["ingress"] == [
        {"from": [{"ipBlock": {"cidr": "10.40.0.0/16"}}], "ports": [{"port": 8080, "protocol": "TCP"}]}
    ]
    assert network["policyTypes"] == ["Ingress", "Egress"]


@pytest.mark.parametrize("env, weights", [("dev", [1000, 0]), ("prod", [950, 50])])
def test_ingress_splits_traffic_by_variant_weight(sample_plans, env, weights):
    ingress = resources_of(sample_plans[env], f"car-damage-estimator.{env}")["car-damage-estimator-default-ingress"][
        "inputs"
    ]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    groups = json.loads(annotations["alb.ingress.kubernetes.io/actions.weighted"])["forwardConfig"]["targetGroups"]
    assert [(g["serviceName"], g["weight"]) for g in groups] == list(
        zip(["car-damage-estimator-default-current", "car-damage-estimator-default-shadow"], weights)
    )


def test_pod_roles_read_only_their_model(sample_plans):
    resources = resources_of(sample_plans["prod"], "fraud-detector.prod")
    trust = json.loads(resources["fraud-detector-eu-enterprise-current-pod-role"]["inputs"]["assumeRolePolicy"])[
        "Statement"
    ][0]
    assert trust["Principal"] == {"Federated": "<acme-ml-serving-eu-oidc.arn>"}
    assert trust["Condition"]["StringEquals"] == {
        "<acme-ml-serving-eu-control-plane.oidcIssuer>:sub": (
            "system:serviceaccount:models:fraud-detector-eu-enterprise-current"
        ),
        "<acme-ml-serving-eu-control-plane.oidcIssuer>:aud": "sts.amazonaws.com",
    }
    statements = {
        s["Sid"]: s
        for s in json.loads(resources["fraud-detector-eu-enterprise-current-pod-role-policy"]["inputs"]["policy"])[
            "Statement"
        ]
    }
    assert statements["ReadOwnModel"]["Resource"] == ["arn:aws:s3:::<acme-ml-artifacts.bucket>/fraud-detector/models/*"]
    assert statements["DescribeOwnVersion"]["Resource"] == [
        "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package/fraud-detector/12"
    ]
    account = resources["fraud-detector-eu-enterprise-current-serviceaccount"]["inputs"]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "<fraud-detector-eu-enterprise-current-pod-role.arn>"
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_clusters_and_node_groups(sample_plans, env):
    resources = resources_of(sample_plans[env], f"acme-ml.{env}")
    control = resources["acme-ml-serving-eu-control-plane"]
    inputs = control["inputs"]
    assert inputs["vpcConfig"]["endpointPrivateAccess"] is True and inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert inputs["encryptionConfig"] == {"provider": {"keyArn": "<acme-ml-key.arn>"}, "resources": ["secrets"]}
    assert inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert inputs["deletionProtection"] is (env == "prod")
    gpu = resources["acme-ml-serving-eu-gpu"]
    assert gpu["inputs"]["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA" and gpu["inputs"]["capacityType"] == "ON_DEMAND"
    assert gpu["inputs"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu["inputs"]["scalingConfig"] == {"desiredSize": 0, "maxSize": 20, "minSize": 0}
    assert gpu["options"]["ignoreChanges"] == ["scalingConfig.desiredSize"]
    system = resources["acme-ml-serving-eu-system"]["inputs"]
    assert (
        system["amiType"] == "BOTTLEROCKET_x86_64"
        and system["taints"] == []
        and system["scalingConfig"]["minSize"] == 2
    )
    spot = resources["acme-ml-gpu-training-a100"]["inputs"]
    assert spot["capacityType"] == "SPOT" and spot["instanceTypes"] == ["p4d.24xlarge"]
    assert resources["acme-ml-serving-eu-oidc"]["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]


def test_workloads_carry_their_stated_scanner_exceptions(sample_plans):
    """checkov reads the decision and its reason on the object itself (and reports it as skipped)."""
    from modelform.plan.exceptions import STATED_EXCEPTIONS

    reason = {e.check: e.reason for e in STATED_EXCEPTIONS}["CKV_K8S_43"]
    deployments = [o for o in k8s_objects(sample_plans["prod"]) if o["kind"] == "Deployment"]
    assert deployments and all(
        d["metadata"]["annotations"] == {"checkov.io/skip1": f"CKV_K8S_43={reason}"} for d in deployments
    )


def _serving_deployment(plan: dict, stack: str, name: str) -> dict:
    return resources_of(plan, stack)[f"{name}-deployment"]["inputs"]


def test_serving_pods_drain_in_step_with_their_termination(sample_plans):
    from modelform import eks_endpoint

    pod = _serving_deployment(
        sample_plans["prod"], "car-damage-estimator.prod", "car-damage-estimator-default-current"
    )["spec"]["template"]["spec"]
    (serve,) = pod["containers"]
    assert serve["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    drain = int(serve["args"][serve["args"].index("--drain-seconds") + 1])
    assert drain == eks_endpoint.DRAIN_SECONDS == 20
    # Kubernetes kills the pod when the grace period ends: the preStop sleep and the drain must fit.
    assert pod["terminationGracePeriodSeconds"] == 30 > 5 + drain


def test_serving_pods_are_scraped_for_prometheus_metrics(sample_plans):
    for stack, name in (
        ("car-damage-estimator.prod", "car-damage-estimator-default-current"),
        ("fraud-detector.prod", "fraud-detector-eu-enterprise-current"),
    ):
        template = _serving_deployment(sample_plans["prod"], stack, name)["spec"]["template"]
        assert template["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8080",
            "prometheus.io/path": "/metrics",
        }


def test_eks_data_capture_goes_to_the_variant_prefix_with_the_platform_key(sample_plans):
    for variant in ("current", "shadow"):
        name = f"car-damage-estimator-default-{variant}"
        (serve,) = _serving_deployment(sample_plans["prod"], "car-damage-estimator.prod", name)["spec"]["template"][
            "spec"
        ]["containers"]
        arguments = serve["args"]
        options = dict(zip(arguments[::2], arguments[1::2]))
        assert options["--capture-uri"] == f"s3://<acme-ml-capture.bucket>/car-damage-estimator/default/{variant}/"
        assert options["--capture-percent"] == "10" and options["--capture-kms-key"] == "<acme-ml-key.arn>"
        assert options["--region"] == "us-east-1"
    (serve,) = _serving_deployment(sample_plans["prod"], "fraud-detector.prod", "fraud-detector-eu-enterprise-current")[
        "spec"
    ]["template"]["spec"]["containers"]
    assert "--capture-uri" not in serve["args"]  # no data_capture_percent: nothing captured


def test_an_eks_deployment_with_capture_is_monitored_like_a_sagemaker_one(sample_plans):
    resources = resources_of(sample_plans["prod"], "car-damage-estimator.prod")
    alarms = {
        r["inputs"]["name"]: r["inputs"]
        for r in resources.values()
        if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm" and "-api-" not in r["inputs"]["name"]
    }  # the API's own alarms: tests/test_model_api.py
    assert sorted(alarms) == [
        "car-damage-estimator-batch-failures",  # its batch scoring's failure inbox (tests/test_batch_scoring.py)
        "car-damage-estimator-default-drift",
        "car-damage-estimator-default-quality-mae-max",
        "car-damage-estimator-default-quality-r2-min",
        "car-damage-estimator-default-schema-breaks",
    ]
    drift = alarms["car-damage-estimator-default-drift"]
    assert (drift["namespace"], drift["metricName"], drift["threshold"]) == ("modelform", "Drift", 0.15)
    assert {d: drift["dimensions"][d] for d in ("model", "deployment")} == {
        "model": "car-damage-estimator",
        "deployment": "default",
    }
    definition = json.loads(resources["car-damage-estimator-monitoring-pipeline"]["inputs"]["pipelineDefinition"])
    (step,) = definition["Steps"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in step["Arguments"]["ProcessingInputs"]}
    assert inputs["current"] == "s3://<acme-ml-capture.bucket>/car-damage-estimator/default/"
    # The retraining triggers (quality, drift) listen to exactly those alarms; a schema break needs a
    # person (retraining on traffic the model cannot read would not help), so it only notifies.
    patterns = {
        r["name"]: json.loads(r["inputs"]["eventPattern"])
        for r in resources.values()
        if r["type"] == "aws:cloudwatch/eventRule:EventRule" and "eventPattern" in r["inputs"]
    }
    alarm_rules = {name: p for name, p in patterns.items() if p.get("source") == ["aws.cloudwatch"]}
    watched = sorted(arn for p in alarm_rules.values() for arn in p["resources"])
    assert watched == sorted(
        f"<{name}.arn>" for name in alarms if not name.endswith(("-schema-breaks", "-batch-failures"))
    )
    schema = alarms["car-damage-estimator-default-schema-breaks"]
    assert (schema["metricName"], schema["threshold"], schema["alarmActions"]) == (
        "SchemaBreaks",
        0,
        ["<car-damage-estimator-monitoring-alerts.arn>"],
    )


# --- scheduled capacity on EKS: the capacity scheduler --------------------------------------------

SCHEDULER = "fraud-detector-eu-enterprise-capacity"


def test_scheduled_windows_give_an_eks_deployment_its_capacity_scheduler(sample_plans):
    resources = resources_of(sample_plans["prod"], "fraud-detector.prod")
    assert sorted(name for name in resources if name.startswith(SCHEDULER)) == [
        f"{SCHEDULER}-cronjob",
        f"{SCHEDULER}-networkpolicy",
        f"{SCHEDULER}-role",
        f"{SCHEDULER}-rolebinding",
        f"{SCHEDULER}-serviceaccount",
    ]
    cron = resources[f"{SCHEDULER}-cronjob"]["inputs"]["spec"]
    assert (cron["schedule"], cron["timeZone"], cron["concurrencyPolicy"]) == ("* * * * *", "Etc/UTC", "Forbid")
    container = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    plan = json.loads(container["args"][container["args"].index("--plan") + 1])
    # One variant (weight 100): the whole floor; every day 2..20 pods, 8..40 for the year-end sales.
    assert plan == {
        "fraud-detector-eu-enterprise-current": {
            "everyday": [2, 20],
            "windows": [
                {
                    "name": "year-end-sales",
                    "start": "2026-12-26T06:00:00Z",
                    "end": "2027-01-02T00:00:00Z",
                    "min": 8,
                    "max": 40,
                }
            ],
        }
    }
    assert container["args"][:4] == ["-m", "model_code.capacity_scheduler", "--namespace", "models"]
    # A deployment without windows has none (car-damage-estimator serves on EKS without any).
    car = resources_of(sample_plans["prod"], "car-damage-estimator.prod")
    assert not [name for name in car if "-capacity-" in name]


def test_the_capacity_scheduler_may_only_get_and_patch_its_own_hpas(sample_plans):
    resources = resources_of(sample_plans["prod"], "fraud-detector.prod")
    role = resources[f"{SCHEDULER}-role"]["inputs"]
    assert role["rules"] == [
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "resourceNames": ["fraud-detector-eu-enterprise-current"],
            "verbs": ["get", "patch"],
        }
    ]
    binding = resources[f"{SCHEDULER}-rolebinding"]["inputs"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SCHEDULER}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SCHEDULER, "namespace": "models"}]
    account = resources[f"{SCHEDULER}-serviceaccount"]["inputs"]
    assert account["automountServiceAccountToken"] is False
    pod = resources[f"{SCHEDULER}-cronjob"]["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True and pod["serviceAccountName"] == SCHEDULER
    context = pod["containers"][0]["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["capabilities"] == {"drop": ["ALL"]}
    network = resources[f"{SCHEDULER}-networkpolicy"]["inputs"]["spec"]
    assert network["ingress"] == [] and network["policyTypes"] == ["Ingress", "Egress"]


def test_the_scheduler_owns_the_hpa_bounds_of_deployments_with_windows(sample_plans):
    """`up` must not reset a window's raised bounds: the HPA ignores changes to them, and the
    scheduler sets them from the schedule every minute (the everyday bounds included)."""
    fraud = resources_of(sample_plans["prod"], "fraud-detector.prod")
    hpa = fraud["fraud-detector-eu-enterprise-current-horizontalpodautoscaler"]
    assert hpa["options"]["ignoreChanges"] == ["spec.maxReplicas", "spec.minReplicas"]
    car = resources_of(sample_plans["prod"], "car-damage-estimator.prod")
    assert all(
        "ignoreChanges" not in r.get("options", {}) for n, r in car.items() if n.endswith("horizontalpodautoscaler")
    )


def test_scheduled_floors_are_shared_by_weight():
    from decimal import Decimal

    from modelform.eks_endpoint import capacity_plan
    from modelform.spec.types import EksAutoscaling, EksDeployment, PodResources, ScheduledCapacity, Target, Variant

    day = datetime(2026, 12, 1, tzinfo=timezone.utc)
    window = ScheduledCapacity("peak", day, day.replace(day=2), 20, 60)
    deployment = EksDeployment(
        name="d",
        target=Target.EKS,
        cluster="serving",
        namespace="models",
        variants=(Variant("a", 1, None, 95), Variant("b", 2, None, 5)),
        autoscaling=EksAutoscaling(4, 10, 70, (window,)),
        resources=PodResources(Decimal(1), Decimal(2**30), "1", "1Gi", 0),
        data_capture_percent=0,
    )
    plan = capacity_plan("m", deployment)
    assert {name: (p["everyday"], p["windows"][0]["min"], p["windows"][0]["max"]) for name, p in plan.items()} == {
        "m-d-a": ([4, 10], 19, 60),
        "m-d-b": ([1, 10], 1, 60),
    }
