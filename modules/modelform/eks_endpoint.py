"""An EKS endpoint for one deployment of a model: Kubernetes objects per variant, and a weighted
ALB ingress in front of them.

The manifests are pure functions (`variant_objects`, `ingress_object`) validated against the
official schemas (kubernetes-validate, strict) in the tests; the component registers them with
an explicit Kubernetes provider built from the platform's kubeconfig output.

Per variant `<v>` = `<model>-<deployment>-<variant>`, in the spec's namespace:
- ServiceAccount `<v>` annotated with a pod IAM role (IRSA) that may read only that model's
  artifacts (and describe its own registry versions) and, with `data_capture_percent`, write only
  under its capture prefix `<capture bucket>/<model>/<deployment>/<variant>/`, nothing else;
- Deployment `<v>`: an init container (the serving image, `model_code/serve/fetch_model.py`)
  fetches the model (a registry version's ModelDataUrl, or the artifact) into an emptyDir; the
  serving container (`python -m model_code.serve`, the SageMaker contract on 8080) has readiness
  and liveness probes on `/ping`, a preStop sleep and a drain that fit the grace period
  (`PRE_STOP_SECONDS`, `DRAIN_SECONDS`), data capture arguments when the deployment captures,
  Prometheus scrape annotations for `/metrics`, requests = limits, GPUs as `nvidia.com/gpu`
  limits with the GPU node selector and toleration; every container runs
  non-root with a read-only root file system, no privilege escalation, all capabilities dropped,
  seccomp RuntimeDefault; the service-account token is not mounted (IRSA projects its own);
  `replicas` is left to the HPA;
- Service `<v>` (ClusterIP), HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation),
  PodDisruptionBudget (at most one pod down at a time).
One internal ALB Ingress per deployment splits traffic between the variants' Services by weight
(AWS Load Balancer Controller `actions` annotation); the ALB is open to the VPC's addresses only
and named by us (`naming.ingress_load_balancer`), so a managed API (`model_api.py`) can reach it.

A deployment's `shadow` gets the same objects as a variant (its own pod role, capture prefix and
HPA, from its share of the floor: `shadow_share`), but no place in the ingress and no scheduled
windows: the production pods mirror `shadow.percent` % of the requests they answered to its
Service (`--mirror-url`, `model_code/serve/mirror.py`), and their network policy lets them reach
exactly its pods' serving port.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from . import iam, kubernetes, naming
from .context import ModelContext, Resolved
from .capacity import shadow_share, weight_share
from .contract import ClusterOutputs
from .model_registry import model_package_arn
from .sagemaker_endpoint import capture_prefix as sagemaker_capture_prefix
from .spec import EksDeployment, PodResources, Variant, served_variants
from .spec.parsers import format_timestamp

SERVE_PORT = 8080
#: The port the deployment's ALB listens on (HTTP, inside the VPC only).
INGRESS_PORT = 80
MODEL_MOUNT = "/opt/ml/model"
#: Shutdown of a serving pod, in step: the preStop sleep keeps the pod serving while the endpoints
#: controller and the ALB stop sending it traffic; then SIGTERM starts the server's drain, which
#: answers every request received within DRAIN_SECONDS; the grace period covers both, with margin.
PRE_STOP_SECONDS = 5
DRAIN_SECONDS = 20
TERMINATION_GRACE_SECONDS = PRE_STOP_SECONDS + DRAIN_SECONDS + 5
#: The objects of one variant, in the order they are declared.
VARIANT_KINDS = (
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


def serving_image(repository_url: str, code_version: str) -> str:
    """The serving image built from model_code/Dockerfile, tagged with the code version, in the
    platform's ECR repository `<platform>/serve` (immutable tags: a version is built once)."""
    return f"{repository_url}:{code_version}"


def fetch_arguments(model: str, region: str, account_id: str, variant: Variant) -> list[str]:
    """Arguments of the init container (`python -m model_code.serve.fetch_model`)."""
    if variant.model_version is not None:
        source = ["--model-package", model_package_arn(region, account_id, model, variant.model_version)]
    else:
        source = ["--artifact", str(variant.artifact)]
    return ["-m", "model_code.serve.fetch_model", *source, "--region", region, "--to", MODEL_MOUNT]


