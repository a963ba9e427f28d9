"""The model registry of one model: a SageMaker model package group named after the model.

Every trained version is registered here (the training issue adds the pipeline that registers);
deployments serve a version by number. The group holds the history of what was approved and
served, so it is data-bearing: protected and retained in prod.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from . import naming


@dataclass
class ModelRegistryArgs:
    """model: the model name (the group's name). description: shown in the SageMaker console.
    protect: protect and retain the group (prod). tags: merged into the group's tags."""

    model: str
    description: str = ""
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


class ModelRegistry(pulumi.ComponentResource):
    group: aws.sagemaker.ModelPackageGroup

    def __init__(self, name: str, args: ModelRegistryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:registry:ModelRegistry", name, None, opts)
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-group",
            model_package_group_name=naming.registry_group(args.model),
            model_package_group_description=args.description or f"Versions of model {args.model}",
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.register_outputs({"name": self.group.model_package_group_name, "arn": self.group.arn})


def model_package_arn(region: str, account_id: str, model: str, version: int) -> str:
    """The ARN of version `version` in the model's registry group."""
    return f"arn:aws:sagemaker:{region}:{account_id}:model-package/{naming.registry_group(model)}/{version}"
