"""The one IAM builder: every policy document modelform writes is made here, from typed statements.

Components say *what* a role may do as `Statement`s (built with the helpers below, which turn typed
S3 locations and names into ARNs); `policy_document` renders them once: statements merged by `Sid`,
actions and resources sorted and deduplicated, keys sorted — so the same permissions always give
the same text, and a plan diff shows a permission change as one line. Trust policies come from
the three kinds AWS has for our roles: a service acting for this account, a service without
account context (EC2 instances, the EKS control plane), and a Kubernetes service account through
the cluster's OIDC provider (IRSA). `scoped_role` creates a role with its inline policy.

No statement grants `*` on `*`; the few actions AWS authorises only on `*`
(ecr:GetAuthorizationToken, ec2:Describe*, cloudwatch:PutMetricData) are read-only, token-issuing
or conditioned, and listed by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from . import naming
from .spec.parsers import S3Uri

POLICY_VERSION = "2012-10-17"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True)
class Statement:
    """One IAM statement. `conditions`: {operator: {key: value or list}}."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    effect: Effect = Effect.ALLOW
    principal: Optional[Mapping[str, Any]] = None

    def __post_init__(self):
        if not self.actions:
            raise ValueError(f"statement {self.sid} has no actions")
        if self.principal is None and not self.resources:
            raise ValueError(f"statement {self.sid} has no resources")

    def to_json(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"Sid": self.sid, "Effect": str(self.effect), "Action": sorted(set(self.actions))}
        if self.resources:
            rendered["Resource"] = sorted(set(self.resources))
        if self.principal is not None:
            rendered["Principal"] = {kind: _sorted_value(value) for kind, value in self.principal.items()}
        if self.conditions:
            rendered["Condition"] = {
                operator: {key: _sorted_value(value) for key, value in keys.items()}
                for operator, keys in self.conditions.items()
            }
        return rendered


def allow(sid: str, actions: Iterable[str], resources: Iterable[str], conditions=None) -> Statement:
    return Statement(sid, tuple(actions), tuple(resources), dict(conditions or {}))


def policy_document(statements: Iterable[Statement]) -> str:
    """The JSON policy: statements with the same Sid must agree on everything but resources
    (which are merged); sorted by Sid; canonical text."""
    merged: dict[str, Statement] = {}
    for statement in statements:
        known = merged.get(statement.sid)
        if known is None:
            merged[statement.sid] = statement
            continue
        if (known.actions, known.conditions, known.effect, known.principal) != (
            statement.actions,
            statement.conditions,
            statement.effect,
            statement.principal,
        ):
            raise ValueError(f"two different statements named {statement.sid}")
        merged[statement.sid] = Statement(
            known.sid,
            known.actions,
            known.resources + statement.resources,
            known.conditions,
            known.effect,
            known.principal,
        )
    body = [merged[sid].to_json() for sid in sorted(merged)]
    return json.dumps({"Version": POLICY_VERSION, "Statement": body}, sort_keys=True)


