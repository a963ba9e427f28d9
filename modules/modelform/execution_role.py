"""The SageMaker execution role of a model's endpoints: least privilege, scoped to the model.

The role may read only that model's artifacts (`<artifact bucket>/<model>/`) and the artifacts
its variants pin, write only its own data capture (`<capture bucket>/<model>/`), use the platform
key (grants only for AWS services), read its own registry group, pull inference images, write its
own endpoint logs, and attach network interfaces in the platform VPC. Asynchronous deployments
also write their answers and failures under `<artifact bucket>/<model>/async/<deployment>/` and
publish to their own two topics.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from . import iam, naming
from .context import ModelContext, Resolved
from .model_registry import registry_group_arn
from .sagemaker_endpoint import ASYNC_FOLDERS, ASYNC_OUTCOMES, async_prefix
from .spec import SageMakerDeployment, served_variants
from .spec.parsers import S3Uri


def pinned_artifacts(deployments: tuple[SageMakerDeployment, ...]) -> tuple[S3Uri, ...]:
    """The model.tar.gz files variants (and shadows) serve directly, outside the registry."""
    found = {v.artifact for d in deployments for v in served_variants(d) if v.artifact is not None}
    return tuple(sorted(found, key=str))


def execution_statements(
    model: str, where: Resolved, pinned: tuple[S3Uri, ...] = (), asynchronous: tuple[str, ...] = ()
) -> list[iam.Statement]:
    """What a model's endpoint containers, and SageMaker acting for them, may do. `asynchronous`:
    the deployments that answer asynchronously (they write answers and announce them)."""
    region, account = where.region, where.account_id
    statements = [
        iam.read_objects("ReadOwnArtifacts", [iam.objects_arn(where.artifact_bucket, model)]),
        *iam.list_prefixes("ListOwnArtifacts", [(where.artifact_bucket, model)]),
        iam.allow(
            "WriteOwnDataCapture",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [iam.objects_arn(where.capture_bucket, model)],
        ),
        iam.allow("LocateCaptureBucket", ["s3:GetBucketLocation"], [iam.bucket_arn(where.capture_bucket)]),
        *iam.use_key(where.kms_key_arn, grants_for_aws_services=True),
        iam.allow(
            "ReadOwnRegistry",
            ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
            [
                iam.sagemaker_arn(region, account, f"model-package/{model}/*"),
                registry_group_arn(region, account, model),
            ],
        ),
        *iam.container_runtime(
            region,
            account,
            where.vpc_id,
            "Endpoints",
            [iam.log_group_arn(region, account, f"/aws/sagemaker/Endpoints/{model}-*")],
        ),
    ]
    if pinned:
        statements.append(iam.read_objects("ReadPinnedArtifacts", [iam.object_arn(u.bucket, u.key) for u in pinned]))
    if asynchronous:
        prefixes = [async_prefix(model, deployment) for deployment in asynchronous]
        statements += [
            iam.allow(
                "WriteOwnAsyncAnswers",
                ["s3:AbortMultipartUpload", "s3:PutObject"],
                [
                    iam.objects_arn(where.artifact_bucket, f"{prefix}{kind}/")
                    for prefix in prefixes
                    for kind in ASYNC_FOLDERS
                ],
            ),
            iam.allow(
                "AnnounceOwnAsyncOutcomes",
                ["sns:Publish"],
                [
                    f"arn:aws:sns:{region}:{account}:{naming.async_topic(model, deployment, outcome)}"
                    for deployment in asynchronous
                    for outcome in ASYNC_OUTCOMES
                ],
            ),
        ]
    return statements


class ModelExecutionRole(pulumi.ComponentResource):
    """The role SageMaker assumes to run the containers of `deployments`."""

    role: aws.iam.Role

    def __init__(
        self,
        name: str,
        context: ModelContext,
        deployments: tuple[SageMakerDeployment, ...],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:execution_role:ModelExecutionRole", name, None, opts)
        pinned = pinned_artifacts(deployments)
        asynchronous = tuple(d.name for d in deployments if d.asynchronous is not None)
        self.role, _ = iam.scoped_role(
            name,
            trust=context.account_id.apply(lambda account: iam.service_trust("sagemaker.amazonaws.com", account)),
            policy=context.apply(
                lambda where: iam.policy_document(execution_statements(context.model, where, pinned, asynchronous))
            ),
            description=f"SageMaker execution role of model {context.model} (modelform)",
            parent=self,
        )
        self.register_outputs({"arn": self.role.arn})
