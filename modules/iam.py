"""Least-privilege IAM for a model: the policy documents are pure functions, the role a component.

The SageMaker execution role of a model may read only that model's artifacts
(`<artifact bucket>/<model>/`), write only its own data capture (`<capture bucket>/<model>/`),
use the platform key, read its own registry group, pull inference images, write its own endpoint
logs, and attach network interfaces in the platform VPC. No statement grants `*` on `*`; the few
actions AWS authorises only on `*` (ecr:GetAuthorizationToken, ec2:Describe*) are read-only or
token-issuing and are listed by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_aws as aws


def sagemaker_trust_policy(account_id: str) -> str:
    """SageMaker may assume the role, only on behalf of this account (confused-deputy guard)."""
    return _document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ]
    )


def model_execution_policy(
    *,
    model: str,
    region: str,
    account_id: str,
    artifact_bucket: str,
    capture_bucket: str,
    kms_key_arn: str,
    vpc_id: str,
    pinned_artifacts: tuple[str, ...] = (),
) -> str:
    """What a model's endpoint containers and SageMaker, acting for them, may do.

    `pinned_artifacts`: S3 URIs of model.tar.gz files that variants serve directly (outside the
    platform's artifact bucket); the role may read exactly those objects."""
    registry = f"arn:aws:sagemaker:{region}:{account_id}"
    return _document(
        [
            {
                "Sid": "ReadOwnArtifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{artifact_bucket}/{model}/*"],
            },
            _list_own_prefix(artifact_bucket, model),
            *(
                [{
                    "Sid": "ReadPinnedArtifacts",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": sorted(f"arn:aws:s3:::{uri[len('s3://'):]}" for uri in pinned_artifacts),
                }]
                if pinned_artifacts
                else []
            ),
            {
                "Sid": "WriteOwnDataCapture",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [f"arn:aws:s3:::{capture_bucket}/{model}/*"],
            },
            {
                "Sid": "LocateCaptureBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{capture_bucket}"],
            },
            _use_key(kms_key_arn),
            {
                "Sid": "ReadOwnRegistry",
                "Effect": "Allow",
                "Action": ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
                "Resource": [f"{registry}:model-package/{model}/*", f"{registry}:model-package-group/{model}"],
            },
            *_container_runtime(region, account_id, vpc_id, "Endpoints", [
                f"arn:aws:logs:{region}:{account_id}:log-group:/aws/sagemaker/Endpoints/{model}-*",
            ]),
        ]
    )


def service_trust_policy(service: str, account_id: str) -> str:
    """`service` (e.g. events.amazonaws.com) may assume the role, for this account only."""
    return _document([{
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }])


def monitoring_policy(
    *, model: str, region: str, account_id: str, artifact_bucket: str, capture_bucket: str, kms_key_arn: str,
    vpc_id: str, data_locations: tuple[str, ...],
) -> str:
    """The monitoring jobs read the baseline and ground truth, the model's captures and code, and
    publish metrics only into the `modelform` namespace."""
    reads = sorted({f"{_s3_arn(uri).rstrip('/')}/*" for uri in data_locations} | {
        f"arn:aws:s3:::{capture_bucket}/{model}/*", f"arn:aws:s3:::{artifact_bucket}/{model}/code/*"})
    buckets = sorted({uri[len("s3://"):].split("/", 1)[0] for uri in data_locations} | {capture_bucket, artifact_bucket})
    return _document([
        {"Sid": "ReadInputs", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": reads},
        {"Sid": "ListInputs", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{b}" for b in buckets]},
        _use_key(kms_key_arn),
        {
            "Sid": "PublishOnlyModelformMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {"cloudwatch:namespace": "modelform"}},
        },
        *_container_runtime(region, account_id, vpc_id, "Jobs", [
            f"arn:aws:logs:{region}:{account_id}:log-group:/aws/sagemaker/ProcessingJobs",
            f"arn:aws:logs:{region}:{account_id}:log-group:/aws/sagemaker/ProcessingJobs:log-stream:{model}-*",
        ]),
    ])


def guard_policy(*, region: str, account_id: str, function: str, pipeline: str = "", state_machine_arn: str = "") -> str:
    """The retraining guard may list and start executions of one pipeline (or one state
    machine), and write its own logs."""
    if state_machine_arn:
        start = {"Sid": "StartOnlyThisStateMachine", "Effect": "Allow",
                 "Action": ["states:ListExecutions", "states:StartExecution"], "Resource": [state_machine_arn]}
    else:
        start = {"Sid": "StartOnlyThisPipeline", "Effect": "Allow",
                 "Action": ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
                 "Resource": [f"arn:aws:sagemaker:{region}:{account_id}:pipeline/{pipeline}"]}
    return _document([
        start,
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"arn:aws:logs:{region}:{account_id}:log-group:/aws/lambda/{function}:*"],
        },
    ])


def _list_own_prefix(bucket: str, model: str) -> dict[str, Any]:
    return {
        "Sid": "ListOwnArtifacts",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}"],
        "Condition": {"StringLike": {"s3:prefix": [f"{model}/*"]}},
    }


def _use_key(kms_key_arn: str) -> dict[str, Any]:
    return {
        "Sid": "UsePlatformKey",
        "Effect": "Allow",
        "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
        "Resource": [kms_key_arn],
    }


