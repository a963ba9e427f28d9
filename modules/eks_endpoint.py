"""An EKS endpoint for one deployment of a model: Kubernetes objects per variant, and a weighted
ALB ingress in front of them.

The manifests are pure functions (`variant_objects`, `ingress_object`) validated against the
official schemas (kubernetes-validate, strict) in the tests; the component registers them with
an explicit Kubernetes provider built from the platform's kubeconfig output.

Per variant `<v>` = `<model>-<deployment>-<variant>`, in the spec's namespace:
- ServiceAccount `<v>` annotated with a pod IAM role (IRSA) that may read only that model's
  artifacts (and describe its own registry versions), nothing else;
- Deployment `<v>`: an init container fetches the model (a registry version's ModelDataUrl, or
  the artifact) into an emptyDir; the serving container (`python -m model_code.serve`, the
  SageMaker contract on 8080) has readiness and liveness probes on `/ping`, requests = limits,
  GPUs as `nvidia.com/gpu` limits with the GPU node selector and toleration; every container runs
  non-root with a read-only root file system, no privilege escalation, all capabilities dropped,
  seccomp RuntimeDefault; the service-account token is not mounted (IRSA projects its own);
  `replicas` is left to the HPA;
- Service `<v>` (ClusterIP), HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation),
  PodDisruptionBudget (at most one pod down at a time).
One internal ALB Ingress per deployment splits traffic between the variants' Services by weight
(AWS Load Balancer Controller `actions` annotation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import naming
from .model_registry import model_package_arn
from .spec import EksDeployment, Variant

SERVE_PORT = 8080
INIT_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.22.0"
MODEL_MOUNT = "/opt/ml/model"
RUN_AS = 10001


def _locked_down() -> dict[str, Any]:
    return {
        "runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True, "privileged": False, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def fetch_command(model: str, region: str, account_id: str, variant: Variant) -> str:
    """Shell of the init container: resolve the model's S3 location and unpack it."""
    if variant.model_version is not None:
        package = model_package_arn(region, account_id, model, variant.model_version)
        locate = (f'url=$(aws sagemaker describe-model-package --region {region} --model-package-name {package} '
                  '--query "InferenceSpecification.Containers[0].ModelDataUrl" --output text)')
    else:
        locate = f"url={variant.artifact}"
    return f'set -eu; {locate}; aws s3 cp "$url" /tmp/model.tar.gz; tar -xzf /tmp/model.tar.gz -C {MODEL_MOUNT}'


def variant_objects(*, model: str, deployment: EksDeployment, variant: Variant, image: str, region: str,
                    account_id: str, role_arn: str, labels: Mapping[str, str], vpc_cidr: str) -> list[dict[str, Any]]:
    """ServiceAccount, Deployment, Service, HPA, PDB and NetworkPolicy of one variant (plain
    manifests). The network policy admits only the serving port from inside the VPC (the ALB)
    and lets pods out only to DNS and HTTPS (S3, STS, SageMaker for the model fetch)."""
    name = naming.variant_resource(model, deployment.name, variant.name)
    namespace = deployment.namespace
    selector = {"app.kubernetes.io/name": model, "modelform/deployment": deployment.name, "modelform/variant": variant.name}
    meta = {"name": name, "namespace": namespace, "labels": {**labels, **selector}}
    resources = deployment.resources
    limits = {"cpu": resources.cpu_text, "memory": resources.memory_text}
    if resources.gpu:
        limits["nvidia.com/gpu"] = str(resources.gpu)
    probe = {"httpGet": {"path": "/ping", "port": SERVE_PORT}, "periodSeconds": 10, "timeoutSeconds": 2}
    pod: dict[str, Any] = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 30,
        "initContainers": [{
            "name": "fetch-model", "image": INIT_IMAGE, "imagePullPolicy": "Always", "command": ["/bin/sh", "-c"],
            "args": [fetch_command(model, region, account_id, variant)],
            "env": [{"name": "HOME", "value": "/tmp"}],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
            "securityContext": _locked_down(),
            "volumeMounts": [{"name": "model", "mountPath": MODEL_MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "containers": [{
            "name": "serve", "image": image, "imagePullPolicy": "Always",
            "args": ["--model-dir", MODEL_MOUNT, "--port", str(SERVE_PORT)],
            "ports": [{"name": "http", "containerPort": SERVE_PORT}],
            "readinessProbe": {**probe, "initialDelaySeconds": 5, "failureThreshold": 3},
            "livenessProbe": {**probe, "initialDelaySeconds": 60, "failureThreshold": 6},
            "resources": {"requests": dict(limits), "limits": limits},
            "securityContext": _locked_down(),
            "volumeMounts": [{"name": "model", "mountPath": MODEL_MOUNT, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "model", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    if resources.gpu:
        pod["nodeSelector"] = {"modelform/gpu": "true"}
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    scaling = deployment.autoscaling
    low, high, target = (scaling.min_replicas, scaling.max_replicas, scaling.target_cpu_percent) if scaling else (1, 1, 70)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**meta, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
         "automountServiceAccountToken": False},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {**labels, **selector}}, "spec": pod}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "type": "ClusterIP", "selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": SERVE_PORT}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low, "maxReplicas": high,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": {
            "maxUnavailable": 1, "selector": {"matchLabels": selector}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": {
            "podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": vpc_cidr}}], "ports": [{"port": SERVE_PORT, "protocol": "TCP"}]}],
            "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                       {"ports": [{"port": 443, "protocol": "TCP"}]}]}},
    ]