def capture_prefix(model: str, deployment: str, variant: str) -> str:
    """Where a variant's pods write data capture: under the deployment's prefix, which the
    monitoring job reads (as SageMaker writes `<prefix><endpoint>/<variant>/`)."""
    return f"{sagemaker_capture_prefix(model, deployment)}{variant}/"


def is_shadow(deployment: EksDeployment, variant: Variant) -> bool:
    return deployment.shadow is not None and variant.name == deployment.shadow.name


def mirror_url(model: str, deployment: EksDeployment) -> str:
    """The shadow's Service, inside the cluster, where production pods send their copies."""
    assert deployment.shadow is not None
    service = naming.variant_resource(model, deployment.name, deployment.shadow.name)
    return f"http://{service}.{deployment.namespace}.svc.cluster.local/invocations"


def serve_arguments(model: str, deployment: EksDeployment, variant: Variant, where: Resolved) -> list[str]:
    """Arguments of the serving container (`python -m model_code.serve`)."""
    arguments = ["--model-dir", MODEL_MOUNT, "--port", str(SERVE_PORT), "--drain-seconds", str(DRAIN_SECONDS)]
    arguments += ["--region", where.region]
    if deployment.data_capture_percent > 0:
        location = f"s3://{where.capture_bucket}/{capture_prefix(model, deployment.name, variant.name)}"
        arguments += ["--capture-uri", location, "--capture-percent", str(deployment.data_capture_percent)]
        arguments += ["--capture-kms-key", where.kms_key_arn]
    if deployment.shadow is not None and not is_shadow(deployment, variant):
        arguments += ["--mirror-url", mirror_url(model, deployment), "--mirror-percent", str(deployment.shadow.percent)]
    return arguments


def _selector(model: str, deployment: EksDeployment, variant_name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": model,
        "modelform/deployment": deployment.name,
        "modelform/variant": variant_name,
    }


def model_pod(
    *, service_account: str, image: str, fetch: list[str], container: dict[str, Any], resources: PodResources
) -> dict[str, Any]:
    """A pod that works with the model: the serving image fetches it into `MODEL_MOUNT` (init
    container, `fetch` its arguments), then `container` (the same image, its name, arguments and
    whatever else it adds) reads it there with `resources` (GPUs placed on the GPU nodes). Every
    container runs non-root, read-only, without capabilities; the token is not mounted (IRSA
    projects its own)."""
    pod: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": kubernetes.pod_security(),
        "initContainers": [
            {
                "name": "fetch-model",
                "image": image,
                "imagePullPolicy": "Always",
                "command": ["python"],
                "args": fetch,
                "env": [{"name": "HOME", "value": "/tmp"}],
                "resources": kubernetes.fixed_resources("250m", "256Mi"),
                "securityContext": kubernetes.container_security(),
                "volumeMounts": [{"name": "model", "mountPath": MODEL_MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "containers": [
            {
                "image": image,
                "imagePullPolicy": "Always",
                **container,
                "resources": kubernetes.fixed_resources(resources.cpu_text, resources.memory_text, resources.gpu),
                "securityContext": kubernetes.container_security(),
                "volumeMounts": [
                    {"name": "model", "mountPath": MODEL_MOUNT, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": kubernetes.scratch_volumes("model", "tmp"),
    }
    if resources.gpu:
        pod["nodeSelector"] = {kubernetes.GPU_NODE_LABEL: "true"}
        pod["tolerations"] = [kubernetes.GPU_TOLERATION]
    return pod


def variant_objects(
    *,
    model: str,
    deployment: EksDeployment,
    variant: Variant,
    image: str,
    where: Resolved,
    role_arn: str,
    labels: Mapping[str, str],
    vpc_cidr: str,
) -> dict[str, dict[str, Any]]:
    """ServiceAccount, Deployment, Service, HPA, PDB and NetworkPolicy of one variant (plain
    manifests, by kind). The network policy admits only the serving port from inside the VPC
    (the ALB, and Prometheus scraping `/metrics`) and lets pods out only to DNS and HTTPS (S3, STS,
    SageMaker for the model fetch and data capture)."""
    region, account_id = where.region, where.account_id
    name = naming.variant_resource(model, deployment.name, variant.name)
    namespace = deployment.namespace
    selector = _selector(model, deployment, variant.name)
    meta = {"name": name, "namespace": namespace, "labels": {**labels, **selector}}
    resources = deployment.resources
    probe = {"httpGet": {"path": "/ping", "port": SERVE_PORT}, "periodSeconds": 10, "timeoutSeconds": 2}
    pod = model_pod(
        service_account=name,
        image=image,
        fetch=fetch_arguments(model, region, account_id, variant),
        container={
            "name": "serve",
            "args": serve_arguments(model, deployment, variant, where),
            "ports": [{"name": "http", "containerPort": SERVE_PORT}],
            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
            "readinessProbe": {**probe, "initialDelaySeconds": 5, "failureThreshold": 3},
            "livenessProbe": {**probe, "initialDelaySeconds": 60, "failureThreshold": 6},
        },
        resources=resources,
    )
    pod["terminationGracePeriodSeconds"] = TERMINATION_GRACE_SECONDS
    scaling = deployment.autoscaling
    if is_shadow(deployment, variant):
        assert deployment.shadow is not None
        floor = shadow_share(scaling.min_replicas, deployment.shadow)
    else:
        floor = weight_share(scaling.min_replicas, variant, deployment.variants)
    # Production pods send the shadow its copies: out to its pods' serving port, nothing else.
    mirroring = []
    if deployment.shadow is not None and not is_shadow(deployment, variant):
        shadow_pods = _selector(model, deployment, deployment.shadow.name)
        mirroring.append(
            {
                "to": [{"podSelector": {"matchLabels": shadow_pods}}],
                "ports": [{"port": SERVE_PORT, "protocol": "TCP"}],
            }
        )
    return {
        "ServiceAccount": kubernetes.irsa_service_account(meta, role_arn),
        "Deployment": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, "annotations": kubernetes.scanner_exceptions("CKV_K8S_43")},
            "spec": {
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": {**labels, **selector}, "annotations": PROMETHEUS_SCRAPE},
                    "spec": pod,
                },
            },
        },
        "Service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": SERVE_PORT}],
            },
        },
        "HorizontalPodAutoscaler": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": floor,
                "maxReplicas": scaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_percent},
                        },
                    }
                ],
            },
        },
        "PodDisruptionBudget": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        },
        "NetworkPolicy": kubernetes.https_only_network_policy(
            meta,
            selector,
            ingress=[{"from": [{"ipBlock": {"cidr": vpc_cidr}}], "ports": [{"port": SERVE_PORT, "protocol": "TCP"}]}],
            egress=mirroring,
        ),
    }


