"""The rules of spec language v1 that types alone cannot express (docs/spec.md, "Rules beyond types").

Three layers, run in order on a document that passed structural validation:

1. `shape_problems` (on the document): fields that belong to the other target or backend, fields
   a target requires, exactly one of `model_version` / `artifact`, step sizes a strategy needs.
   Run before the typed layer is built, because building drops fields of the other target.
2. `model_problems` / `platform_problems` (on one typed spec): unique names, min <= max, windows
   that end after they start, real SageMaker instance types for their use, triggers that have
   what they need, metrics that fit the problem type, derived AWS names that fit, code that exists.
3. `cross_file_problems` (a model against the platform, per environment): clusters that exist,
   GPU requests that a GPU node group can serve.

Each problem is `(field path, message)`; the loader turns paths into file positions.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import fields
from datetime import datetime
from functools import lru_cache
from typing import Iterable, Iterator, Optional

from .. import naming
from . import aws_catalog, parsers, schema
from .errors import FieldPath, did_you_mean
from .types import ApiAuth, Bound, EksDeployment, ModelSpec, PlatformSpec, ProblemType, SageMakerDeployment

Problem = tuple[FieldPath, str]

#: The rules below, in words: the spec language reference (docs/spec.md) prints them.
RULES = (
    'Unknown keys are errors, with a "did you mean ..." suggestion for near misses; so are duplicate '
    "keys in one mapping, tabs in indentation, custom YAML tags, and empty values where a list or a "
    "mapping belongs.",
    "Names are unique where they name things: deployments, variants, scheduled windows, quality "
    "metrics, clusters, node groups; model names are unique across the spec set, and there is one "
    "Platform spec.",
    "Each variant has exactly one of `model_version` and `artifact`; weights are >= 0 and not all zero.",
    "A `shadow` has exactly one of `model_version` and `artifact` and a name unlike the variants'; it needs "
    "`data_capture_percent` above 0 (its answers are only ever read from the capture) and, on SageMaker, a "
    "deployment with exactly one variant (AWS copies the requests of that one).",
    "`async` and `serverless` deployments are SageMaker's and exclusive; both serve one variant; serverless ones "
    "take no instance type, count, autoscaling, shadow or data capture (AWS's exclusions), and their provisioned "
    "concurrency (everyday and per window) is at most `max_concurrency`; only asynchronous deployments may scale "
    "to zero (`min_instances: 0`).",
    "`api` fronts real-time and serverless SageMaker deployments and EKS deployments (not asynchronous ones); "
    "`auth: cognito` needs `cognito_user_pools` and only it takes them; `auth: jwt` (EKS only, no consumers) needs "
    "`jwt` and only it takes it; consumer names are unique.",
    "`batch` has exactly one of `model_version` and `artifact`; on SageMaker a batch transform instance type, on "
    "EKS a cluster of the Platform spec and a schedule a Kubernetes cron can express (cron fields without `L`, `W` "
    "or `#` and with any year; rates that divide an hour or a day); "
    "without `monitoring.notify` its failure alarms reach nobody (a warning).",
    "`min <= max` everywhere (instances, replicas, node groups, scheduled windows), and a window's "
    "`start` is before its `end`.",
    "Fields of the other target or backend are errors (`rollout` on an EKS deployment, `cluster` with "
    "`backend: sagemaker`, `max_wait` with `backend: eks` or without `spot`); `canary` and `linear` "
    "rollouts need `step_percent`.",
    "SageMaker instance types are real ones for their use (training or hosting), as botocore lists "
    "them, and CPU or NVIDIA GPU ones (AWS's PyTorch images do not run on Inferentia or Trainium); EKS "
    "node groups take EC2 types, and `gpu: true` groups only GPU types. `model.framework_version` is "
    "a PyTorch 2 version AWS publishes training and inference images for, in the platform's region.",
    "`target: eks` and `backend: eks` name a cluster of the Platform spec; GPU requests need a "
    "`gpu: true` node group there; EKS training needs a node group offering `instance_type` with the "
    "capacity `spot` asks for (`capacity: spot` for `spot: true`, on-demand otherwise).",
    "Trigger `drift` needs `monitoring.drift`; `quality` needs `monitoring.quality` and "
    "`data.ground_truth`; `schedule` needs `retraining.schedule`; `new_data` needs `data.training`.",
    "Quality and evaluation metrics fit `monitoring.problem_type` (auc is not a regression metric); "
    "`training.hyperparameters.problem_type`, when given, equals `monitoring.problem_type`.",
    "A Platform spec's `account.assume_role` and `deploy_role_arn` are roles of `account.id` (per environment, "
    "after overrides).",
    "Training is data-parallel, one rank per GPU of every instance (`instance_count` x the instance's "
    "GPUs, from AWS's instance data): a multi-instance job needs a GPU type whose GPUs are known, "
    "`hyperparameters.batch_size` must split evenly over the ranks, and an EKS node group must hold one "
    "node per training pod.",
    "Durations, `rate(...)`/`cron(...)` expressions, S3 URIs, e-mail addresses, timestamps, CIDR "
    "blocks and Kubernetes quantities are parsed, not pattern-matched.",
    "Derived AWS names fit AWS's limits (e.g. `<model>-<deployment>-<variant>` leaves room for a "
    "content hash within SageMaker's 63 characters), and `model.code` is a folder holding the entry points.",
    "Values stay within AWS's limits where they are written: capacities fit AWS's 32-bit counts, node "
    "groups at most 1,000 nodes, SageMaker training at most 28 days, tag keys and values only the characters "
    "AWS accepts, a retraining cooldown of at least an hour; `model.code` and the entry points stay inside the "
    "repository and the code folder after resolving symlinks.",
    "A scheduled window that is already over is a warning, not an error: it changes no capacity, and a spec "
    "kept from the last peak must not block a deploy.",
    "Also warnings: a variant with weight 0 that still holds instances or pods, and monitoring declared without "
    "any deployment capturing data; `validate --strict` makes every warning an error.",
    "Environment overrides are validated after merging, and their errors point at the override's line; "
    "an override for an environment nobody declared is an error.",
)

# Fields that only one value of a discriminator may use.
_SAGEMAKER_ONLY = ("instance_type", "instance_count", "rollout", "async", "serverless")
_BATCH_SAGEMAKER_ONLY = ("instance_type", "instance_count", "max_payload_mb")
_BATCH_EKS_ONLY = ("cluster", "namespace", "resources")
#: What AWS's serverless inference does not take (its feature exclusions), or sizes otherwise.
_NOT_SERVERLESS = ("instance_type", "instance_count", "autoscaling", "shadow")
_EKS_ONLY = ("cluster", "namespace", "resources")
_SAGEMAKER_SCALING = (
    "min_instances",
    "max_instances",
    "target_invocations_per_instance",
    "scale_in_cooldown",
    "scale_out_cooldown",
)
_EKS_SCALING = ("min_replicas", "max_replicas", "target_cpu_percent")

#: Quality metrics per problem type, and whether a larger value is better.
#: Error metrics (lower is better) are bounded with `max`, scores with `min`.
METRICS: dict[str, dict[str, bool]] = {
    "binary_classification": {
        "auc": True,
        "pr_auc": True,
        "accuracy": True,
        "precision": True,
        "recall": True,
        "f1": True,
        "log_loss": False,
    },
    "multiclass_classification": {
        "accuracy": True,
        "macro_f1": True,
        "macro_precision": True,
        "macro_recall": True,
        "weighted_f1": True,
        "log_loss": False,
    },
    "regression": {"rmse": False, "mae": False, "mse": False, "mape": False, "r2": True},
}
#: Scores that live in [0, 1].
_UNIT_INTERVAL = {
    "auc",
    "pr_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "weighted_f1",
}

#: SageMaker limits (botocore's service model and the SageMaker quotas page).
MAX_SAGEMAKER_VARIANTS = 10
MAX_ROLLOUT_WAIT_SECONDS = 3600
#: Kubernetes minor versions: from 1.30, where the serving pods' native preStop `sleep` action is on
#: by default, to the newest whose schemas kubernetes-validate bundles (EKS offers a subset).
KUBERNETES_MINOR_VERSIONS = range(30, 38)


# --- 1. shape -----------------------------------------------------------------------------------


def shape_problems(document: dict) -> Iterator[Problem]:
    """Discriminated fields of a structurally valid Model document."""
    for index, deployment in enumerate(document.get("deployments", ())):
        at: FieldPath = ("deployments", index)
        target = deployment["target"]
        other = _EKS_ONLY if target == "sagemaker" else _SAGEMAKER_ONLY
        yield from _not_for(deployment, at, other, f"target {target}")
        serverless = target == "sagemaker" and "serverless" in deployment
        if serverless:
            if "async" in deployment:
                yield at + ("serverless",), "a deployment is asynchronous or serverless, not both"
            yield from _not_for(
                deployment, at, _NOT_SERVERLESS, "serverless deployments (SageMaker runs and scales them per request)"
            )
        required = "instance_type" if target == "sagemaker" else "cluster"
        if required not in deployment and not serverless:
            yield at + (required,), f"required for target {target}"
        scaling = deployment.get("autoscaling")
        if scaling is not None:
            own_scaling, other_scaling = (
                (_SAGEMAKER_SCALING, _EKS_SCALING) if target == "sagemaker" else (_EKS_SCALING, _SAGEMAKER_SCALING)
            )
            yield from _not_for(scaling, at + ("autoscaling",), other_scaling, f"target {target}")
            for bound in own_scaling[:2]:
                if bound not in scaling:
                    yield at + ("autoscaling", bound), f"required in autoscaling for target {target}"
            for w_index, window in enumerate(scaling.get("scheduled") or ()):
                where = at + ("autoscaling", "scheduled", w_index)
                yield from _not_for(window, where, other_scaling[:2], f"target {target}")
                for bound in own_scaling[:2]:
                    if bound not in window:
                        yield where + (bound,), f"required in a scheduled window for target {target}"
        rollout = deployment.get("rollout") or {}
        strategy = rollout.get("strategy", "all_at_once")
        if strategy == "all_at_once" and "step_percent" in rollout:
            yield at + ("rollout", "step_percent"), "applies only to strategies canary and linear"
        elif strategy != "all_at_once" and "step_percent" not in rollout:
            yield at + ("rollout", "step_percent"), f"required for strategy {strategy}"
        for v_index, variant in enumerate(deployment.get("variants", ())):
            yield from _one_model(variant, at + ("variants", v_index), "a variant")
        if "shadow" in deployment:
            yield from _one_model(deployment["shadow"], at + ("shadow",), "a shadow")
    batch = document.get("batch")
    if batch is not None:
        target = batch.get("target", "sagemaker")
        yield from _not_for(
            batch, ("batch",), _BATCH_EKS_ONLY if target == "sagemaker" else _BATCH_SAGEMAKER_ONLY, f"target {target}"
        )
        required = "instance_type" if target == "sagemaker" else "cluster"
        if required not in batch:
            yield ("batch", required), f"required for target {target}"
        yield from _one_model(batch, ("batch",), "batch scoring")
    training = document.get("training")
    if training is not None:
        backend = training.get("backend", "sagemaker")
        if backend == "eks":
            if "cluster" not in training:
                yield ("training", "cluster"), "required for backend eks"
            yield from _not_for(
                training,
                ("training",),
                ("max_wait",),
                "backend eks (a spot node group's pods are not time-boxed by SageMaker)",
            )
        else:
            yield from _not_for(training, ("training",), ("cluster",), f"backend {backend}")
            if "max_wait" in training and not training.get("spot", False):
                yield ("training", "max_wait"), "applies only with spot: true"


def _one_model(mapping: dict, at: FieldPath, what: str) -> Iterator[Problem]:
    """What serves names exactly one model: a registry version or an artifact."""
    has = [key for key in ("model_version", "artifact") if key in mapping]
    if len(has) != 1:
        yield (
            at + ((has[1],) if len(has) == 2 else ()),
            f"{what} has exactly one of model_version and artifact" + (" (found both)" if has else " (found neither)"),
        )


def _not_for(mapping: dict, at: FieldPath, keys: Iterable[str], what: str) -> Iterator[Problem]:
    for key in keys:
        if key in mapping:
            yield at + (key,), f"does not apply to {what}"


# --- 2. one spec --------------------------------------------------------------------------------


def _duplicates(names: Iterable[str], at: FieldPath, what: str) -> Iterator[Problem]:
    seen: Counter[str] = Counter()
    for index, name in enumerate(names):
        seen[name] += 1
        if seen[name] == 2:
            yield at + (index, "name"), f"{what} name '{name}' is used more than once"


def _min_max(
    low: Optional[float], high: Optional[float], at: FieldPath, low_key: str, high_key: str
) -> Iterator[Problem]:
    if low is not None and high is not None and low > high:
        yield at + (low_key,), f"{low_key} ({_num(low)}) is greater than {high_key} ({_num(high)})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _hyperparameter_problem_type(given: object, monitored: Optional[str]) -> Iterator[Problem]:
    """train.py's `problem_type` decides the loss and the evaluation metrics; it must be a problem
    type and, when the model is monitored, the one its monitoring judges it by."""
    if given is None:
        return
    at = ("training", "hyperparameters", "problem_type")
    known = [p.value for p in ProblemType]
    if given not in known:
        yield at, f"'{given}' is not a problem type (use one of {', '.join(known)}){did_you_mean(str(given), known)}"
    elif monitored is not None and given != monitored:
        yield (
            at,
            (
                f"'{given}' disagrees with monitoring.problem_type '{monitored}': the model is trained for one "
                "and judged as the other"
            ),
        )


def _bound_problems(bound: Bound, at: FieldPath, problem_type: Optional[str]) -> Iterator[Problem]:
    if bound.min is None and bound.max is None:
        yield at, f"the bound on '{bound.metric}' needs min and/or max"
        return
    yield from _min_max(bound.min, bound.max, at, "min", "max")
    if problem_type is None:
        return
    metrics = METRICS[problem_type]
    if bound.metric not in metrics:
        other = next((p for p, m in METRICS.items() if bound.metric in m), None)
        why = f"; it is a {other.replace('_', ' ')} metric" if other else did_you_mean(bound.metric, metrics)
        yield (
            at + ("metric",),
            f"'{bound.metric}' is not a {problem_type.replace('_', ' ')} metric{why} (use one of {', '.join(metrics)})",
        )
        return
    higher_is_better = metrics[bound.metric]
    if higher_is_better and bound.min is None:
        yield at + ("max",), f"'{bound.metric}' is a score (higher is better): bound it with min"
    if not higher_is_better and bound.max is None:
        yield at + ("min",), f"'{bound.metric}' is an error metric (lower is better): bound it with max"
    if bound.metric in _UNIT_INTERVAL:
        for key, value in (("min", bound.min), ("max", bound.max)):
            if value is not None and not 0 <= value <= 1:
                yield at + (key,), f"'{bound.metric}' lies between 0 and 1 (got {_num(value)})"


#: The instance types SageMaker offers per use, as botocore's models list them.
_SAGEMAKER_INSTANCE_TYPES = {
    "training": aws_catalog.sagemaker_training_instance_types,
    "hosting": aws_catalog.sagemaker_hosting_instance_types,
    "batch transform": aws_catalog.sagemaker_transform_instance_types,
}


def _instance_type_problem(instance_type: str, use: str) -> Optional[str]:
    wanted = _SAGEMAKER_INSTANCE_TYPES[use]()
    if instance_type in wanted:
        if instance_type.split(".")[1].startswith(("inf", "trn")):
            return (
                f"'{instance_type}' is an AWS Inferentia/Trainium instance, which runs Neuron builds of PyTorch; "
                "the AWS PyTorch images modelform runs are for CPU and NVIDIA GPU instances"
            )
        return None
    for other_use, types in _SAGEMAKER_INSTANCE_TYPES.items():
        if other_use != use and instance_type in types():
            return f"'{instance_type}' is a SageMaker {other_use} instance type; SageMaker {use} does not offer it"
    return f"'{instance_type}' is not a SageMaker {use} instance type{did_you_mean(instance_type, wanted)}"


def _framework_problems(spec: ModelSpec) -> Iterator[Problem]:
    """Every model trains or processes with AWS's PyTorch training image and serves or registers
    with its inference image: both must exist for the version."""
    version = spec.model.framework_version
    for scope in aws_catalog.IMAGE_SCOPES:
        if not aws_catalog.pytorch_image_regions(scope, version):
            yield (
                ("model", "framework_version"),
                f"no AWS PyTorch {scope} image for version {version}: modelform runs PyTorch 2 on AWS's images, "
                f"whose {scope} images exist for {', '.join(aws_catalog.pytorch_versions(scope))}",
            )
            return


#: What `model_problems` and `model_warnings` never read: where the spec is deployed and whether
#: it is protected there. (A test runs them on specs that refuse to give these fields.)
NOT_READ_BY_MODEL_RULES = frozenset({"environment", "protect", "protect_setting"})
_READ_BY_MODEL_RULES = tuple(field.name for field in fields(ModelSpec) if field.name not in NOT_READ_BY_MODEL_RULES)


def same_for_model_rules(spec: ModelSpec, other: ModelSpec) -> bool:
    """Whether the model rules give `spec` and `other` the same answers: they agree on every
    field the rules read."""
    return all(getattr(spec, name) == getattr(other, name) for name in _READ_BY_MODEL_RULES)


def model_problems(spec: ModelSpec, root: Optional[str]) -> Iterator[Problem]:
    yield from _duplicates((d.name for d in spec.deployments), ("deployments",), "deployment")
    yield from _framework_problems(spec)
    problem_type = spec.monitoring.problem_type if spec.monitoring else None
    for index, deployment in enumerate(spec.deployments):
        at: FieldPath = ("deployments", index)
        yield from _duplicates((v.name for v in deployment.variants), at + ("variants",), "variant")
        if deployment.variants and all(v.weight == 0 for v in deployment.variants):
            yield at + ("variants",), "at least one variant needs a weight above 0, or no traffic is served"
        yield from _shadow_problems(deployment, at)
        yield from _api_problems(deployment, at)
        named = [(("variants", v_index, "name"), variant.name) for v_index, variant in enumerate(deployment.variants)]
        if deployment.shadow is not None:
            named.append((("shadow", "name"), deployment.shadow.name))
        for path, variant_name in named:
            derived = naming.variant_resource(spec.name, deployment.name, variant_name)
            if len(derived) > naming.MAX_VARIANT_RESOURCE:
                yield (
                    at + path,
                    (
                        f"the derived resource name '{derived}' has {len(derived)} characters; at most "
                        f"{naming.MAX_VARIANT_RESOURCE} fit (SageMaker allows {naming.SAGEMAKER_NAME_LIMIT} "
                        "including a content hash): shorten the model, deployment or variant name"
                    ),
                )
        if isinstance(deployment, SageMakerDeployment):
            yield from _sagemaker_deployment_problems(deployment, at)
        if isinstance(deployment, EksDeployment) and deployment.autoscaling:
            scaling = deployment.autoscaling
            yield from _min_max(
                scaling.min_replicas, scaling.max_replicas, at + ("autoscaling",), "min_replicas", "max_replicas"
            )
            yield from _window_problems(scaling.scheduled, at, "replicas")

    if spec.training is not None:
        training = spec.training
        if training.backend == "sagemaker":
            problem = _instance_type_problem(training.instance_type, "training")
            if problem:
                yield ("training", "instance_type"), problem
            if training.max_runtime_seconds > parsers.parse_duration(schema.MAX_TRAINING_RUNTIME):
                yield (
                    ("training", "max_runtime"),
                    (
                        f"{training.max_runtime_seconds} s is more than SageMaker allows a training job "
                        f"({schema.MAX_TRAINING_RUNTIME})"
                    ),
                )
        if training.max_wait_seconds is not None and training.max_wait_seconds < training.max_runtime_seconds:
            yield ("training", "max_wait"), "must be at least max_runtime (spot waiting time includes the run)"
        if training.evaluation is not None:
            yield from _bound_problems(training.evaluation, ("training", "evaluation"), problem_type)
        yield from _hyperparameter_problem_type(training.hyperparameters.get("problem_type"), problem_type)
        yield from _data_parallel_problems(training)

    if spec.monitoring is not None:
        monitoring = spec.monitoring
        yield from _duplicate_metrics(monitoring.quality)
        for index, bound in enumerate(monitoring.quality):
            yield from _bound_problems(bound, ("monitoring", "quality", index), problem_type)
        if monitoring.quality and (spec.data is None or spec.data.ground_truth is None):
            yield (
                ("monitoring", "quality"),
                "quality monitoring compares predictions with labels: set data.ground_truth",
            )
        drift = monitoring.drift
        if drift is not None and drift.method in ("ks", "jensen_shannon") and drift.threshold > 1:
            yield (
                ("monitoring", "drift", "threshold"),
                (f"the {drift.method} score lies between 0 and 1, so threshold {_num(drift.threshold)} never alarms"),
            )

    if spec.batch is not None:
        if spec.batch.instance_type is not None:
            problem = _instance_type_problem(spec.batch.instance_type, "batch transform")
            if problem:
                yield ("batch", "instance_type"), problem
        if spec.batch.target == "eks":
            try:
                parsers.kubernetes_cron(spec.batch.schedule)
            except ValueError as error:
                yield ("batch", "schedule"), str(error)
    if spec.retraining is not None:
        yield from _retraining_problems(spec)
    yield from _code_problems(spec, root)


def _shadow_problems(deployment, at: FieldPath) -> Iterator[Problem]:
    shadow = deployment.shadow
    if shadow is None:
        return
    if shadow.name in {v.name for v in deployment.variants}:
        yield at + ("shadow", "name"), f"'{shadow.name}' already names a variant of this deployment"
    if deployment.data_capture_percent == 0:
        yield (
            at + ("shadow",),
            "a shadow's answers are only read from the data capture: set data_capture_percent above 0",
        )
    if isinstance(deployment, SageMakerDeployment) and len(deployment.variants) != 1:
        yield (
            at + ("shadow",),
            f"SageMaker copies requests from exactly one production variant to a shadow (this deployment has "
            f"{len(deployment.variants)}): move the other variants to a deployment of their own",
        )


def _serverless_problems(deployment: SageMakerDeployment, at: FieldPath) -> Iterator[Problem]:
    serverless = deployment.serverless
    if serverless is None:
        return
    where = at + ("serverless",)
    if len(deployment.variants) != 1:
        yield at + ("variants",), f"a serverless endpoint serves one variant (got {len(deployment.variants)})"
    if deployment.data_capture_percent > 0:
        yield at + ("data_capture_percent",), "SageMaker does not capture data of serverless endpoints: set it to 0"
    provisioned = serverless.provisioned_concurrency
    if provisioned is not None and provisioned > serverless.max_concurrency:
        yield (
            where + ("provisioned_concurrency",),
            f"provisioned_concurrency ({provisioned}) is greater than max_concurrency ({serverless.max_concurrency})",
        )
    if serverless.scheduled and provisioned is None:
        yield (
            where + ("provisioned_concurrency",),
            "required with scheduled windows: each window's end restores it",
        )
    for index, window in enumerate(serverless.scheduled):
        if window.floor > serverless.max_concurrency:
            yield (
                where + ("scheduled", index, "provisioned_concurrency"),
                f"provisioned_concurrency ({window.floor}) is greater than max_concurrency "
                f"({serverless.max_concurrency})",
            )
    yield from _window_problems(serverless.scheduled, at, "provisioned_concurrency", ("serverless", "scheduled"))


def _api_problems(deployment, at: FieldPath) -> Iterator[Problem]:
    api = deployment.api
    if api is None:
        return
    where = at + ("api",)
    if isinstance(deployment, SageMakerDeployment) and deployment.asynchronous is not None:
        yield where, "asynchronous endpoints are invoked with InvokeEndpointAsync and S3 inputs, not through this API"
    if api.auth is ApiAuth.COGNITO and not api.cognito_user_pools:
        yield where + ("cognito_user_pools",), "required for auth cognito: the user pools whose tokens are accepted"
    if api.auth is not ApiAuth.COGNITO and api.cognito_user_pools:
        yield where + ("cognito_user_pools",), f"applies only to auth cognito (auth is {api.auth})"
    if api.auth is ApiAuth.JWT and api.jwt is None:
        yield where + ("jwt",), "required for auth jwt: the issuer and audiences whose tokens are accepted"
    if api.auth is not ApiAuth.JWT and api.jwt is not None:
        yield where + ("jwt",), f"applies only to auth jwt (auth is {api.auth})"
    if api.auth is ApiAuth.JWT and isinstance(deployment, SageMakerDeployment):
        yield (
            where + ("auth",),
            "jwt needs an HTTP API, and HTTP APIs cannot call SageMaker without a Lambda in the path: use auth "
            "cognito (a user pool can federate your OpenID Connect issuer) or iam",
        )
    if api.auth is ApiAuth.JWT and api.consumers:
        yield (
            where + ("consumers",),
            "auth jwt makes an HTTP API, which has no API keys or usage plans: throttle the API with `rate` and "
            "`burst`, or use auth cognito or iam for per-consumer keys",
        )
    yield from _duplicates((c.name for c in api.consumers), where + ("consumers",), "consumer")


def _async_problems(deployment: SageMakerDeployment, at: FieldPath) -> Iterator[Problem]:
    scaling = deployment.autoscaling
    if deployment.asynchronous is None:
        if scaling is not None and scaling.min_instances == 0:
            yield (
                at + ("autoscaling", "min_instances"),
                "only asynchronous deployments scale to zero (a real-time endpoint must answer the next request)",
            )
        return
    if len(deployment.variants) != 1:
        yield at + ("variants",), f"an asynchronous endpoint serves one variant (got {len(deployment.variants)})"
    if deployment.shadow is not None:
        yield at + ("shadow",), "shadow tests copy real-time requests; an asynchronous endpoint has none to copy"


def _sagemaker_deployment_problems(deployment: SageMakerDeployment, at: FieldPath) -> Iterator[Problem]:
    if deployment.instance_type is not None:
        problem = _instance_type_problem(deployment.instance_type, "hosting")
        if problem:
            yield at + ("instance_type",), problem
    yield from _serverless_problems(deployment, at)
    yield from _async_problems(deployment, at)
    if len(deployment.variants) > MAX_SAGEMAKER_VARIANTS:
        yield (
            at + ("variants",),
            f"SageMaker endpoints hold at most {MAX_SAGEMAKER_VARIANTS} variants (got {len(deployment.variants)})",
        )
    if deployment.rollout.wait_seconds > MAX_ROLLOUT_WAIT_SECONDS:
        yield at + ("rollout", "wait"), "SageMaker waits at most 1h between rollout steps"
    scaling = deployment.autoscaling
    if scaling is None:
        return
    yield from _min_max(
        scaling.min_instances, scaling.max_instances, at + ("autoscaling",), "min_instances", "max_instances"
    )
    yield from _window_problems(scaling.scheduled, at, "instances")


def _window_problems(
    scheduled: tuple, at: FieldPath, unit: str, section: FieldPath = ("autoscaling", "scheduled")
) -> Iterator[Problem]:
    """Scheduled windows: unique names, floor <= ceiling, start before end, no overlaps."""
    windows = at + section
    yield from _duplicates((s.name for s in scheduled), windows, "scheduled window")
    for index, window in enumerate(scheduled):
        yield from _min_max(window.floor, window.ceiling, windows + (index,), f"min_{unit}", f"max_{unit}")
        if window.start >= window.end:
            yield windows + (index, "end"), "must be after start"
    ordered = sorted(enumerate(scheduled), key=lambda item: item[1].start)
    for (_, earlier), (index, later) in zip(ordered, ordered[1:]):
        if later.start < earlier.end:
            yield (
                windows + (index, "start"),
                (
                    f"window '{later.name}' overlaps window '{earlier.name}'; the restore at the end of one "
                    "would cut the other short"
                ),
            )


def _duplicate_metrics(bounds: tuple[Bound, ...]) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, bound in enumerate(bounds):
        if bound.metric in seen:
            yield (
                ("monitoring", "quality", index, "metric"),
                f"metric '{bound.metric}' is bounded twice; use one entry with min and max",
            )
        seen.add(bound.metric)


def _data_parallel_problems(training) -> Iterator[Problem]:
    """Data-parallel training runs one rank per GPU of every instance: the GPUs must be known, and
    every rank must get an equal part of each batch."""
    gpus = aws_catalog.gpus_per_instance(training.instance_type)
    if gpus is None and training.instance_count > 1:
        yield (
            ("training", "instance_type"),
            f"how many GPUs '{training.instance_type}' has is not known here, and training on "
            f"{training.instance_count} instances runs one process per GPU: choose a listed GPU type",
        )
        return
    batch = training.hyperparameters.get("batch_size")
    world = training.world_size
    if isinstance(batch, int) and not isinstance(batch, bool) and world > 1 and batch % world:
        yield (
            ("training", "hyperparameters", "batch_size"),
            f"batch_size {batch} does not split over the {world} ranks ({training.instance_count} instance(s) x "
            f"{training.processes_per_instance} GPU(s)): each rank takes an equal part of every batch",
        )


def _retraining_problems(spec: ModelSpec) -> Iterator[Problem]:
    if spec.retraining is not None and spec.retraining.cooldown_seconds < parsers.parse_duration(
        schema.MIN_RETRAINING_COOLDOWN
    ):
        yield (
            ("retraining", "cooldown"),
            (
                f"at least {schema.MIN_RETRAINING_COOLDOWN}: a retraining takes longer, and the guard lets one start "
                "per cooldown"
            ),
        )
    retraining = spec.retraining
    assert retraining is not None
    if spec.training is None:
        yield ("retraining",), "retraining needs a training section to know how to train"
    monitoring = spec.monitoring
    for index, trigger in enumerate(retraining.triggers):
        at: FieldPath = ("retraining", "triggers", index)
        if trigger in retraining.triggers[:index]:
            yield at, f"trigger '{trigger}' is listed twice"
        elif trigger == "drift" and (monitoring is None or monitoring.drift is None):
            yield at, "trigger 'drift' needs monitoring.drift"
        elif trigger == "quality" and (monitoring is None or not monitoring.quality):
            yield at, "trigger 'quality' needs monitoring.quality"
        elif trigger == "quality" and (spec.data is None or spec.data.ground_truth is None):
            yield at, "trigger 'quality' needs data.ground_truth"
        elif trigger == "schedule" and retraining.schedule is None:
            yield at, "trigger 'schedule' needs retraining.schedule"
        elif trigger == "new_data" and (spec.data is None or spec.data.training is None):
            yield at, "trigger 'new_data' needs data.training"


def _code_problems(spec: ModelSpec, root: Optional[str]) -> Iterator[Problem]:
    if root is None:
        return
    needed = spec.training is not None
    yield from code_layout_problems(
        root, spec.model.code, spec.model.entry_point, spec.model.inference_entry_point, needed
    )


@lru_cache(maxsize=4096)
def code_layout_problems(root: str, code: str, entry_point: str, inference: str, needed: bool) -> tuple[Problem, ...]:
    """What is wrong with a code folder and its entry points, asked of the filesystem once per
    load (`forget_filesystem` starts each load afresh), not once per model and environment."""
    problems: list[Problem] = []
    root_real = os.path.realpath(root)
    folder = os.path.realpath(os.path.join(root_real, code))
    if os.path.isabs(code) or os.path.commonpath([root_real, folder]) != root_real:
        problems.append((("model", "code"), f"'{code}' must be a folder inside the repository ({root})"))
    elif not os.path.isdir(folder):
        problems.append((("model", "code"), f"folder '{code}' does not exist under the repository root {root}"))
    else:
        for key, entry, required in (
            ("entry_point", entry_point, needed),
            ("inference_entry_point", inference, False),
        ):
            path = os.path.realpath(os.path.join(folder, entry))
            if os.path.isabs(entry) or os.path.commonpath([folder, path]) != folder:
                problems.append(
                    (("model", key), f"'{entry}' must be a file inside {code}/ (the code is shipped from there)")
                )
            elif required and not os.path.isfile(path):
                problems.append((("model", key), f"'{entry}' does not exist in {code}/ (training runs it)"))
    return tuple(problems)


def forget_filesystem() -> None:
    """Called as each load starts: files may have appeared or gone since the last one."""
    code_layout_problems.cache_clear()


def platform_problems(spec: PlatformSpec) -> Iterator[Problem]:
    if spec.account is not None and spec.account.assume_role is not None:
        role_account = spec.account.assume_role.split(":")[4]
        if role_account != spec.account.id:
            yield (
                ("account", "assume_role"),
                f"the role is in account {role_account}, not in account {spec.account.id} where the stacks deploy",
            )
    if spec.account is not None and spec.deploy_role_arn is not None:
        role_account = spec.deploy_role_arn.split(":")[4]
        if role_account != spec.account.id:
            yield (
                ("deploy_role_arn",),
                f"the deploy role is in account {role_account}, but the clusters are in account {spec.account.id}: "
                "an EKS access entry takes a role of the cluster's account",
            )
    yield from _duplicates((c.name for c in spec.clusters), ("clusters",), "cluster")
    for index, cluster in enumerate(spec.clusters):
        at: FieldPath = ("clusters", index)
        minor = int(cluster.kubernetes_version.split(".")[1])
        if minor not in KUBERNETES_MINOR_VERSIONS:
            yield (
                at + ("kubernetes_version",),
                (
                    f"Kubernetes {cluster.kubernetes_version} is outside the supported "
                    f"1.{KUBERNETES_MINOR_VERSIONS.start}"
                    f"-1.{KUBERNETES_MINOR_VERSIONS.stop - 1}"
                ),
            )
        yield from _duplicates((g.name for g in cluster.node_groups), at + ("node_groups",), "node group")
        for g_index, group in enumerate(cluster.node_groups):
            group_at = at + ("node_groups", g_index)
            yield from _min_max(group.min, group.max, group_at, "min", "max")
            if group.gpu:
                for t_index, instance_type in enumerate(group.instance_types):
                    if not aws_catalog.is_gpu_instance_type(instance_type):
                        yield (
                            group_at + ("instance_types", t_index),
                            f"'{instance_type}' has no GPU, but the node group says gpu: true",
                        )


# --- 3. model against platform ------------------------------------------------------------------


def model_warnings(spec: ModelSpec, now: datetime) -> Iterator[Problem]:
    """Valid, but probably not meant: a scheduled window that is already over (it changes
    nothing), a variant without traffic that still holds instances (paid for, never used),
    monitoring without any data capture (no drift or quality metric is ever published, so its
    alarms never fire). Overlapping windows are errors, not warnings."""
    for index, deployment in enumerate(spec.deployments):
        if deployment.autoscaling is not None:
            windows = deployment.autoscaling.scheduled
            for w_index, window in enumerate(windows):
                at = ("deployments", index, "autoscaling", "scheduled", w_index)
                if window.end <= now:
                    yield (
                        at + ("end",),
                        (
                            f"window '{window.name}' ended at {parsers.format_timestamp(window.end)}; it changes no "
                            "capacity any more: remove it, or move it to the next peak"
                        ),
                    )
        for v_index, variant in enumerate(deployment.variants):
            if variant.weight == 0:
                held = _idle_capacity(deployment)
                if held:
                    yield (
                        ("deployments", index, "variants", v_index, "weight"),
                        f"variant '{variant.name}' gets no traffic (weight 0) but holds {held}; remove it, or give "
                        "it traffic (to test a candidate without serving its answers, declare it as the deployment's "
                        "`shadow`)",
                    )
    if spec.monitoring is not None and not any(d.data_capture_percent > 0 for d in spec.deployments):
        yield (
            ("monitoring",),
            "monitoring is declared, but no deployment captures data (data_capture_percent): no drift or quality "
            "metric will be published, so these alarms and retraining triggers never fire",
        )
    if spec.batch is not None and (spec.monitoring is None or not spec.monitoring.notify):
        yield (
            ("batch",),
            "batch scoring's failure alarms notify the model's alert topic, which only monitoring.notify "
            "subscribes people to: nobody hears of a failed run",
        )


def _idle_capacity(deployment) -> str:
    """What a variant of `deployment` holds at least, in words ("" when nothing)."""
    if isinstance(deployment, SageMakerDeployment):
        count = deployment.autoscaling.min_instances if deployment.autoscaling else deployment.instance_count
        return f"{count} instance(s)" if count else ""
    return f"{deployment.autoscaling.min_replicas} pod(s)" if deployment.autoscaling.min_replicas else ""


def cross_file_problems(spec: ModelSpec, platform: Optional[PlatformSpec]) -> Iterator[Problem]:
    uses: list[tuple[FieldPath, str]] = [
        (("deployments", i, "cluster"), d.cluster)
        for i, d in enumerate(spec.deployments)
        if isinstance(d, EksDeployment)
    ]
    if spec.training is not None and spec.training.backend == "eks" and spec.training.cluster:
        uses.append((("training", "cluster"), spec.training.cluster))
    if spec.batch is not None and spec.batch.target == "eks" and spec.batch.cluster:
        uses.append((("batch", "cluster"), spec.batch.cluster))
    for at, name in uses:
        if platform is None:
            yield at, f"cluster '{name}' needs a Platform spec (kind: Platform) among the specs validated together"
        elif platform.cluster(name) is None:
            names = [c.name for c in platform.clusters]
            yield (
                at,
                f"cluster '{name}' is not a cluster of platform '{platform.name}'{did_you_mean(name, names)}"
                + (f" (clusters: {', '.join(names)})" if names else " (it declares no clusters)"),
            )
    if platform is None:
        return
    for scope in aws_catalog.IMAGE_SCOPES:
        regions = aws_catalog.pytorch_image_regions(scope, spec.model.framework_version)
        if regions and platform.region not in regions:
            yield (
                ("model", "framework_version"),
                f"AWS publishes PyTorch {spec.model.framework_version} {scope} images in {len(regions)} regions, "
                f"not in {platform.region}, the region of platform '{platform.name}'",
            )
            break
    pods: list[tuple[FieldPath, Optional[str], int]] = [
        (("deployments", index, "resources", "gpu"), d.cluster, d.resources.gpu)
        for index, d in enumerate(spec.deployments)
        if isinstance(d, EksDeployment)
    ]
    if spec.batch is not None and spec.batch.target == "eks" and spec.batch.resources is not None:
        pods.append((("batch", "resources", "gpu"), spec.batch.cluster, spec.batch.resources.gpu))
    for at, cluster_name, gpus in pods:
        cluster = platform.cluster(cluster_name or "")
        if cluster is not None and gpus > 0 and not cluster.has_gpu_nodes:
            yield at, f"requests GPUs, but cluster '{cluster.name}' has no node group with gpu: true"
    training = spec.training
    if training is not None and training.backend == "eks":
        cluster = platform.cluster(training.cluster or "")
        if cluster is not None:
            offered = sorted({t for g in cluster.node_groups for t in g.instance_types})
            if training.instance_type not in offered:
                yield (
                    ("training", "instance_type"),
                    (
                        f"'{training.instance_type}' is not an instance type of cluster '{cluster.name}' "
                        f"(offers {', '.join(offered)})"
                    ),
                )
            elif cluster.training_node_group(training.instance_type, training.spot) is None:
                wanted = "capacity: spot" if training.spot else "on-demand capacity"
                groups = ", ".join(
                    f"{g.name} ({g.capacity})"
                    for g in cluster.node_groups
                    if training.instance_type in g.instance_types
                )
                yield (
                    ("training", "spot"),
                    (
                        f"spot: {str(training.spot).lower()} needs a node group of cluster '{cluster.name}' "
                        f"with {wanted} offering "
                        f"'{training.instance_type}' (offering it: {groups})"
                    ),
                )
            else:
                group = cluster.training_node_group(training.instance_type, training.spot)
                if group is not None and group.max < training.instance_count:
                    yield (
                        ("training", "instance_count"),
                        (
                            f"{training.instance_count} training pods need as many nodes, one each; node group "
                            f"'{group.name}' of cluster '{cluster.name}' holds at most {group.max}"
                        ),
                    )


def unknown_environment_problems(document: dict, known: Iterable[str]) -> Iterator[Problem]:
    """Override blocks for environments nobody declared: `prd:` would never apply."""
    known = sorted(set(known))
    overrides = document.get("environments")
    for name in overrides if isinstance(overrides, dict) else ():
        if isinstance(name, str) and name not in known:
            yield (
                ("environments", name),
                (
                    f"unknown environment '{name}'{did_you_mean(name, known)}; known: {', '.join(known)} "
                    "(declare more under the Platform spec's environments)"
                ),
            )