def ingress_object(*, model: str, deployment: EksDeployment, labels: Mapping[str, str]) -> dict[str, Any]:
    """An internal ALB splitting traffic between the variants' Services by their weights."""
    name = naming.endpoint(model, deployment.name)
    total = sum(v.weight for v in deployment.variants) or 1
    forward = {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": naming.variant_resource(model, deployment.name, v.name), "servicePort": "80",
         "weight": round(1000 * v.weight / total)} for v in deployment.variants]}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
        "name": name, "namespace": deployment.namespace, "labels": dict(labels),
        "annotations": {
            "alb.ingress.kubernetes.io/scheme": "internal",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/healthcheck-path": "/ping",
            "alb.ingress.kubernetes.io/actions.weighted": json.dumps(forward, sort_keys=True),
        }}, "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{
            "path": "/", "pathType": "Prefix", "backend": {"service": {"name": "weighted", "port": {"name": "use-annotation"}}}}]}}]}}


def pod_role_policies(*, model: str, region: str, account_id: str, artifact_bucket: str, kms_key_arn: str,
                      oidc_issuer: str, oidc_provider_arn: str, namespace: str, service_account: str,
                      variant: Variant) -> tuple[str, str]:
    """(trust, permissions) of a variant's pod role: only its service account, only its model."""
    issuer = oidc_issuer.replace("https://", "")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": oidc_provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                       f"{issuer}:aud": "sts.amazonaws.com"}}}]}, sort_keys=True)
    reads = [f"arn:aws:s3:::{artifact_bucket}/{model}/models/*"]
    statements: list[dict[str, Any]] = []
    if variant.artifact is not None:
        reads.append(f"arn:aws:s3:::{variant.artifact.bucket}/{variant.artifact.key}")
    if variant.model_version is not None:
        statements.append({"Sid": "DescribeOwnVersion", "Effect": "Allow", "Action": ["sagemaker:DescribeModelPackage"],
                           "Resource": [model_package_arn(region, account_id, model, variant.model_version)]})
    statements += [
        {"Sid": "ReadOwnModel", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": sorted(reads)},
        {"Sid": "DecryptModel", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [kms_key_arn]},
    ]
    return trust, json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


@dataclass
class EksEndpointArgs:
    """model, deployment: what to serve; image: the serving image; region, account_id;
    kubeconfig: the cluster's (platform output); oidc_issuer, oidc_provider_arn: for pod roles;
    artifact_bucket, kms_key_arn: where models live; tags: AWS tags; labels: Kubernetes labels."""

    model: str
    deployment: EksDeployment
    image: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    kubeconfig: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    artifact_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    vpc_cidr: str = "10.0.0.0/16"
    tags: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


class EksEndpoint(pulumi.ComponentResource):
    def __init__(self, name: str, args: EksEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:eks:EksEndpoint", name, None, opts)
        deployment = args.deployment
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=args.kubeconfig, opts=pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        for variant in deployment.variants:
            prefix = naming.variant_resource(args.model, deployment.name, variant.name)
            policies = pulumi.Output.all(args.account_id, args.artifact_bucket, args.kms_key_arn, args.oidc_issuer,
                                         args.oidc_provider_arn).apply(lambda v, variant=variant, prefix=prefix: pod_role_policies(
                model=args.model, region=args.region, account_id=v[0], artifact_bucket=v[1], kms_key_arn=v[2],
                oidc_issuer=v[3], oidc_provider_arn=v[4], namespace=deployment.namespace, service_account=prefix, variant=variant))
            role = aws.iam.Role(f"{prefix}-pod-role", assume_role_policy=policies.apply(lambda p: p[0]),
                                description=f"Pods of {prefix} (modelform)", tags=dict(args.tags),
                                opts=pulumi.ResourceOptions(parent=self))
            aws.iam.RolePolicy(f"{prefix}-pod-role-policy", role=role.id, policy=policies.apply(lambda p: p[1]),
                               opts=pulumi.ResourceOptions(parent=self))
            objects = pulumi.Output.all(args.account_id, role.arn, args.image).apply(lambda v, variant=variant: variant_objects(
                model=args.model, deployment=deployment, variant=variant, image=v[2], region=args.region,
                account_id=v[0], role_arn=v[1], labels=args.labels, vpc_cidr=args.vpc_cidr))
            k8s.core.v1.ServiceAccount(
                f"{prefix}-serviceaccount", metadata=objects.apply(lambda o: o[0]["metadata"]),
                automount_service_account_token=False, opts=on_cluster)
            kinds = (k8s.apps.v1.Deployment, k8s.core.v1.Service, k8s.autoscaling.v2.HorizontalPodAutoscaler,
                     k8s.policy.v1.PodDisruptionBudget, k8s.networking.v1.NetworkPolicy)
            for index, kind in enumerate(kinds, start=1):
                manifest = objects.apply(lambda o, index=index: o[index])
                kind(f"{prefix}-{kind.__name__.lower()}", metadata=manifest.apply(lambda o: o["metadata"]),
                     spec=manifest.apply(lambda o: o["spec"]), opts=on_cluster)
        ingress = ingress_object(model=args.model, deployment=deployment, labels=args.labels)
        k8s.networking.v1.Ingress(f"{naming.endpoint(args.model, deployment.name)}-ingress",
                                  metadata=ingress["metadata"], spec=ingress["spec"], opts=on_cluster)
        self.register_outputs({})
