"""What the report says of each model, gathered from its typed spec and its planned stack.

Every fact comes from one of two sources: the spec (who owns the model, what data it reads, how it
scales, what watches it) or the plan (the code version, the roles and what they may do, the
rollback alarms, the findings), so that the report cannot drift from what `up` would create.
"""

from __future__ import annotations

from typing import Any

from .. import naming
from ..capacity import shadow_share, weight_share
from ..sagemaker_endpoint import async_prefix
from ..source_archive import model_archive
from ..spec import ApiAuth, EksDeployment, ModelSpec, PlatformSpec, SageMakerDeployment, Target
from ..spec.parsers import format_duration, format_timestamp
from .access import role_access


def _api_auth(api) -> str:
    if api.auth is ApiAuth.IAM:
        return "IAM signatures (callers need execute-api:Invoke)"
    if api.auth is ApiAuth.COGNITO:
        return f"Cognito user pool tokens ({', '.join(api.cognito_user_pools)})"
    return f"JWTs issued by {api.jwt.issuer} for {', '.join(api.jwt.audiences)}"


def _api_path(model: str, deployment) -> str:
    """How a request travels from API Gateway to the model."""
    if isinstance(deployment, SageMakerDeployment):
        return "API Gateway calls the SageMaker runtime itself, as a role that may invoke only this endpoint"
    if deployment.api.http_api:
        return (
            f"an HTTP API reaches the deployment's ALB ({naming.ingress_load_balancer(model, deployment.name)}, open "
            "to the VPC only) through a VPC link of its own"
        )
    return (
        f"API Gateway reaches the deployment's ALB ({naming.ingress_load_balancer(model, deployment.name)}, open to "
        f"the VPC only) through a VPC link and an internal NLB ({naming.api_load_balancer(model, deployment.name)})"
    )


def _serves(variant) -> str:
    """What a variant (a shadow's, batch scoring's) serves, in words."""
    return f"registry version {variant.model_version}" if variant.model_version is not None else str(variant.artifact)


def _bound(bound) -> str:
    parts = []
    if bound.min is not None:
        parts.append(f">= {bound.min:g}")
    if bound.max is not None:
        parts.append(f"<= {bound.max:g}")
    return f"{bound.metric} {' and '.join(parts)}"


