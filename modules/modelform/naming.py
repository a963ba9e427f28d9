"""Every derived name in one place, so that no component invents its own and tests can pin them.

Logical (Pulumi) names derive from the model, deployment and variant names and never change
silently: renaming any of them replaces the resources. Physical names are set only where clients
or other resources look them up by name (endpoints, alarms, registry groups); immutable resources
that are replaced on change (SageMaker models, endpoint configurations) keep Pulumi's autonaming,
so a replacement can be created before the old one is deleted.
"""

from __future__ import annotations

import hashlib
import json

PLATFORM_PROJECT = "modelform-platform"
MODEL_PROJECT = "modelform-model"


def platform_stack(platform: str, environment: str) -> str:
    return f"{platform}.{environment}"


#: The Pulumi organization model stacks name in their StackReference unless told another.
DEFAULT_ORGANIZATION = "organization"


def platform_stack_reference(platform: str, environment: str, organization: str = DEFAULT_ORGANIZATION) -> str:
    """`<organization>/<platform project>/<platform stack>`: what a model stack reads outputs from."""
    return f"{organization}/{PLATFORM_PROJECT}/{platform_stack(platform, environment)}"


def model_stack(model: str, environment: str) -> str:
    return f"{model}.{environment}"


def endpoint(model: str, deployment: str) -> str:
    """The SageMaker endpoint name clients invoke: `<model>-<deployment>`."""
    return f"{model}-{deployment}"


def variant_resource(model: str, deployment: str, variant: str) -> str:
    """Prefix of everything that exists once per variant (model, scaling target, alarms)."""
    return f"{model}-{deployment}-{variant}"


#: Kubernetes CronJob names: 52 characters, so that the Jobs it creates (+ 11) stay within 63.
CRONJOB_NAME_LIMIT = 52


def capacity_scheduler(model: str, deployment: str) -> str:
    """The EKS deployment's capacity scheduler (CronJob, its service account and Role)."""
    return fit(f"{model}-{deployment}-capacity", CRONJOB_NAME_LIMIT)


