"""Where modelform knowingly differs from what a security scanner asks, and why.

Each stated exception names the scanner's check, the resource types it concerns and the reason.
The plan lists one advisory finding per resource it applies to (policy `stated-exception`), so a
reviewer sees the decision next to the resource, and `make scan` accepts exactly these failures
(plus the scanner's own limitations, which `bench/scan.py` states).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatedException:
    check: str  # the scanner's id, e.g. checkov's CKV_AWS_117
    resource_types: tuple[str, ...]  # Pulumi type tokens it concerns
    reason: str


STATED_EXCEPTIONS = (
    StatedException(
        "CKV_AWS_144",
        ("aws:s3/bucket:Bucket",),
        "no cross-region replication: a platform lives in one region; versioning, protect and retain-on-delete in "
        "prod guard against loss, and replication is an organisation's disaster-recovery choice",
    ),
    StatedException(
        "CKV_AWS_117",
        ("aws:lambda/function:Function",),
        "the guard runs outside the VPC: it calls only AWS APIs (SageMaker or Step Functions, CloudWatch Logs, "
        "X-Ray, SQS) and touches no data; inside the VPC it would need an interface endpoint for each, which the "
        "platform does not provision",
    ),
    StatedException(
        "CKV_AWS_272",
        ("aws:lambda/function:Function",),
        "no code signing: the guard's code is the repository's reviewed retraining_guard.py, packaged by the same "
        "program that plans it",
    ),
    StatedException(
        "CKV_AWS_120",
        ("aws:apigateway/stage:Stage",),
        "no API cache: every prediction is computed for its request; a cache would answer one caller with "
        "another's result and keep model inputs and outputs outside the stores the platform key protects",
    ),
    StatedException(
        "CKV_AWS_225",
        ("aws:apigateway/methodSettings:MethodSettings",),
        "no API cache (caching_enabled false): the same reason as the stage's",
    ),
    StatedException(
        "CKV2_AWS_51",
        ("aws:apigateway/stage:Stage",),
        "no client certificate for the integration: API Gateway calls SageMaker's runtime signed as a role allowed "
        "only this endpoint, or an EKS deployment's internal ALB that only the VPC can reach (through the VPC "
        "link); callers are authenticated by IAM, Cognito and API keys",
    ),
    StatedException(
        "CKV2_AWS_20",
        ("aws:lb/loadBalancer:LoadBalancer",),
        "the API's internal NLB forwards TCP on port 80 to the deployment's ALB; only API Gateway's VPC link "
        "connects to it, and TLS ends at API Gateway: there is no browser to redirect to HTTPS",
    ),
    StatedException(
        "CKV_AWS_91",
        ("aws:lb/loadBalancer:LoadBalancer",),
        "an NLB writes access logs for TLS listeners only; the API's NLB has a TCP listener, and the API stage's "
        "access logs record every request it forwards",
    ),
    StatedException(
        "CKV_K8S_43",
        ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob", "aws:sfn/stateMachine:StateMachine"),
        "images by tag, not digest: the serving image's tag is its code version (a content hash) in the ECR "
        "repository modelform/serve, and the AWS training image is pinned to a framework release; digests are "
        "unknown at plan time, before CI builds the image",
    ),
    StatedException(
        "CKV_K8S_38",
        ("kubernetes:batch/v1:CronJob",),
        "the capacity scheduler's pod mounts its service-account token: it patches its deployment's HPAs through "
        "the API server, and its Role allows only get and patch on those HPAs by name",
    ),
)


#: Stated for some resources of its type only, which the plan's policies pick (`policies.py`): the
#: models that only serverless endpoint variants serve.
SERVERLESS_MODEL = StatedException(
    "CKV_AWS_370",
    ("aws:sagemaker/model:Model",),
    "a serverless endpoint's model runs without network isolation or a VPC: SageMaker serverless inference takes "
    "neither (AWS's feature exclusions); it reads only its registry version or artifact, with the model's role",
)


def exceptions_for(resource_type: str) -> list[StatedException]:
    return [e for e in STATED_EXCEPTIONS if resource_type in e.resource_types]