#: How often the capacity scheduler sets the HPAs' bounds (a cron schedule: every minute, so a
#: window's capacity is asked for within a minute of its start).
CAPACITY_SCHEDULE = "* * * * *"


def capacity_plan(model: str, deployment: EksDeployment) -> dict[str, dict[str, Any]]:
    """What the capacity scheduler holds each variant's HPA to: the everyday bounds and, per
    window, the window's floor (shared by weight) and ceiling."""
    scaling = deployment.autoscaling
    plan = {}
    for variant in deployment.variants:
        share = lambda floor, variant=variant: weight_share(floor, variant, deployment.variants)  # noqa: E731
        plan[naming.variant_resource(model, deployment.name, variant.name)] = {
            "everyday": [share(scaling.min_replicas), scaling.max_replicas],
            "windows": [
                {
                    "name": w.name,
                    "start": format_timestamp(w.start),
                    "end": format_timestamp(w.end),
                    "min": share(w.floor),
                    "max": w.ceiling,
                }
                for w in sorted(scaling.scheduled, key=lambda w: w.start)
            ],
        }
    return plan


def capacity_scheduler_objects(
    *, model: str, deployment: EksDeployment, image: str, labels: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """ServiceAccount, Role, RoleBinding, CronJob and NetworkPolicy of a deployment's capacity
    scheduler (`model_code/capacity_scheduler.py`): every minute, it sets the variants' HPA bounds to
    what the scheduled windows ask for. Its Role may only get and patch those HPAs."""
    name = naming.capacity_scheduler(model, deployment.name)
    namespace = deployment.namespace
    selector = {"app.kubernetes.io/name": model, "modelform/deployment": deployment.name, "modelform/role": "capacity"}
    meta = {"name": name, "namespace": namespace, "labels": {**labels, **selector}}
    plan = capacity_plan(model, deployment)
    pod: dict[str, Any] = {
        "serviceAccountName": name,
        # The one pod that talks to the API server: its token is the projected, expiring one.
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "securityContext": kubernetes.pod_security(),
        "containers": [
            {
                "name": "scheduler",
                "image": image,
                "imagePullPolicy": "Always",
                "command": ["python"],
                "args": [
                    "-m",
                    "model_code.capacity_scheduler",
                    "--namespace",
                    namespace,
                    "--plan",
                    json.dumps(plan, sort_keys=True, separators=(",", ":")),
                ],
                "resources": kubernetes.fixed_resources("100m", "128Mi"),
                "securityContext": kubernetes.container_security(),
            }
        ],
    }
    if deployment.resources.gpu:  # where the serving pods run, the image is already on the node
        pod["nodeSelector"] = {kubernetes.GPU_NODE_LABEL: "true"}
        pod["tolerations"] = [kubernetes.GPU_TOLERATION]
    exceptions = kubernetes.scanner_exceptions("CKV_K8S_43", "CKV_K8S_38")
    return {
        "ServiceAccount": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "automountServiceAccountToken": False,  # only the scheduler's pod mounts it, explicitly
        },
        "Role": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": ["autoscaling"],
                    "resources": ["horizontalpodautoscalers"],
                    "resourceNames": sorted(plan),
                    "verbs": ["get", "patch"],
                }
            ],
        },
        "RoleBinding": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        "CronJob": {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {**meta, "annotations": exceptions},
            "spec": {
                "schedule": CAPACITY_SCHEDULE,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 50,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": 50,
                        "ttlSecondsAfterFinished": 600,
                        "template": {"metadata": {"labels": {**labels, **selector}}, "spec": pod},
                    }
                },
            },
        },
        # Nothing comes in; out only to DNS and HTTPS (the API server).
        "NetworkPolicy": kubernetes.https_only_network_policy(meta, selector, ingress=[]),
    }