def deployment_facts(model: ModelSpec, deployment, platform: PlatformSpec, stack: dict) -> dict[str, Any]:
    """Where and how one deployment serves, scales and rolls out."""
    variants = deployment.variants
    scaling = deployment.autoscaling
    facts: dict[str, Any] = {"name": deployment.name, "target": deployment.target.value, "region": platform.region}
    if isinstance(deployment, SageMakerDeployment):
        unit = "instances"
        endpoint_name = naming.endpoint(model.name, deployment.name)
        facts["where"] = f"SageMaker endpoint {endpoint_name}"
        facts["instance_type"] = deployment.instance_type
        floor = scaling.min_instances if scaling else deployment.instance_count
        ceiling = scaling.max_instances if scaling else deployment.instance_count
        facts["scaling"] = (
            {
                "floor": floor,
                "ceiling": ceiling,
                "target": f"{scaling.target_invocations_per_instance} invocations per instance per minute",
                "cooldowns": f"scale in {format_duration(scaling.scale_in_cooldown_seconds)}, "
                f"scale out {format_duration(scaling.scale_out_cooldown_seconds)}",
            }
            if scaling
            else {"floor": floor, "ceiling": ceiling, "target": "fixed", "cooldowns": "none"}
        )
        if deployment.asynchronous is not None:
            settings = deployment.asynchronous
            facts["where"] = f"SageMaker asynchronous endpoint {endpoint_name}"
            facts["answers"] = (
                f"<artifacts bucket>/{async_prefix(model.name, deployment.name)}output/ (failures: .../failures/), "
                f"announced on SNS topics {naming.async_topic(model.name, deployment.name, 'success')} and "
                f"{naming.async_topic(model.name, deployment.name, 'errors')}"
            )
            if scaling:
                facts["scaling"]["target"] = f"{settings.target_backlog_per_instance} queued requests per instance" + (
                    "; scales to zero when idle" if scaling.min_instances == 0 else ""
                )
        if deployment.serverless is not None:
            serverless = deployment.serverless
            unit = "warm invocations"
            facts["where"] = f"SageMaker serverless endpoint {endpoint_name}"
            facts["instance_type"] = (
                f"serverless, {serverless.memory_mb} MB, up to {serverless.max_concurrency} concurrent invocations"
            )
            facts["scaling"] = {
                "floor": serverless.provisioned_concurrency or 0,
                "ceiling": serverless.max_concurrency,
                "target": "per request, by SageMaker (provisioned concurrency kept warm)",
                "cooldowns": "none",
            }
        rollout = deployment.rollout
        facts["rollout"] = rollout.strategy.value + (
            f", {rollout.step_percent} % at a time, {format_duration(rollout.wait_seconds)} apart"
            if rollout.step_percent
            else ""
        )
        endpoint = next(
            (
                r
                for r in stack["resources"]
                if r["type"] == "aws:sagemaker/endpoint:Endpoint"
                and r["inputs"].get("name") == naming.endpoint(model.name, deployment.name)
            ),
            None,
        )
        alarms = (
            ((endpoint or {}).get("inputs", {}).get("deploymentConfig") or {})
            .get("autoRollbackConfiguration", {})
            .get("alarms", [])
        )
        facts["rollback_alarms"] = [a["alarmName"] for a in alarms]
    else:
        assert isinstance(deployment, EksDeployment)
        unit = "pods"
        facts["where"] = f"EKS cluster {deployment.cluster}, namespace {deployment.namespace}"
        resources = deployment.resources
        facts["instance_type"] = f"pods of {resources.cpu_text} CPU, {resources.memory_text}" + (
            f", {resources.gpu} GPU" if resources.gpu else ""
        )
        floor, ceiling = scaling.min_replicas, scaling.max_replicas
        facts["scaling"] = {
            "floor": floor,
            "ceiling": ceiling,
            "target": f"{scaling.target_cpu_percent} % CPU (HPA)",
            "cooldowns": "HPA: 5 minutes of stabilisation before scaling down",
        }
        facts["rollout"] = "rolling update, one pod more at a time, never one fewer"
        facts["rollback_alarms"] = []
    windows = scaling.scheduled if scaling is not None else ()
    if isinstance(deployment, SageMakerDeployment) and deployment.serverless is not None:
        windows = deployment.serverless.scheduled
    facts["unit"] = unit
    facts["windows"] = [
        {
            "name": w.name,
            "start": format_timestamp(w.start),
            "end": format_timestamp(w.end),
            "floor": w.floor,
            "ceiling": w.ceiling,
        }
        for w in windows
    ]
    facts["window_specs"] = windows
    facts["variants"] = [
        {
            "name": v.name,
            "weight": v.weight,
            "serves": _serves(v),
            "floor": weight_share(facts["scaling"]["floor"], v, variants),
        }
        for v in variants
    ]
    api = deployment.api
    facts["api"] = (
        None
        if api is None
        else {
            "auth": _api_auth(api),
            "limits": f"{api.rate:g} requests/s, bursts of {api.burst}",
            "consumers": [
                f"{c.name}: {c.rate:g} requests/s, bursts of {c.burst}"
                + (f", {c.quota_per_day:,} a day" if c.quota_per_day else "")
                for c in api.consumers
            ],
            "waf": "none: an HTTP API takes no web ACL; the stage's throttle and the token check guard it"
            if api.http_api
            else f"rate limit {api.waf_rate_limit:,} per client IP per 5 minutes, AWS known-bad-inputs rules, AWS "
            "anonymous-IP rules (hosting providers only counted)"
            if model.environment == "prod"
            else "none (prod only)",
            "domain": api.domain.name if api.domain else None,
            "path": _api_path(model.name, deployment),
        }
    )
    shadow = deployment.shadow
    facts["shadow"] = (
        None
        if shadow is None
        else {
            "name": shadow.name,
            "percent": shadow.percent,
            "serves": _serves(shadow.variant),
            "floor": shadow_share(facts["scaling"]["floor"], shadow),
            "copied_by": "SageMaker (shadow variant)"
            if isinstance(deployment, SageMakerDeployment)
            else "the production pods (mirrored requests)",
            "scores": f"CloudWatch namespace modelform, model {model.name}, deployment {deployment.name}, "
            f"variant {shadow.name}",
        }
    )
    facts["data_capture_percent"] = deployment.data_capture_percent
    facts["max_rps_per_instance"] = deployment.max_rps_per_instance
    return facts


