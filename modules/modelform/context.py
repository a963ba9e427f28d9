"""The one typed context of a model stack, built once and handed to every component.

A component is `Xxx(name, context, its typed part of the spec, opts)`: it reads what the stack
shares (the platform's outputs, account, region, provider, standard tags, the uploaded code)
from the context, and what is its own from its spec part. No component re-declares platform
fields or unpacks them one by one; code that needs the platform's values as plain text (policy
documents, pipeline definitions, manifests) gets them all at once with `context.apply(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional, TypeVar

import pulumi
import pulumi_aws as aws

from .contract import PlatformOutputs
from .spec import ModelSpec, PlatformSpec
from .spec.types import Account
from .tags import model_tags, platform_tags

T = TypeVar("T")


def aws_provider(region: str, tags: dict[str, str], account: Optional[Account] = None) -> aws.Provider:
    """Every resource of a stack goes through this provider: the region comes from the Platform
    spec (not from whoever runs the program) and the standard tags reach every taggable resource
    through `default_tags`. With the environment's `account`, the provider refuses to act in any
    other account (credentials for the wrong one fail before anything is created) and assumes the
    account's role when the spec names one."""
    extra: dict = {}
    if account is not None:
        extra["allowed_account_ids"] = [account.id]
        if account.assume_role:
            # An args object, not a dict: provider settings travel as JSON, and only the args
            # classes name their fields as the provider reads them (roleArn, not role_arn).
            extra["assume_roles"] = [aws.ProviderAssumeRoleArgs(role_arn=account.assume_role, session_name="modelform")]
    return aws.Provider("aws", region=region, default_tags={"tags": tags}, **extra)


def platform_provider(spec: PlatformSpec) -> aws.Provider:
    return aws_provider(spec.region, platform_tags(spec.tags, spec.name, spec.environment), spec.account)


@dataclass(frozen=True)
class Resolved:
    """The platform's values once they are known (stable placeholders in the offline plan)."""

    region: str
    account_id: str
    artifact_bucket: str
    capture_bucket: str
    kms_key_arn: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    serving_repository: str = ""  # ECR URL of the serving image (tag: the code version)
    #: Training jobs' group: like the model group, and open between its members (distributed training).
    training_security_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class UploadedCode:
    """The model code in S3 (see `code_upload.py`): its prefix
    `s3://<artifacts>/<model>/code/<version>/` and the uploads to wait for."""

    prefix: pulumi.Output
    objects: tuple[pulumi.Resource, ...]


@dataclass(frozen=True)
class ModelContext:
    """What every component of one model stack shares."""

    spec: ModelSpec
    platform_spec: PlatformSpec
    platform: PlatformOutputs
    account_id: pulumi.Output
    provider: aws.Provider
    code_version: str  # the source archive's content hash: training, serving image, registry metadata
    code_folder: str  # the model code on this machine (the guard Lambda is packaged from it)
    code: Optional[UploadedCode] = None  # set once uploaded (models that run jobs)

    @property
    def model(self) -> str:
        return self.spec.name

    @property
    def region(self) -> str:
        return self.platform_spec.region

    @property
    def labels(self) -> dict[str, str]:
        """Kubernetes labels every object of the model carries."""
        return {"app.kubernetes.io/managed-by": "modelform", "modelform/environment": self.spec.environment}

    @property
    def opts(self) -> pulumi.ResourceOptions:
        """Options of the stack's top-level components: the stack's provider."""
        return pulumi.ResourceOptions(provider=self.provider)

    def resolved(self) -> pulumi.Output:
        shared = self.platform
        return pulumi.Output.all(
            self.account_id,
            shared.artifact_bucket,
            shared.capture_bucket,
            shared.kms_key_arn,
            shared.vpc_id,
            shared.private_subnet_ids,
            shared.model_security_group_id,
            shared.serving_repository,
            shared.training_security_group_id,
        ).apply(lambda v: Resolved(self.region, v[0], v[1], v[2], v[3], v[4], tuple(v[5]), (v[6],), v[7], (v[8],)))

    def apply(self, build: Callable[[Resolved], T]) -> pulumi.Output:
        """`build(resolved)` once the platform's values are known."""
        return self.resolved().apply(build)

    def cluster(self, name: str) -> pulumi.Output:
        """The outputs (`ClusterOutputs`) of one EKS cluster of the platform."""
        return self.platform.cluster(name)

    def with_code(self, code: UploadedCode) -> "ModelContext":
        return replace(self, code=code)


def model_context(
    spec: ModelSpec, platform: PlatformSpec, platform_stack: str, code_version: str, code_folder: str
) -> ModelContext:
    """The context of stack `<model>.<env>`: its provider, the platform stack's outputs (through a
    StackReference to `platform_stack`), the account it deploys into and the code version."""
    provider = aws_provider(
        platform.region, model_tags(spec.tags, spec.name, spec.environment, spec.owner, spec.team), platform.account
    )
    outputs = PlatformOutputs.from_reference(pulumi.StackReference(platform_stack))
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    return ModelContext(spec, platform, outputs, account_id, provider, code_version, code_folder)