def _container_runtime(region: str, account_id: str, vpc_id: str, log_kind: str, log_resources: list[str]) -> list[dict[str, Any]]:
    """What any SageMaker container of the model needs: images, its own logs (`log_resources`:
    log groups or streams named after the model), the platform VPC."""
    return [
        {
            "Sid": "PullImages",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": [f"arn:aws:ecr:{region}:*:repository/*"],
        },
        {
            "Sid": "EcrTokenIsIssuedOnlyForStar",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": ["*"],
        },
        {
            "Sid": f"WriteOwn{log_kind}Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": log_resources,
        },
        {
            "Sid": "DescribeNetworkIsReadOnlyOnStar",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
            ],
            "Resource": ["*"],
        },
        {
            "Sid": "AttachToPlatformVpc",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
            ],
            "Resource": [f"arn:aws:ec2:{region}:{account_id}:*"],
            "Condition": {"ArnEquals": {"ec2:Vpc": f"arn:aws:ec2:{region}:{account_id}:vpc/{vpc_id}"}},
        },
    ]


def _s3_arn(uri: str) -> str:
    return f"arn:aws:s3:::{uri[len('s3://'):]}"


def training_policy(
    *,
    model: str,
    region: str,
    account_id: str,
    artifact_bucket: str,
    kms_key_arn: str,
    vpc_id: str,
    role_arn: str,
    data_locations: tuple[str, ...],
    pipeline: str,
) -> str:
    """What the retraining pipeline (and the jobs it starts with this role) may do: read the
    model's data prefixes; read its code and write its models, checkpoints and evaluations under
    `<artifacts>/<model>/`; run jobs named after the model; register into its own group."""
    sagemaker = f"arn:aws:sagemaker:{region}:{account_id}"
    buckets = sorted({uri[len("s3://"):].split("/", 1)[0] for uri in data_locations})
    return _document(
        [
            {
                "Sid": "ReadTrainingData",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": sorted(f"{_s3_arn(uri).rstrip('/')}/*" for uri in data_locations),
            },
            {
                "Sid": "ListTrainingData",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}" for bucket in buckets],
                "Condition": {"StringLike": {"s3:prefix": sorted({
                    f"{uri[len('s3://'):].split('/', 1)[1] if '/' in uri[len('s3://'):] else ''}*" for uri in data_locations})}},
            },
            {
                "Sid": "OwnArtifacts",
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                "Resource": [f"arn:aws:s3:::{artifact_bucket}/{model}/*"],
            },
            _list_own_prefix(artifact_bucket, model),
            _use_key(kms_key_arn),
            {
                "Sid": "RunOwnJobs",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:AddTags",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:StopTrainingJob",
                ],
                "Resource": [f"{sagemaker}:training-job/{model}-*", f"{sagemaker}:processing-job/{model}-*"],
            },
            {
                "Sid": "RegisterIntoOwnGroup",
                "Effect": "Allow",
                "Action": ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
                "Resource": [f"{sagemaker}:model-package/{model}/*", f"{sagemaker}:model-package-group/{model}"],
            },
            {
                "Sid": "ReadOwnPipeline",
                "Effect": "Allow",
                "Action": ["sagemaker:DescribePipeline", "sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutionSteps"],
                "Resource": [f"{sagemaker}:pipeline/{pipeline}", f"{sagemaker}:pipeline/{pipeline}/*"],
            },
            {
                "Sid": "PassOnlyItself",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [role_arn],
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
            *_container_runtime(region, account_id, vpc_id, "Jobs", [
                f"arn:aws:logs:{region}:{account_id}:log-group:/aws/sagemaker/{kind}:log-stream:{model}-*"
                for kind in ("ProcessingJobs", "TrainingJobs")
            ] + [f"arn:aws:logs:{region}:{account_id}:log-group:/aws/sagemaker/{kind}" for kind in ("ProcessingJobs", "TrainingJobs")]),
        ]
    )


def _document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


@dataclass
class ModelExecutionRoleArgs:
    """Inputs of `ModelExecutionRole` (outputs of the platform stack, mostly).

    model: the model name; the role may touch only resources under this name.
    region, account_id, artifact_bucket, capture_bucket, kms_key_arn, vpc_id: where those live.
    pinned_artifacts: S3 URIs of artifacts served directly by variants (read-only access to each).
    tags: merged into the role's tags.
    """

    model: str
    region: str
    account_id: pulumi.Input[str]
    artifact_bucket: pulumi.Input[str]
    capture_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    pinned_artifacts: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


class ModelExecutionRole(pulumi.ComponentResource):
    """The role SageMaker assumes to run a model's containers."""

    role: aws.iam.Role

    def __init__(self, name: str, args: ModelExecutionRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:iam:ModelExecutionRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            name,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(sagemaker_trust_policy),
            description=f"SageMaker execution role of model {args.model} (modelform)",
            max_session_duration=3600,
            tags=dict(args.tags),
            opts=child,
        )
        policy = pulumi.Output.all(
            args.account_id, args.artifact_bucket, args.capture_bucket, args.kms_key_arn, args.vpc_id
        ).apply(
            lambda values: model_execution_policy(
                model=args.model,
                region=args.region,
                account_id=values[0],
                artifact_bucket=values[1],
                capture_bucket=values[2],
                kms_key_arn=values[3],
                vpc_id=values[4],
                pinned_artifacts=args.pinned_artifacts,
            )
        )
        aws.iam.RolePolicy(f"{name}-policy", role=self.role.id, policy=policy, opts=child)
        self.register_outputs({"arn": self.role.arn})