def batch_facts(model: ModelSpec) -> dict[str, Any]:
    """When, what and with which version the model scores in batch, where results go and who hears
    of a failure."""
    batch = model.batch
    assert batch is not None
    notify = list(model.monitoring.notify) if model.monitoring is not None else []
    return {
        "schedule": f"{batch.schedule.text} (UTC)",
        "input": str(batch.input),
        "serves": _serves(batch.variant),
        "resources": f"{batch.instance_count} x {batch.instance_type} (SageMaker batch transform)"
        if batch.target is Target.SAGEMAKER
        else f"a CronJob's pod on EKS cluster {batch.cluster} ({batch.namespace}), {batch.resources.cpu_text} CPU, "
        f"{batch.resources.memory_text}" + (f", {batch.resources.gpu} GPU" if batch.resources.gpu else ""),
        "output": f"<artifacts bucket>/{model.name}/batch/<scheduled time>/, KMS-encrypted, one prediction per row",
        "failures": f"SQS queue {naming.batch_failures(model.name)} and its alarm, notifying "
        + (", ".join(notify) if notify else "nobody (no monitoring.notify)"),
    }


def model_facts(
    model: ModelSpec, platform: PlatformSpec, stack: dict, findings: list[dict], repo_root: str
) -> dict[str, Any]:
    archive = model_archive(repo_root, model.model.code)
    data = model.data
    monitoring, retraining = model.monitoring, model.retraining
    return {
        "name": model.name,
        "stack": stack["stack"],
        "spec": model.source,
        "owner": model.owner,
        "team": model.team,
        "description": model.description,
        "tags": dict(model.tags),
        "data_classification": model.tags.get("data-classification", "not stated"),
        "data": None
        if data is None
        else {
            "training": str(data.training) if data.training else None,
            "validation": str(data.validation) if data.validation else None,
            "ground_truth": str(data.ground_truth) if data.ground_truth else None,
            "version": data.version,
        },
        "code": {
            "folder": model.model.code,
            "version": archive.version,
            "framework": f"{model.model.framework} {model.model.framework_version}",
            "entry_point": model.model.entry_point,
        },
        "training": None
        if model.training is None
        else {
            "backend": model.training.backend.value,
            "where": model.training.instance_type + (f" on {model.training.cluster}" if model.training.cluster else ""),
            "instances": model.training.instance_count,
            "spot": model.training.spot,
            "max_runtime": format_duration(model.training.max_runtime_seconds),
            "evaluation": _bound(model.training.evaluation) if model.training.evaluation else None,
        },
        "deployments": [deployment_facts(model, d, platform, stack) for d in model.deployments],
        "monitoring": None
        if monitoring is None
        else {
            "schedule": monitoring.schedule.text,
            "problem_type": monitoring.problem_type.value,
            "quality": [_bound(b) for b in monitoring.quality],
            "drift": None
            if monitoring.drift is None
            else f"{monitoring.drift.method.value} above {monitoring.drift.threshold:g} on "
            + ("every feature" if monitoring.drift.features is None else ", ".join(monitoring.drift.features)),
            "latency_p99_ms": monitoring.latency_p99_ms,
            "error_rate_percent": monitoring.error_rate_percent,
            "notify": list(monitoring.notify),
        },
        "endpoint_alarms": {
            "latency_p99_ms": model.endpoint_alarms.latency_p99_ms,
            "error_rate_percent": model.endpoint_alarms.error_rate_percent,
        },
        "retraining": None
        if retraining is None
        else {
            "triggers": [t.value for t in retraining.triggers],
            "schedule": retraining.schedule.text if retraining.schedule else None,
            "cooldown": format_duration(retraining.cooldown_seconds),
            "approval": retraining.approval.value,
        },
        "batch": None if model.batch is None else batch_facts(model),
        "approval": model.approval.value,
        "protect": model.protect,
        "decommission": model.decommission,
        "roles": role_access(stack["resources"]),
        "findings": findings,
        "resources": len(stack["resources"]),
    }


def stack_findings(plan: dict, stack: str) -> list[dict]:
    marker = f"urn:pulumi:{stack}::"
    return [f for f in plan["findings"] if f["urn"].startswith(marker)]
