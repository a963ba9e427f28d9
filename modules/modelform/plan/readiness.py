"""Readiness: what must exist for the planned workloads to run after `up`, checked on the plan.

Each class of `up`-time failure that the schemas cannot see is a mandatory finding here:
- `readiness-namespace`: a namespaced object (or an EKS training Job) in a namespace that nothing
  creates on its cluster (the first apply fails);
- `readiness-image`: an image whose registry its cluster cannot reach (no NAT, and not ECR in the
  platform's region with the ECR and S3 endpoints);
- `readiness-metrics-server`: a HorizontalPodAutoscaler on a cluster without metrics-server (it
  never scales);
- `readiness-load-balancer-controller`: an ALB Ingress on a cluster without the AWS Load Balancer
  Controller (it never becomes a load balancer);
- `readiness-network-policy`: a NetworkPolicy on a cluster without an enforcing engine (the VPC
  CNI's network-policy agent): it would be silently ignored;
- `readiness-egress`: a VPC workload whose AWS calls (`egress.WORKLOAD_CALLS`) have no route (no
  NAT and no endpoint for the service).
The check needs the platform's plan; a plan of model stacks alone is not checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from ..egress import WORKLOAD_CALLS
from .stack_plan import PlannedResource, StackPlan
from .policies import Finding

CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"})
ALWAYS_PRESENT = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
LOAD_BALANCER_CONTROLLER_CHART = "aws-load-balancer-controller"


@dataclass(frozen=True)
class Placed:
    """Something that runs on (or is applied to) a cluster."""

    urn: str
    cluster: str
    kind: str
    namespace: Optional[str]
    images: tuple[str, ...]
    spec: dict


@dataclass(frozen=True)
class Platform:
    """What the platform's plan provides."""

    region: str
    namespaces: dict[str, set[str]]  # cluster -> namespaces created on it
    addons: dict[str, dict[str, dict]]  # cluster -> add-on -> configuration
    controllers: set[str]  # clusters with the AWS Load Balancer Controller
    nat: bool
    endpoints: set[str]  # interface and gateway endpoint services
    repositories: set[str]  # placeholders of the platform's ECR repository URLs
    clusters: set[str]


def check(stacks: list[StackPlan]) -> list[Finding]:
    platform = _platform(stacks)
    if platform is None:
        return []
    placed = list(_placed(stacks))
    findings = [*_namespaces(platform, placed), *_registries(platform, placed), *_addons(platform, placed)]
    findings += _egress(platform, stacks, placed)
    return sorted(set(findings))


# --- what the plan provides ----------------------------------------------------------------------


def _platform(stacks: list[StackPlan]) -> Optional[Platform]:
    platform_stacks = [s for s in stacks if s.kind == "Platform"]
    if not platform_stacks:
        return None
    resources = [r for s in platform_stacks for r in s.resources]
    clusters = _providers(resources)
    platform = Platform(
        region=next((r.inputs["serviceName"].split(".")[2] for r in resources if r.type == VPC_ENDPOINT), ""),
        namespaces={},
        addons={},
        controllers=set(),
        nat=any(r.type == "aws:ec2/natGateway:NatGateway" for r in resources),
        endpoints={r.inputs["serviceName"].split(".", 3)[3] for r in resources if r.type == VPC_ENDPOINT},
        repositories={f"<{r.name}.repositoryUrl>" for r in resources if r.type == "aws:ecr/repository:Repository"},
        clusters={r.inputs["name"] for r in resources if r.type == "aws:eks/cluster:Cluster"},
    )
    for r in resources:
        cluster = clusters.get(_provider_name(r))
        if r.type == "kubernetes:core/v1:Namespace" and cluster:
            platform.namespaces.setdefault(cluster, set()).add(r.inputs["metadata"]["name"])
        elif r.type == "aws:eks/addon:Addon":
            configuration = json.loads(r.inputs.get("configurationValues") or "{}")
            platform.addons.setdefault(r.inputs["clusterName"], {})[r.inputs["addonName"]] = configuration
        elif r.type == HELM_RELEASE and r.inputs.get("chart") == LOAD_BALANCER_CONTROLLER_CHART and cluster:
            platform.controllers.add(cluster)
    return platform


VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _providers(resources: Iterable[PlannedResource]) -> dict[str, str]:
    """Kubernetes provider (its logical name, unique in a stack) -> the cluster its kubeconfig
    points at. Options name a provider by a URN whose type chain may be shorter than its own."""
    return {
        r.name: r.inputs["kubeconfig"].get("current-context", "")
        for r in resources
        if r.type == "pulumi:providers:kubernetes" and isinstance(r.inputs.get("kubeconfig"), dict)
    }


def stack_images(stack: StackPlan) -> list[str]:
    """Every container image the stack's objects and training Jobs run, sorted."""
    return sorted({image for item in _placed([stack]) for image in item.images})


def images_to_build(plan: dict, registry: Optional[str] = None) -> dict[str, list[str]]:
    """Image -> the stacks that run it, for the images in the platform's own repositories (the
    ones CI builds from `model_code/Dockerfile`); `registry` replaces the repository placeholder's
    host part, so the names are the ones to push."""
    repositories = {
        f"<{r['name']}.repositoryUrl>": r["inputs"]["name"]
        for s in plan["stacks"]
        for r in s["resources"]
        if r["type"] == "aws:ecr/repository:Repository"
    }
    found: dict[str, list[str]] = {}
    for stack in plan["stacks"]:
        for image in stack.get("images", []):
            placeholder, _, tag = image.rpartition(":")
            if placeholder in repositories:
                name = f"{registry}/{repositories[placeholder]}:{tag}" if registry else image
                found.setdefault(name, []).append(stack["stack"])
    return {image: sorted(stacks) for image, stacks in sorted(found.items())}


def _provider_name(resource: PlannedResource) -> str:
    return resource.options.get("provider", "").rsplit("::", 1)[-1]


def _placed(stacks: list[StackPlan]) -> Iterator[Placed]:
    for stack in stacks:
        clusters = _providers(stack.resources)
        for r in stack.resources:
            if r.type.startswith("kubernetes:") and r.type != HELM_RELEASE:
                kind = r.type.rsplit(":", 1)[1]
                metadata = r.inputs.get("metadata") or {}
                namespace = None if kind in CLUSTER_SCOPED else metadata.get("namespace", "default")
                spec = r.inputs.get("spec") or {}
                yield Placed(r.urn, clusters.get(_provider_name(r), ""), kind, namespace, _images(spec), spec)
            elif r.type == HELM_RELEASE:
                values = r.inputs.get("values") or {}
                image = (values.get("image") or {}).get("repository")
                cluster = clusters.get(_provider_name(r), "")
                yield Placed(r.urn, cluster, "Release", r.inputs.get("namespace"), (image,) if image else (), {})
            elif r.type == "aws:sfn/stateMachine:StateMachine":
                yield from _training_jobs(r)


def _training_jobs(machine: PlannedResource) -> Iterator[Placed]:
    definition = json.loads(machine.inputs.get("definition") or "{}")
    for state in definition.get("States", {}).values():
        if str(state.get("Resource", "")).startswith("arn:aws:states:::eks:runJob"):
            parameters = state.get("Parameters", {})
            job = parameters.get("Job", {})
            yield Placed(
                machine.urn,
                str(parameters.get("ClusterName", "")),
                "Job",
                parameters.get("Namespace", "default"),
                _images(job.get("spec", {})),
                job.get("spec", {}),
            )


def _images(spec: dict) -> tuple[str, ...]:
    pod = spec.get("template", {}).get("spec", {})
    containers = pod.get("containers", []) + pod.get("initContainers", [])
    return tuple(sorted({c["image"] for c in containers if isinstance(c.get("image"), str)}))


# --- the checks ----------------------------------------------------------------------------------


