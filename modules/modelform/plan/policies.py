"""Policy checks over a plan: the secure-by-default rules, checked on what would be created.

Mandatory findings make `modelform plan` exit 1; advisory ones are reported only. They read the
recorded resources, following placeholders (`<name.id>`) to relate a bucket to its encryption,
public access block and logging resources, so a component that forgot one is caught here even
if its own tests were wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..monitoring import monitored_deployments
from ..spec import ModelSpec
from .stack_plan import PlannedResource, StackPlan
from .exceptions import SERVERLESS_MODEL, exceptions_for

BUCKET = "aws:s3/bucket:Bucket"
DATA_BEARING = {BUCKET, "aws:kms/key:Key", "aws:sagemaker/modelPackageGroup:ModelPackageGroup"}
_REFERENCE = re.compile(r"^<(?P<name>[^<>]+)\.(?P<prop>[A-Za-z]+)>$")


@dataclass(frozen=True, order=True)
class Finding:
    policy: str
    enforcement: str  # "mandatory" | "advisory"
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"policy": self.policy, "enforcement": self.enforcement, "urn": self.urn, "message": self.message}


def _stated_for(resource: PlannedResource) -> list:
    """The stated exceptions of a resource: a Kubernetes object's are the checks it skips by
    annotation (`checkov.io/skipN: CHECK=reason`), so two objects of one kind can differ; an AWS
    resource's are those of its type."""
    candidates = exceptions_for(resource.type)
    if not resource.type.startswith("kubernetes:"):
        return candidates
    annotations = (resource.inputs.get("metadata") or {}).get("annotations") or {}
    skipped = {str(v).split("=", 1)[0] for k, v in annotations.items() if k.startswith("checkov.io/skip")}
    return [e for e in candidates if e.check in skipped]


def referenced_name(value: Any) -> str | None:
    """`<acme-ml-artifacts.id>` -> `acme-ml-artifacts` (the resource a placeholder comes from)."""
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    return match["name"] if match else None


def check_plan(stacks: list[StackPlan], models: Iterable[ModelSpec], environment: str) -> list[Finding]:
    from . import readiness  # it builds on Finding, defined here

    findings: list[Finding] = list(readiness.check(stacks))
    for stack in stacks:
        findings += _bucket_findings(stack.resources)
        findings += _iam_findings(stack.resources)
        findings += _sagemaker_findings(stack.resources)
        findings += [
            Finding("stated-exception", "advisory", r.urn, f"{exception.check}: {exception.reason}")
            for r in stack.resources
            for exception in _stated_for(r)
        ]
        if environment == "prod":
            findings += [
                Finding("prod-data-protected", "mandatory", r.urn, f"{r.type} holds data but is not protected in prod")
                for r in stack.resources
                if r.type in DATA_BEARING and not (r.options.get("protect") and r.options.get("retainOnDelete"))
            ]
    for model in models:
        if model.monitoring is not None and not monitored_deployments(model):
            findings.append(
                Finding(
                    "monitoring-without-capture",
                    "advisory",
                    f"{model.stack_name}/monitoring",
                    "monitoring is declared, but no deployment captures data (data_capture_percent): "
                    "no drift or quality metrics will be published, so their alarms and triggers are not created",
                )
            )
    return findings


def _by_bucket(resources: list[PlannedResource], type_: str) -> dict[str, list[PlannedResource]]:
    found: dict[str, list[PlannedResource]] = {}
    for resource in resources:
        if resource.type == type_:
            found.setdefault(referenced_name(resource.inputs.get("bucket")) or "", []).append(resource)
    return found


