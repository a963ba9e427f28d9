"""The model registry of one model: a SageMaker model package group named after the model.

Every trained version is registered here (by the retraining pipeline or state machine);
deployments serve a version by number. The group holds the history of what was approved and
served, so it is data-bearing: protected and retained when the spec protects (prod).
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from . import naming
from .context import ModelContext
from .iam import sagemaker_arn
from .spec import ModelSpec


class ModelRegistry(pulumi.ComponentResource):
    group: aws.sagemaker.ModelPackageGroup

    def __init__(
        self, name: str, context: ModelContext, spec: ModelSpec, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("modelform:model_registry:ModelRegistry", name, None, opts)
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-group",
            model_package_group_name=naming.registry_group(spec.name),
            model_package_group_description=spec.description or f"Versions of model {spec.name}",
            opts=pulumi.ResourceOptions(parent=self, protect=spec.protect, retain_on_delete=spec.protect),
        )
        self.register_outputs({"name": self.group.model_package_group_name, "arn": self.group.arn})


def model_package_arn(region: str, account_id: str, model: str, version: int) -> str:
    """The ARN of version `version` in the model's registry group."""
    return sagemaker_arn(region, account_id, f"model-package/{naming.registry_group(model)}/{version}")


def registry_group_arn(region: str, account_id: str, model: str) -> str:
    return sagemaker_arn(region, account_id, f"model-package-group/{naming.registry_group(model)}")