def _namespaces(platform: Platform, placed: list[Placed]) -> Iterator[Finding]:
    for item in placed:
        if item.kind == "Namespace" or item.namespace is None or item.namespace in ALWAYS_PRESENT:
            continue
        if item.namespace not in platform.namespaces.get(item.cluster, set()):
            yield Finding(
                "readiness-namespace",
                "mandatory",
                item.urn,
                f"{item.kind} in namespace '{item.namespace}', which nothing creates on cluster '{item.cluster}': "
                "add it to the cluster's `namespaces` in the platform spec",
            )


def _registries(platform: Platform, placed: list[Placed]) -> Iterator[Finding]:
    if platform.nat:
        return
    for item in placed:
        for image in item.images:
            if not _reachable_without_internet(platform, image):
                yield Finding(
                    "readiness-image",
                    "mandatory",
                    item.urn,
                    f"image {image} comes from a registry that cluster '{item.cluster}' cannot reach: the VPC has no "
                    f"NAT, and only ECR in {platform.region} is reachable (mirror it there, or choose `egress: nat`)",
                )


def _reachable_without_internet(platform: Platform, image: str) -> bool:
    if not {"ecr.api", "ecr.dkr"} <= platform.endpoints or "s3" not in platform.endpoints:
        return False  # ECR needs its API, its registry and S3 (the layers)
    if any(image.startswith(f"{repository}:") or image == repository for repository in platform.repositories):
        return True
    host = image.split("/", 1)[0]
    return host.endswith(f".dkr.ecr.{platform.region}.amazonaws.com")


def _addons(platform: Platform, placed: list[Placed]) -> Iterator[Finding]:
    for item in placed:
        addons = platform.addons.get(item.cluster, {})
        if item.kind == "HorizontalPodAutoscaler" and "metrics-server" not in addons:
            yield Finding(
                "readiness-metrics-server",
                "mandatory",
                item.urn,
                f"HorizontalPodAutoscaler on cluster '{item.cluster}', which has no metrics-server: "
                "it would never scale",
            )
        if item.kind == "Ingress" and item.spec.get("ingressClassName") == "alb":
            if item.cluster not in platform.controllers:
                yield Finding(
                    "readiness-load-balancer-controller",
                    "mandatory",
                    item.urn,
                    f"ALB Ingress on cluster '{item.cluster}', which runs no AWS Load Balancer Controller: "
                    "no load balancer would ever be created",
                )
        if item.kind == "NetworkPolicy":
            if str(addons.get("vpc-cni", {}).get("enableNetworkPolicy", "")).lower() != "true":
                yield Finding(
                    "readiness-network-policy",
                    "mandatory",
                    item.urn,
                    f"NetworkPolicy on cluster '{item.cluster}', where nothing enforces it (the VPC CNI's network "
                    "policy agent is off): it would be silently ignored",
                )


def _egress(platform: Platform, stacks: list[StackPlan], placed: list[Placed]) -> Iterator[Finding]:
    if platform.nat:
        return
    workloads: dict[str, str] = {}  # workload -> a URN that places it
    for item in placed:
        if item.kind == "Deployment":
            workloads.setdefault("serving-pod", item.urn)
        elif item.kind == "Job":
            workloads.setdefault("training-pod", item.urn)
    for stack in stacks:
        for r in stack.resources:
            if r.type == "aws:eks/nodeGroup:NodeGroup":
                workloads.setdefault("eks-node", r.urn)
            elif r.type == HELM_RELEASE and r.inputs.get("chart") == LOAD_BALANCER_CONTROLLER_CHART:
                workloads.setdefault("load-balancer-controller", r.urn)
            elif r.type == "aws:sagemaker/pipeline:Pipeline" and str(r.inputs.get("pipelineName")).endswith(
                "-monitoring"
            ):
                workloads.setdefault("monitoring-job", r.urn)
    for workload, urn in sorted(workloads.items()):
        missing = sorted(set(WORKLOAD_CALLS[workload]) - platform.endpoints)
        if missing:
            yield Finding(
                "readiness-egress",
                "mandatory",
                urn,
                f"{workload} calls {', '.join(missing)}, which the VPC cannot reach (no NAT, no endpoint)",
            )