def _bucket_findings(resources: list[PlannedResource]) -> Iterator[Finding]:
    encryption = _by_bucket(
        resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    blocks = _by_bucket(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    log_destinations = {
        r.inputs.get("targetBucket") for r in resources if r.type == "aws:s3/bucketLogging:BucketLogging"
    }
    for bucket in (r for r in resources if r.type == BUCKET):
        is_log_destination = f"<{bucket.name}.bucket>" in log_destinations
        algorithms = {
            rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm")
            for config in encryption.get(bucket.name, [])
            for rule in config.inputs.get("rules", [])
        }
        if "aws:kms" not in algorithms and not (is_log_destination and "AES256" in algorithms):
            yield Finding("s3-kms-encryption", "mandatory", bucket.urn, "bucket has no default SSE-KMS encryption")
        block = blocks.get(bucket.name, [])
        switches = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(b.inputs.get(s) is True for s in switches) for b in block):
            yield Finding("s3-public-access-block", "mandatory", bucket.urn, "bucket lacks a full public access block")


def _statements(resource: PlannedResource) -> Iterator[dict[str, Any]]:
    for key in ("policy", "assumeRolePolicy"):
        text = resource.inputs.get(key)
        if isinstance(text, str) and text.startswith("{"):
            document = json.loads(text)
            statements = document.get("Statement", [])
            yield from statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _iam_findings(resources: list[PlannedResource]) -> Iterator[Finding]:
    for resource in resources:
        for statement in _statements(resource):
            if statement.get("Effect") != "Allow":
                continue
            actions = _as_list(statement.get("Action", []))
            targets = _as_list(statement.get("Resource", []))
            if (
                any(a in ("*", "*:*") for a in actions)
                and "*" in targets
                and not _account_boundary(resource, statement)
            ):
                yield Finding(
                    "iam-no-star-on-star",
                    "mandatory",
                    resource.urn,
                    "a statement allows every action on every resource",
                )


#: Condition keys that confine a statement to this account's callers or resources.
_ACCOUNT_KEYS = frozenset({"aws:PrincipalAccount", "aws:ResourceAccount"})


def _account_boundary(resource: PlannedResource, statement: dict) -> bool:
    """A VPC endpoint policy grants nothing; it bounds what may pass through the endpoint. "Any
    action on any resource" there is right when confined to this account's callers or resources."""
    if resource.type != "aws:ec2/vpcEndpoint:VpcEndpoint":
        return False
    keys = {key for operator in (statement.get("Condition") or {}).values() for key in operator}
    return bool(keys) and keys <= _ACCOUNT_KEYS


def serverless_models(resources: list[PlannedResource]) -> set[str]:
    """Names of the models that only serverless endpoint variants serve (and at least one does)."""
    serverless, instances = set(), set()
    for resource in resources:
        if resource.type == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
            variants = (resource.inputs.get("productionVariants") or []) + (
                resource.inputs.get("shadowProductionVariants") or []
            )
            for variant in variants:
                (serverless if variant.get("serverlessConfig") else instances).add(variant.get("modelName"))
    return serverless - instances


def _sagemaker_findings(resources: list[PlannedResource]) -> Iterator[Finding]:
    only_serverless = serverless_models(resources)
    for resource in resources:
        if resource.type == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
            if not resource.inputs.get("kmsKeyArn"):
                yield Finding(
                    "sagemaker-kms", "mandatory", resource.urn, "endpoint configuration volumes are not KMS-encrypted"
                )
            capture = resource.inputs.get("dataCaptureConfig")
            if capture and not capture.get("kmsKeyId"):
                yield Finding("sagemaker-kms", "mandatory", resource.urn, "data capture is not KMS-encrypted")
        if resource.type == "aws:sagemaker/model:Model":
            if resource.inputs.get("name") in only_serverless:
                exception = SERVERLESS_MODEL
                yield Finding("stated-exception", "advisory", resource.urn, f"{exception.check}: {exception.reason}")
            elif resource.inputs.get("enableNetworkIsolation") is not True or not resource.inputs.get("vpcConfig"):
                yield Finding(
                    "sagemaker-network-isolation",
                    "mandatory",
                    resource.urn,
                    "model runs without network isolation in the VPC",
                )