def autoscaling_resource_id(endpoint_name: str, variant: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{variant}"


def registry_group(model: str) -> str:
    """The model package group (registry) of a model is named after the model."""
    return model


def retraining_pipeline(model: str) -> str:
    """What retrains the model: the SageMaker pipeline, or (EKS training) the state machine."""
    return f"{model}-retraining"


def monitoring_pipeline(model: str) -> str:
    return f"{model}-monitoring"


def training_job_prefix(model: str) -> str:
    """Jobs the pipelines start are named `<prefix>-<suffix AWS adds>`: every one begins with the
    model's name, which is what the roles' job statements are scoped to."""
    return f"{model}-train"


def evaluation_job_prefix(model: str) -> str:
    return f"{model}-evaluate"


def monitoring_job_prefix(model: str) -> str:
    return f"{model}-monitor"


def async_topic(model: str, deployment: str, outcome: str) -> str:
    """The SNS topic announcing an asynchronous deployment's answers (`success`) or failures (`errors`)."""
    return f"{endpoint(model, deployment)}-async-{outcome}"


def api_access_log_group(endpoint_name: str) -> str:
    return f"/aws/apigateway/{endpoint_name}"


#: Elastic Load Balancing names load balancers and target groups in 32 letters, digits and hyphens.
LOAD_BALANCER_LIMIT = 32


def ingress_load_balancer(model: str, deployment: str) -> str:
    """The ALB the load balancer controller creates for an EKS deployment's Ingress, named so that
    the deployment's API can find it once it exists."""
    return fit(endpoint(model, deployment), LOAD_BALANCER_LIMIT)


def api_load_balancer(model: str, deployment: str) -> str:
    """The internal NLB an EKS deployment's API reaches the ALB through (a REST API's VPC link)."""
    return fit(f"{endpoint(model, deployment)}-api", LOAD_BALANCER_LIMIT)


def api_target_group(model: str, deployment: str) -> str:
    """The NLB's target group holding the deployment's ALB."""
    return fit(f"{endpoint(model, deployment)}-alb", LOAD_BALANCER_LIMIT)


def waf_log_group(endpoint_name: str) -> str:
    """WAF logs only to log groups whose names start with `aws-waf-logs-`."""
    return f"aws-waf-logs-{endpoint_name}"


def batch_job_prefix(model: str) -> str:
    """Batch transform jobs are `<model>-batch-<Scheduler's execution id>` (see `batch_scoring`)."""
    return f"{model}-batch-"


def batch_scoring(model: str) -> str:
    """The batch scoring's schedule, and the prefix of its SageMaker model's name."""
    return f"{model}-batch"


def batch_failures(model: str) -> str:
    """The failure inbox (SQS queue) of a model's batch scoring, and its alarm."""
    return f"{model}-batch-failures"


def batch_failed_rule(model: str) -> str:
    return f"{model}-batch-failed"


def training_role(model: str) -> str:
    """Physical: the retraining pipeline's definition carries this role's ARN as text."""
    return f"{model}-sagemaker-training"


def monitoring_role(model: str) -> str:
    return f"{model}-sagemaker-monitoring"


def alert_topic(model: str) -> str:
    return f"{model}-alerts"


def guard_function(model: str) -> str:
    return f"{model}-retraining-guard"


def guard_dead_letters(model: str) -> str:
    return f"{model}-retraining-guard-dlq"


def flow_log_group(platform: str) -> str:
    return f"/modelform/{platform}/vpc-flow-logs"


def monitoring_schedule(model: str) -> str:
    return f"{model}-monitoring-schedule"


def retraining_schedule(model: str) -> str:
    return f"{model}-retrain-schedule"


def retraining_rule(model: str, trigger: str) -> str:
    """The EventBridge rule of an event-driven retraining trigger (`drift`, `quality`, `new-data`)."""
    return f"{model}-retrain-on-{trigger}"


def state_machine_log_group(model: str) -> str:
    """Step Functions recommends the `/aws/vendedlogs/` prefix (its resource policy size limit)."""
    return f"/aws/vendedlogs/states/{retraining_pipeline(model)}"


def cluster(platform: str, cluster_name: str) -> str:
    """An EKS cluster's physical name: `<platform>-<cluster>`."""
    return f"{platform}-{cluster_name}"


def node_group(cluster_name: str, group: str) -> str:
    return fit(f"{cluster_name}-{group}", EKS_NODE_GROUP_LIMIT)


def key_alias(platform: str) -> str:
    return f"alias/modelform/{platform}"


#: SageMaker names (models, endpoint configurations) are limited to 63 characters; a content
#: hash of 8 characters and a hyphen are appended to the names of immutable resources.
SAGEMAKER_NAME_LIMIT = 63
CONTENT_SUFFIX_LENGTH = 9
MAX_VARIANT_RESOURCE = SAGEMAKER_NAME_LIMIT - CONTENT_SUFFIX_LENGTH


#: AWS's limits on the physical names modelform sets (characters).
IAM_ROLE_LIMIT = 64
EKS_NODE_GROUP_LIMIT = 63
HASH_LENGTH = 8


def fit(name: str, limit: int) -> str:
    """`name` itself when it fits `limit`; otherwise its first characters and a hash of the whole
    name (`<start>-<8 hex>`), so that two long names that share a start still differ, and the
    same name always fits the same way."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_LENGTH]
    return f"{name[: limit - HASH_LENGTH - 1].rstrip('-')}-{digest}"


def role(logical: str) -> str:
    """An IAM role's physical name: its logical name, fitted to IAM's 64 characters (Pulumi's
    autonaming would add 8 characters more and overflow for long model names)."""
    return fit(logical, IAM_ROLE_LIMIT)


#: The name of every role's one inline policy (a role has one; names are per role).
INLINE_POLICY = "modelform"


def content_named(prefix: str, content: object) -> str:
    """`<prefix>-<8 hex>` where the hex digest covers `content`: an immutable resource whose content
    changes gets a new name, so its replacement can be created before the old one is deleted."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{prefix}-{digest}"


def serving_repository(platform: str) -> str:
    """The ECR repository of the serving image, one per platform (ECR names allow `/`)."""
    return f"{platform}/serve"