def _sorted_value(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted(set(value))
    return value


# --- trust policies --------------------------------------------------------------------------


def service_trust(service: str, account_id: Optional[str] = None) -> str:
    """`service` (e.g. sagemaker.amazonaws.com) may assume the role; with `account_id`, only on
    behalf of that account (the confused-deputy guard). EC2 and the EKS control plane send no
    source account, so their roles are trusted without it."""
    conditions = {"StringEquals": {"aws:SourceAccount": account_id}} if account_id is not None else {}
    return policy_document(
        [Statement("AssumedByService", ("sts:AssumeRole",), conditions=conditions, principal={"Service": service})]
    )


def service_account_trust(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """Only the Kubernetes service account `namespace/service_account` of the cluster whose OIDC
    provider this is may assume the role (IRSA), and only with tokens minted for STS."""
    issuer = oidc_issuer.removeprefix("https://")
    return policy_document(
        [
            Statement(
                "AssumedByServiceAccount",
                ("sts:AssumeRoleWithWebIdentity",),
                conditions={
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
                principal={"Federated": oidc_provider_arn},
            )
        ]
    )


# --- ARNs ----------------------------------------------------------------------------------------


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket: str, prefix: str = "") -> str:
    """Every object under `prefix` (a folder: a trailing `/` is implied)."""
    prefix = prefix.rstrip("/")
    return f"arn:aws:s3:::{bucket}/{prefix}/*" if prefix else f"arn:aws:s3:::{bucket}/*"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def location_objects_arn(location: S3Uri) -> str:
    """Every object at or under a typed S3 location (a prefix, or one object's key)."""
    return objects_arn(location.bucket, location.key)


def sagemaker_arn(region: str, account_id: str, resource: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account_id}:{resource}"


def role_arn(account_id: pulumi.Input[str], role_name: str) -> pulumi.Output:
    """A role's ARN from its physical name, as text that documents can carry before the role exists."""
    return pulumi.Output.concat("arn:aws:iam::", account_id, ":role/", role_name)


def log_group_arn(region: str, account_id: str, group: str, stream: Optional[str] = None) -> str:
    arn = f"arn:aws:logs:{region}:{account_id}:log-group:{group}"
    return arn if stream is None else f"{arn}:log-stream:{stream}"


# --- statements several roles need -------------------------------------------------------------------


def read_objects(sid: str, arns: Iterable[str]) -> Statement:
    return allow(sid, ["s3:GetObject"], arns)


def list_prefixes(sid: str, locations: Iterable[tuple[str, str]]) -> list[Statement]:
    """ListBucket on each bucket, limited to the given key prefixes (`(bucket, prefix)` pairs);
    one statement per bucket, since the prefix condition applies to every listed bucket."""
    by_bucket: dict[str, set[str]] = {}
    for bucket, prefix in locations:
        by_bucket.setdefault(bucket, set()).add(f"{prefix.rstrip('/')}/*" if prefix.strip("/") else "*")
    statements = []
    for index, bucket in enumerate(sorted(by_bucket)):
        suffix = "" if len(by_bucket) == 1 else str(index + 1)
        statements.append(
            allow(
                f"{sid}{suffix}",
                ["s3:ListBucket"],
                [bucket_arn(bucket)],
                {"StringLike": {"s3:prefix": sorted(by_bucket[bucket])}},
            )
        )
    return statements


KEY_USE = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def use_key(
    kms_key_arn: str, actions: Sequence[str] = KEY_USE, *, grants_for_aws_services: bool = False
) -> list[Statement]:
    """Use the platform key; with `grants_for_aws_services`, also create grants, but only for AWS
    services acting on our behalf (SageMaker grants its instances the key for their volumes)."""
    statements = [allow("UsePlatformKey", actions, [kms_key_arn])]
    if grants_for_aws_services:
        statements.append(
            allow(
                "GrantKeyOnlyToAwsServices",
                ["kms:CreateGrant"],
                [kms_key_arn],
                {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
    return statements


def container_runtime(
    region: str, account_id: str, vpc_id: str, log_kind: str, log_resources: list[str]
) -> list[Statement]:
    """What any SageMaker container of the model needs: images, its own logs (`log_resources`:
    log groups or streams named after the model), network interfaces in the platform VPC."""
    return [
        allow(
            "PullImages",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [f"arn:aws:ecr:{region}:*:repository/*"],
        ),
        allow("EcrTokenIsIssuedOnlyForStar", ["ecr:GetAuthorizationToken"], ["*"]),
        allow(
            f"WriteOwn{log_kind}Logs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            log_resources,
        ),
        allow(
            "DescribeNetworkIsReadOnlyOnStar",
            [
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
            ],
            ["*"],
        ),
        allow(
            "AttachToPlatformVpc",
            [
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
            ],
            [f"arn:aws:ec2:{region}:{account_id}:*"],
            {"ArnEquals": {"ec2:Vpc": f"arn:aws:ec2:{region}:{account_id}:vpc/{vpc_id}"}},
        ),
    ]


def send_traces() -> Statement:
    """X-Ray: AWS authorizes sending trace segments only on `*`."""
    return allow("SendTracesIsOnlyOnStar", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"])


#: SageMaker job kinds a pipeline step can start, and the API verbs on each.
JOB_ACTIONS = {
    "training-job": ("sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"),
    "processing-job": (
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
    ),
}


def pipeline_runner(
    region: str, account_id: str, pipeline: str, role_arn: str, jobs: dict[str, str]
) -> list[Statement]:
    """What a SageMaker pipeline's role needs to run it: start, watch and stop the jobs of its steps
    (`jobs`: job kind -> the name prefix the definition gives them; AWS adds a suffix), read its
    own executions, and pass itself, only to SageMaker, to those jobs."""
    actions = {"sagemaker:AddTags"} | {action for kind in jobs for action in JOB_ACTIONS[kind]}
    return [
        allow(
            "RunOwnJobs",
            sorted(actions),
            [sagemaker_arn(region, account_id, f"{kind}/{prefix}-*") for kind, prefix in sorted(jobs.items())],
        ),
        allow(
            "ReadOwnPipeline",
            [
                "sagemaker:DescribePipeline",
                "sagemaker:DescribePipelineExecution",
                "sagemaker:ListPipelineExecutionSteps",
            ],
            [
                sagemaker_arn(region, account_id, f"pipeline/{pipeline}"),
                sagemaker_arn(region, account_id, f"pipeline/{pipeline}/*"),
            ],
        ),
        allow(
            "PassOnlyItself",
            ["iam:PassRole"],
            [role_arn],
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    ]


# --- the role -----------------------------------------------------------------------------------


def scoped_role(
    name: str,
    *,
    trust: pulumi.Input[str],
    policy: Optional[pulumi.Input[str]],
    description: str,
    parent: pulumi.Resource,
    role_name: Optional[str] = None,
) -> tuple[aws.iam.Role, Optional[aws.iam.RolePolicy]]:
    """A role (`<name>`) with its inline policy (`<name>-policy`), both children of `parent`. The
    role's physical name is `role_name`, or its logical name fitted to IAM's limit."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        name, name=role_name or naming.role(name), assume_role_policy=trust, description=description, opts=child
    )
    inline = None
    if policy is not None:
        inline = aws.iam.RolePolicy(
            f"{name}-policy", name=naming.INLINE_POLICY, role=role.id, policy=policy, opts=child
        )
    return role, inline


def endpoint_policy(account_id: str) -> str:
    """A VPC interface endpoint admits calls by this account's principals, or calls on this
    account's resources (an IRSA token exchange is signed by no principal yet; its resource is
    one of our roles), and nothing else: a stolen foreign credential cannot use our endpoints."""
    anyone = {"AWS": "*"}
    return policy_document(
        [
            Statement(
                "CallersOfThisAccount",
                ("*",),
                ("*",),
                {"StringEquals": {"aws:PrincipalAccount": account_id}},
                principal=anyone,
            ),
            Statement(
                "ResourcesOfThisAccount",
                ("*",),
                ("*",),
                {"StringEquals": {"aws:ResourceAccount": account_id}},
                principal=anyone,
            ),
        ]
    )


#: The tag the AWS Load Balancer Controller puts on everything it creates, valued with the cluster.
LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster"


def load_balancer_controller(region: str, account_id: str, cluster: str) -> list[Statement]:
    """What the AWS Load Balancer Controller calls (its published policy's actions, for ALBs with
    WAF and Shield integrations off), scoped to this region and account, and its writes to the
    load balancers, target groups and security groups tagged for this cluster."""
    elb = f"arn:aws:elasticloadbalancing:{region}:{account_id}"
    groups = f"arn:aws:ec2:{region}:{account_id}:security-group/*"
    balancers = [f"{elb}:loadbalancer/app/*/*", f"{elb}:loadbalancer/net/*/*", f"{elb}:targetgroup/*/*"]
    listeners = [
        f"{elb}:listener/app/*/*/*",
        f"{elb}:listener/net/*/*/*",
        f"{elb}:listener-rule/app/*/*/*",
        f"{elb}:listener-rule/net/*/*/*",
    ]
    ours = {"StringEquals": {f"aws:ResourceTag/{LBC_CLUSTER_TAG}": cluster}}
    tagging_ours = {"StringEquals": {f"aws:RequestTag/{LBC_CLUSTER_TAG}": cluster}}
    return [
        allow(
            "CreateTheLoadBalancingServiceLinkedRole",
            ["iam:CreateServiceLinkedRole"],
            [f"arn:aws:iam::{account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/*"],
            {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        ),
        # Describe and Get calls are authorized only on `*` (read-only).
        allow(
            "DescribeIsOnlyOnStar",
            [
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInstances",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeRouteTables",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeTags",
                "ec2:DescribeVpcs",
                "elasticloadbalancing:DescribeListenerAttributes",
                "elasticloadbalancing:DescribeListenerCertificates",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeSSLPolicies",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            ["*"],
        ),
        allow("CreateSecurityGroupsTaggedForTheCluster", ["ec2:CreateSecurityGroup"], [groups], tagging_ours),
        allow(
            "ListSecurityGroupsOfTheVpcs", ["ec2:GetSecurityGroupsForVpc"], [f"arn:aws:ec2:{region}:{account_id}:vpc/*"]
        ),
        allow(
            "CreateSecurityGroupsInThePlatformVpc",
            ["ec2:CreateSecurityGroup"],
            [f"arn:aws:ec2:{region}:{account_id}:vpc/*"],
        ),
        allow(
            "TagNewSecurityGroups",
            ["ec2:CreateTags"],
            [groups],
            {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup", **tagging_ours["StringEquals"]}},
        ),
        allow(
            "ChangeTheClustersSecurityGroups",
            [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:CreateTags",
                "ec2:DeleteSecurityGroup",
                "ec2:DeleteTags",
                "ec2:RevokeSecurityGroupIngress",
            ],
            [groups],
            ours,
        ),
        allow(
            "CreateBalancersTaggedForTheCluster",
            ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            balancers,
            tagging_ours,
        ),
        allow(
            "TagNewBalancers",
            ["elasticloadbalancing:AddTags"],
            balancers,
            {
                "StringEquals": {
                    "elasticloadbalancing:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup"],
                    **tagging_ours["StringEquals"],
                }
            },
        ),
        allow(
            "ChangeTheClustersBalancers",
            [
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:RemoveTags",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
            ],
            balancers,
            ours,
        ),
        # Listeners and rules live inside the cluster's load balancers (created above, tag-scoped);
        # the controller does not tag every one of them, so these are scoped to the account.
        allow(
            "ChangeListenersAndRules",
            [
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyListenerAttributes",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:RemoveTags",
                "elasticloadbalancing:SetRulePriorities",
            ],
            listeners,
        ),
    ]
