"""What every Kubernetes object modelform declares has in common: one place for the pod security
posture, GPU placement, and the registration of plain manifests as Pulumi resources.

Manifests are pure dicts (validated against the official schemas in the tests); `register`
turns one into the Pulumi resource of its kind, found by `apiVersion` and `kind` in `KINDS`,
with a logical name `<prefix>-<suffix>` that never depends on an SDK class name.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

#: Every container runs as this non-root user (the serving image's `serve` user).
RUN_AS = 10001
GPU_RESOURCE = "nvidia.com/gpu"
#: The taint GPU node groups carry (eks_cluster.py) and the label they are selected by.
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Equal", "value": "true", "effect": "NoSchedule"}
GPU_NODE_LABEL = "modelform/gpu"
NODE_GROUP_LABEL = "modelform/node-group"


def scanner_exceptions(*checks: str) -> dict[str, str]:
    """checkov skip annotations for the stated exceptions (plan/exceptions.py) a workload has, so
    that a scanner reading the manifest sees the decision and its reason on the object itself."""
    from .plan.exceptions import STATED_EXCEPTIONS

    reasons = {e.check: e.reason for e in STATED_EXCEPTIONS}
    return {f"checkov.io/skip{index}": f"{check}={reasons[check]}" for index, check in enumerate(checks, start=1)}


def container_security() -> dict[str, Any]:
    """Non-root, read-only root file system, no privilege escalation, no capabilities, seccomp."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": RUN_AS, "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}}


def fixed_resources(cpu: str, memory: str, gpus: int = 0) -> dict[str, dict[str, str]]:
    """Requests = limits (the Guaranteed QoS class: never evicted for another pod's burst)."""
    limits = {"cpu": cpu, "memory": memory}
    if gpus:
        limits[GPU_RESOURCE] = str(gpus)
    return {"requests": dict(limits), "limits": limits}


def https_only_network_policy(
    metadata: Mapping[str, Any],
    selector: Mapping[str, str],
    ingress: list[dict[str, Any]],
    egress: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A NetworkPolicy for the selected pods: `ingress` in, and out only DNS and HTTPS (S3, STS,
    the AWS APIs, the Kubernetes API server), and whatever `egress` adds."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": dict(metadata),
        "spec": {
            "podSelector": {"matchLabels": dict(selector)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": [
                {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                {"ports": [{"port": 443, "protocol": "TCP"}]},
                *egress,
            ],
        },
    }


def irsa_service_account(metadata: Mapping[str, Any], role_arn: str) -> dict[str, Any]:
    """A ServiceAccount whose pods act as `role_arn` (IRSA); its token is never mounted by default."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {**metadata, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        "automountServiceAccountToken": False,
    }


def scratch_volumes(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "emptyDir": {}} for name in names]


#: (apiVersion, kind) -> (the pulumi_kubernetes module and class, the logical-name suffix). Named,
#: not imported: loading pulumi_kubernetes' API groups takes ~1.5 s, which a model without
#: Kubernetes objects never pays.
KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("v1", "Namespace"): ("core.v1.Namespace", "namespace"),
    ("v1", "ServiceAccount"): ("core.v1.ServiceAccount", "serviceaccount"),
    ("v1", "Service"): ("core.v1.Service", "service"),
    ("apps/v1", "Deployment"): ("apps.v1.Deployment", "deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): (
        "autoscaling.v2.HorizontalPodAutoscaler",
        "horizontalpodautoscaler",
    ),
    ("policy/v1", "PodDisruptionBudget"): ("policy.v1.PodDisruptionBudget", "poddisruptionbudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networking.v1.NetworkPolicy", "networkpolicy"),
    ("networking.k8s.io/v1", "Ingress"): ("networking.v1.Ingress", "ingress"),
    ("rbac.authorization.k8s.io/v1", "Role"): ("rbac.v1.Role", "role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.v1.RoleBinding", "rolebinding"),
    ("batch/v1", "CronJob"): ("batch.v1.CronJob", "cronjob"),
}


def resource_class(api_version: str, kind: str) -> type:
    """The pulumi_kubernetes class of a kind."""
    found: Any = k8s
    for part in KINDS[(api_version, kind)][0].split("."):
        found = getattr(found, part)
    return found


#: The top-level fields each kind carries besides apiVersion, kind and metadata.
_BODY_FIELDS = {
    "ServiceAccount": ("automountServiceAccountToken",),
    "Role": ("rules",),
    "RoleBinding": ("roleRef", "subjects"),
}
_ARGUMENT_NAMES = {
    "automountServiceAccountToken": "automount_service_account_token",
    "roleRef": "role_ref",
    "rules": "rules",
    "subjects": "subjects",
    "spec": "spec",
}


def register(
    prefix: str, api_version: str, kind: str, manifest: pulumi.Input[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """The Pulumi resource of one manifest (whose values may still be outputs)."""
    suffix = KINDS[(api_version, kind)][1]
    body = pulumi.Output.from_input(manifest)
    fields = {
        key: body.apply(lambda m, key=key: m.get(key)) for key in ("metadata", *_BODY_FIELDS.get(kind, ("spec",)))
    }
    arguments = {_ARGUMENT_NAMES[key]: value for key, value in fields.items() if key != "metadata"}
    return resource_class(api_version, kind)(f"{prefix}-{suffix}", metadata=fields["metadata"], **arguments, opts=opts)