#: The objects of a deployment's capacity scheduler, in the order they are declared.
SCHEDULER_KINDS = (
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


#: The annotations Prometheus' Kubernetes pod discovery (and the agents that follow it) scrape by.
PROMETHEUS_SCRAPE = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": str(SERVE_PORT),
    "prometheus.io/path": "/metrics",
}


def ingress_object(
    *, model: str, deployment: EksDeployment, labels: Mapping[str, str], vpc_cidr: str
) -> dict[str, Any]:
    """An internal ALB splitting traffic between the variants' Services by their weights, open to
    the VPC only, under a name of ours (`naming.ingress_load_balancer`: the deployment's API finds
    it by that name once the controller has created it)."""
    name = naming.endpoint(model, deployment.name)
    total = sum(v.weight for v in deployment.variants) or 1
    forward = {
        "type": "forward",
        "forwardConfig": {
            "targetGroups": [
                {
                    "serviceName": naming.variant_resource(model, deployment.name, v.name),
                    "servicePort": "80",
                    "weight": round(1000 * v.weight / total),
                }
                for v in deployment.variants
            ]
        },
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": deployment.namespace,
            "labels": dict(labels),
            "annotations": {
                "alb.ingress.kubernetes.io/load-balancer-name": naming.ingress_load_balancer(model, deployment.name),
                "alb.ingress.kubernetes.io/scheme": "internal",
                "alb.ingress.kubernetes.io/inbound-cidrs": vpc_cidr,
                "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTP": INGRESS_PORT}]),
                "alb.ingress.kubernetes.io/target-type": "ip",
                "alb.ingress.kubernetes.io/healthcheck-path": "/ping",
                "alb.ingress.kubernetes.io/actions.weighted": json.dumps(forward, sort_keys=True),
            },
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "weighted", "port": {"name": "use-annotation"}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


def model_fetch_access(model: str, where: Resolved, variant: Variant) -> tuple[list[str], list[iam.Statement]]:
    """What the fetch-model init container reads (the objects to allow `s3:GetObject` on) and the
    statements it needs besides: its registry version's description."""
    reads = [iam.objects_arn(where.artifact_bucket, f"{model}/models")]
    if variant.artifact is not None:
        reads.append(iam.object_arn(variant.artifact.bucket, variant.artifact.key))
    statements = []
    if variant.model_version is not None:
        statements.append(
            iam.allow(
                "DescribeOwnVersion",
                ["sagemaker:DescribeModelPackage"],
                [model_package_arn(where.region, where.account_id, model, variant.model_version)],
            )
        )
    return reads, statements


