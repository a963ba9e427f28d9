"""The Pulumi programs of the two kinds of stack: what each stack declares, given its spec.

Both the real engine (`stacks/*/__main__.py`, `modelform up`) and the offline planner
(`modelform.plan`) run exactly these functions; they return the stack's outputs.

- `platform_program(spec)`: stack `<platform>.<env>` of project `modelform-platform`.
- `model_program(spec, platform)`: stack `<model>.<env>` of project `modelform-model`; reads
  the platform stack's outputs through a `StackReference` (the `contract.PlatformOutputs`).

Every resource is created through one explicit AWS provider per stack: the region comes from the
Platform spec (not from whoever runs the program), the standard tags from `default_tags`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Optional

import pulumi

from . import naming
from .batch_scoring import BatchScoring
from .code_upload import CodeUpload
from .context import ModelContext, model_context, platform_provider
from .eks_endpoint import EksEndpoint
from .eks_training import EksTraining
from .execution_role import ModelExecutionRole
from .model_api import ModelApi
from .model_registry import ModelRegistry
from .monitoring import AlarmKind, ModelMonitoring
from .platform import Platform
from .retraining import RetrainingRunner, RetrainingTriggers, RunnerKind
from .sagemaker_endpoint import SageMakerEndpoint
from .source_archive import model_archive
from .spec import Backend, EksDeployment, ModelSpec, PlatformSpec, SageMakerDeployment
from .tags import model_tags
from .training_pipeline import TrainingPipeline


#: The provider modules these programs create resources from. The SDKs import a service's module
#: lazily, on first use, at 0.1-1 s each; planning workers import them all before they are forked
#: (`import_providers`), so no worker pays for them again. A test plans every sample and compares.
PROVIDER_MODULES = (
    "pulumi_aws.apigateway",
    "pulumi_aws.apigatewayv2",
    "pulumi_aws.appautoscaling",
    "pulumi_aws.cloudwatch",
    "pulumi_aws.ec2",
    "pulumi_aws.ecr",
    "pulumi_aws.eks",
    "pulumi_aws.iam",
    "pulumi_aws.kms",
    "pulumi_aws.lambda_",
    "pulumi_aws.lb",
    "pulumi_aws.s3",
    "pulumi_aws.sagemaker",
    "pulumi_aws.scheduler",
    "pulumi_aws.sfn",
    "pulumi_aws.sns",
    "pulumi_aws.sqs",
    "pulumi_aws.wafv2",
    "pulumi_kubernetes.apiextensions",
    "pulumi_kubernetes.apps.v1",
    "pulumi_kubernetes.autoscaling.v2",
    "pulumi_kubernetes.batch.v1",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.meta.v1",
    "pulumi_kubernetes.networking.v1",
    "pulumi_kubernetes.policy.v1",
    "pulumi_kubernetes.rbac.v1",
)


def import_providers() -> None:
    """Import every module of PROVIDER_MODULES now rather than on first use."""
    for name in PROVIDER_MODULES:
        parts = name.split(".")
        for depth in range(2, len(parts) + 1):  # `pulumi_kubernetes.apps`, then `pulumi_kubernetes.apps.v1`
            # The SDKs register their modules lazily: importing one runs nothing until an attribute
            # other than the module's own metadata (`__name__`, `__dict__`, ...) is read.
            hasattr(importlib.import_module(".".join(parts[:depth])), "__all__")


def platform_program(spec: PlatformSpec) -> dict[str, Any]:
    platform = Platform(spec.name, spec, pulumi.ResourceOptions(provider=platform_provider(spec)))
    return platform.outputs.exports()


def model_program(
    spec: ModelSpec, platform: PlatformSpec, platform_stack: Optional[str] = None, repo_root: Optional[str] = None
) -> dict[str, Any]:
    root = repo_root or os.getcwd()
    code_dir = os.path.join(root, spec.model.code)
    archive = model_archive(root, spec.model.code)
    context = model_context(
        spec,
        platform,
        platform_stack or naming.platform_stack_reference(platform.name, platform.environment),
        archive.version,
        code_dir,
    )
    registry = ModelRegistry(f"{spec.name}-registry", context, spec, context.opts)
    outputs: dict[str, Any] = {"registryGroup": registry.group.model_package_group_name, "codeVersion": archive.version}
    if spec.training is not None or spec.monitoring is not None:  # jobs that run the code from S3
        context = context.with_code(CodeUpload(f"{spec.name}-code", context, archive, context.opts).uploaded)

    runner = _retraining_runner(context, outputs)
    monitoring = None
    if spec.monitoring is not None:
        monitoring = ModelMonitoring(f"{spec.name}-monitoring", context, spec.monitoring, context.opts)
        outputs["alertTopic"] = monitoring.topic.arn
    if spec.retraining is not None and runner is not None:
        alarms = {kind: monitoring.alarm_arns(kind) for kind in AlarmKind} if monitoring is not None else {}
        RetrainingTriggers(
            f"{spec.name}-retraining", context, spec.retraining, runner=runner, alarm_arns=alarms, opts=context.opts
        )

    topic = monitoring.topic.arn if monitoring is not None else None
    for deployment in spec.deployments:
        if isinstance(deployment, EksDeployment):
            eks_endpoint = EksEndpoint(naming.endpoint(spec.name, deployment.name), context, deployment, context.opts)
            if deployment.api is not None:
                _model_api(context, deployment, eks_endpoint.ingress, topic, outputs)

    sagemaker_deployments = tuple(d for d in spec.deployments if isinstance(d, SageMakerDeployment))
    if sagemaker_deployments:
        role = ModelExecutionRole(f"{spec.name}-sagemaker-execution", context, sagemaker_deployments, context.opts)
        outputs["executionRoleArn"] = role.role.arn
        outputs["endpoints"] = {}
        for deployment in sagemaker_deployments:
            endpoint = SageMakerEndpoint(
                naming.endpoint(spec.name, deployment.name),
                context,
                deployment,
                execution_role_arn=role.role.arn,
                alarm_topic_arn=topic,
                opts=context.opts,
            )
            outputs["endpoints"][deployment.name] = endpoint.endpoint.name
            if deployment.api is not None:
                _model_api(context, deployment, endpoint.endpoint, topic, outputs)
    if spec.batch is not None:
        batch = BatchScoring(
            f"{spec.name}-batch",
            context,
            spec.batch,
            tags=model_tags(spec.tags, spec.name, spec.environment, spec.owner, spec.team),
            alarm_topic_arn=monitoring.topic.arn if monitoring is not None else None,
            opts=context.opts,
        )
        outputs["batchFailureQueue"] = batch.inbox.url
    return outputs


def _model_api(context: ModelContext, deployment, upstream, topic, outputs: dict[str, Any]) -> None:
    """The deployment's managed API; its URL joins the stack's outputs (`apis`)."""
    api = ModelApi(
        f"{naming.endpoint(context.model, deployment.name)}-api",
        context,
        deployment,
        upstream=upstream,
        alarm_topic_arn=topic,
        opts=context.opts,
    )
    outputs.setdefault("apis", {})[deployment.name] = api.stage.invoke_url


def _retraining_runner(context: ModelContext, outputs: dict[str, Any]) -> Optional[RetrainingRunner]:
    """The retraining pipeline or state machine of the training backend, if the model trains."""
    spec = context.spec
    if spec.training is None or spec.data is None or spec.data.training is None:
        return None
    if spec.training.backend is Backend.EKS:
        machine = EksTraining(f"{spec.name}-training", context, spec, context.opts).state_machine
        outputs["retrainingStateMachine"] = machine.arn
        return RetrainingRunner(RunnerKind.STATE_MACHINE, machine, machine.arn)
    pipeline = TrainingPipeline(f"{spec.name}-training", context, spec, context.opts).pipeline
    outputs["retrainingPipeline"] = pipeline.pipeline_name
    return RetrainingRunner(RunnerKind.PIPELINE, pipeline, pipeline.pipeline_name)


# --- entry points of the Pulumi projects in stacks/ ----------------------------------------------


def _specs_for_stack(repo_root: str):
    """The validated specs the current stack is built from (`modelform:specs`, default specs/)."""
    from .spec import load_specs

    folder = pulumi.Config("modelform").get("specs") or os.path.join(repo_root, "specs")
    specs = load_specs([folder], root=repo_root)
    if specs.errors:
        raise pulumi.RunError("invalid specs:\n" + "\n".join(str(e) for e in specs.errors))
    return specs


def _split_stack_name(stack: str) -> tuple[str, str]:
    name, dot, environment = stack.rpartition(".")
    if not dot:
        raise pulumi.RunError(f"stack '{stack}' must be named <name>.<environment>, e.g. fraud-detector.dev")
    return name, environment


def run_platform_stack(repo_root: str) -> None:
    """`stacks/platform/__main__.py`: stack `<platform>.<env>`."""
    name, environment = _split_stack_name(pulumi.get_stack())
    platform = _specs_for_stack(repo_root).platform(environment)
    if platform is None or platform.name != name:
        raise pulumi.RunError(f"no Platform spec named '{name}' for environment '{environment}'")
    for key, value in platform_program(platform).items():
        pulumi.export(key, value)


def run_model_stack(repo_root: str) -> None:
    """`stacks/model/__main__.py`: stack `<model>.<env>`; `modelform:platformStack` may name the
    platform stack (default `organization/modelform-platform/<platform>.<env>`)."""
    name, environment = _split_stack_name(pulumi.get_stack())
    specs = _specs_for_stack(repo_root)
    platform = specs.platform(environment)
    if platform is None:
        raise pulumi.RunError("model stacks need a Platform spec (kind: Platform)")
    if name not in {m.name for m in specs.models(environment)}:
        raise pulumi.RunError(f"no Model spec named '{name}'")
    outputs = model_program(
        specs.model(name, environment), platform, pulumi.Config("modelform").get("platformStack"), specs.root
    )
    for key, value in outputs.items():
        pulumi.export(key, value)