def pod_role_statements(
    model: str, where: Resolved, variant: Variant, deployment: Optional[EksDeployment] = None
) -> list[iam.Statement]:
    """A variant's pods may read only their model (its registry version, or its artifact) and,
    with data capture on, write only under their own capture prefix."""
    reads, statements = model_fetch_access(model, where, variant)
    key_actions = ["kms:Decrypt"]
    if deployment is not None and deployment.data_capture_percent > 0:
        prefix = capture_prefix(model, deployment.name, variant.name)
        statements.append(
            iam.allow("WriteOwnDataCapture", ["s3:PutObject"], [iam.objects_arn(where.capture_bucket, prefix)])
        )
        key_actions.append("kms:GenerateDataKey")  # SSE-KMS PutObject: a data key per object
    statements += [iam.read_objects("ReadOwnModel", reads), *iam.use_key(where.kms_key_arn, key_actions)]
    return statements


class EksEndpoint(pulumi.ComponentResource):
    """One EKS deployment of the model: per variant a pod role and its Kubernetes objects, and one
    weighted ingress, on the platform cluster `deployment.cluster`."""

    def __init__(
        self, name: str, context: ModelContext, deployment: EksDeployment, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("modelform:eks_endpoint:EksEndpoint", name, None, opts)
        model = context.model
        cluster = context.cluster(deployment.cluster)
        provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=cluster.apply(lambda c: c.kubeconfig), opts=pulumi.ResourceOptions(parent=self)
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        version = context.code_version
        vpc_cidr = context.platform_spec.network.vpc_cidr
        for variant in served_variants(deployment):
            prefix = naming.variant_resource(model, deployment.name, variant.name)
            role, _ = iam.scoped_role(
                f"{prefix}-pod-role",
                trust=cluster.apply(lambda c, prefix=prefix: _pod_trust(c, deployment.namespace, prefix)),
                policy=context.apply(
                    lambda where, variant=variant: iam.policy_document(
                        pod_role_statements(model, where, variant, deployment)
                    )
                ),
                description=f"Pods of {prefix} (modelform)",
                parent=self,
            )
            objects = pulumi.Output.all(context.resolved(), role.arn).apply(
                lambda v, variant=variant: variant_objects(
                    model=model,
                    deployment=deployment,
                    variant=variant,
                    image=serving_image(v[0].serving_repository, version),
                    where=v[0],
                    role_arn=v[1],
                    labels=context.labels,
                    vpc_cidr=vpc_cidr,
                )
            )
            for api_version, kind in VARIANT_KINDS:
                options = on_cluster
                if (
                    kind == "HorizontalPodAutoscaler"
                    and deployment.autoscaling.scheduled
                    and not is_shadow(deployment, variant)
                ):
                    # The capacity scheduler owns the bounds (it sets them every minute from the
                    # schedule, which the CronJob carries); `up` would otherwise reset a window's.
                    options = pulumi.ResourceOptions.merge(
                        on_cluster, pulumi.ResourceOptions(ignore_changes=["spec.minReplicas", "spec.maxReplicas"])
                    )
                kubernetes.register(prefix, api_version, kind, objects.apply(lambda o, kind=kind: o[kind]), options)
        if deployment.autoscaling.scheduled:
            scheduler = context.resolved().apply(
                lambda where: capacity_scheduler_objects(
                    model=model,
                    deployment=deployment,
                    image=serving_image(where.serving_repository, version),
                    labels=context.labels,
                )
            )
            for api_version, kind in SCHEDULER_KINDS:
                kubernetes.register(
                    naming.capacity_scheduler(model, deployment.name),
                    api_version,
                    kind,
                    scheduler.apply(lambda o, kind=kind: o[kind]),
                    on_cluster,
                )
        ingress = ingress_object(model=model, deployment=deployment, labels=context.labels, vpc_cidr=vpc_cidr)
        self.ingress = kubernetes.register(
            naming.endpoint(model, deployment.name), ingress["apiVersion"], ingress["kind"], ingress, on_cluster
        )
        self.register_outputs({})


def _pod_trust(cluster: ClusterOutputs, namespace: str, service_account: str) -> str:
    return iam.service_account_trust(cluster.oidc_provider_arn, cluster.oidc_issuer, namespace, service_account)
