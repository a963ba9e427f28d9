"""The Pulumi programs of the two kinds of stack: what each stack declares, given its spec.

Both the real engine (`stacks/*/__main__.py`, `modelform up`) and the offline planner
(`modules.plan`) run exactly these functions; they return the stack's outputs.

- `platform_program(spec)`: stack `<platform>.<env>` of project `modelform-platform`.
- `model_program(spec, platform)`: stack `<model>.<env>` of project `modelform-model`; reads
  the platform stack's outputs through a `StackReference`.

Every resource is created through an explicit AWS provider in the Platform spec's region, so
the region comes from the spec, not from whoever runs the program.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from . import naming
from .code_upload import CodeUpload, CodeUploadArgs
from .iam import ModelExecutionRole, ModelExecutionRoleArgs
from .model_registry import ModelRegistry, ModelRegistryArgs
from .monitoring import ModelMonitoring, ModelMonitoringArgs
from .retraining import RetrainingTriggers, RetrainingTriggersArgs
from .platform import Platform, platform_args
from .sagemaker_endpoint import SageMakerEndpoint, SageMakerEndpointArgs, alarm_thresholds
from .source_archive import build_source_archive
from .eks_endpoint import EksEndpoint, EksEndpointArgs
from .eks_training import EksTraining, EksTrainingArgs
from .spec import EksDeployment, ModelSpec, PlatformSpec, SageMakerDeployment
from .tags import model_tags
from .training_pipeline import TrainingPipeline, TrainingPipelineArgs

#: Where model stacks find the platform stack unless `modelform:platformStack` says otherwise.
DEFAULT_ORGANIZATION = "organization"
#: Built source archives, under the repository root (ignored by git).
BUILD_DIR = os.path.join(".modelform", "build")


def serving_image(platform: PlatformSpec, account_id: str, code_version: str) -> str:
    """The serving image built from model_code/Dockerfile, tagged with the code version, in the
    account's ECR repository `modelform/serve` (CI builds and pushes it; no Docker engine here)."""
    return f"{account_id}.dkr.ecr.{platform.region}.amazonaws.com/modelform/serve:{code_version}"


def _trains_on(spec: ModelSpec, backend: str) -> bool:
    return (
        spec.training is not None and spec.training.backend == backend
        and spec.data is not None and spec.data.training is not None
    )


def platform_stack_reference(platform: PlatformSpec, organization: str = DEFAULT_ORGANIZATION) -> str:
    return f"{organization}/{naming.PLATFORM_PROJECT}/{naming.platform_stack(platform.name, platform.environment)}"


def _provider(region: str) -> aws.Provider:
    return aws.Provider("aws", region=region)


def platform_program(spec: PlatformSpec) -> dict[str, Any]:
    provider = _provider(spec.region)
    platform = Platform(spec.name, platform_args(spec), pulumi.ResourceOptions(provider=provider))
    return platform.outputs


@dataclass
class PlatformOutputs:
    """The platform stack's outputs, read once through the model stack's StackReference."""

    artifact_bucket: pulumi.Output
    capture_bucket: pulumi.Output
    kms_key_arn: pulumi.Output
    vpc_id: pulumi.Output
    subnet_ids: pulumi.Output
    security_group_ids: pulumi.Output  # a list of one: the model containers' group
    clusters: pulumi.Output

    @classmethod
    def read(cls, reference: pulumi.StackReference) -> "PlatformOutputs":
        return cls(
            artifact_bucket=reference.get_output("artifactBucket"),
            capture_bucket=reference.get_output("captureBucket"),
            kms_key_arn=reference.get_output("kmsKeyArn"),
            vpc_id=reference.get_output("vpcId"),
            subnet_ids=reference.get_output("privateSubnetIds"),
            security_group_ids=reference.get_output("modelSecurityGroupId").apply(lambda group: [group]),
            clusters=reference.get_output("clusters"),
        )

    def cluster(self, name: str) -> pulumi.Output:
        """The outputs of one EKS cluster (name, endpoint, kubeconfig, OIDC provider)."""
        return self.clusters.apply(lambda clusters: (clusters or {}).get(name, {}))


def model_program(
    spec: ModelSpec, platform: PlatformSpec, platform_stack: Optional[str] = None, repo_root: Optional[str] = None
) -> dict[str, Any]:
    provider = _provider(platform.region)
    shared = PlatformOutputs.read(pulumi.StackReference(platform_stack or platform_stack_reference(platform)))
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    tags = model_tags(spec.tags, spec.name, spec.environment, spec.owner, spec.team)
    opts = pulumi.ResourceOptions(provider=provider)

    registry = ModelRegistry(
        f"{spec.name}-registry", ModelRegistryArgs(spec.name, spec.description, spec.protect, tags), opts
    )
    outputs: dict[str, Any] = {"registryGroup": registry.group.model_package_group_name}

    code = None
    root = repo_root or os.getcwd()
    code_dir = os.path.join(root, spec.model.code)
    archive = build_source_archive(code_dir, os.path.join(root, BUILD_DIR))
    if spec.training is not None or spec.monitoring is not None:
        code = CodeUpload(f"{spec.name}-code", CodeUploadArgs(
            spec.name, archive, code_dir, shared.artifact_bucket, shared.kms_key_arn, tags), opts)
    outputs["codeVersion"] = archive.version
    training = None
    if _trains_on(spec, "sagemaker"):
        assert code is not None
        training = TrainingPipeline(
            f"{spec.name}-training",
            TrainingPipelineArgs(
                spec=spec,
                code_version=archive.version,
                code_prefix=code.prefix,
                code_objects=code.objects,
                region=platform.region,
                account_id=account_id,
                artifact_bucket=shared.artifact_bucket,
                kms_key_arn=shared.kms_key_arn,
                vpc_id=shared.vpc_id,
                subnet_ids=shared.subnet_ids,
                security_group_ids=shared.security_group_ids,
                tags=tags,
            ),
            opts,
        )
        outputs["retrainingPipeline"] = training.pipeline.pipeline_name

    eks_training = None
    if _trains_on(spec, "eks"):
        assert code is not None and spec.training is not None and spec.training.cluster is not None
        eks_training = EksTraining(f"{spec.name}-training", EksTrainingArgs(
            spec=spec, cluster=platform.cluster(spec.training.cluster),
            cluster_outputs=shared.cluster(spec.training.cluster),
            code_prefix=code.prefix, code_version=archive.version, code_objects=code.objects, region=platform.region,
            account_id=account_id, artifact_bucket=shared.artifact_bucket, kms_key_arn=shared.kms_key_arn, tags=tags,
        ), opts)
        outputs["retrainingStateMachine"] = eks_training.state_machine.arn

    monitoring = None
    if spec.monitoring is not None:
        assert code is not None
        monitoring = ModelMonitoring(f"{spec.name}-monitoring", ModelMonitoringArgs(
            spec=spec, region=platform.region, account_id=account_id,
            kms_key_arn=shared.kms_key_arn, artifact_bucket=shared.artifact_bucket,
            capture_bucket=shared.capture_bucket, vpc_id=shared.vpc_id,
            subnet_ids=shared.subnet_ids,
            security_group_ids=shared.security_group_ids,
            code_prefix=code.prefix, code_objects=code.objects, tags=tags,
        ), opts)
        outputs["alertTopic"] = monitoring.topic.arn

    if spec.retraining is not None and (training is not None or eks_training is not None):
        alarms = monitoring.alarms if monitoring is not None else {}
        RetrainingTriggers(f"{spec.name}-retraining", RetrainingTriggersArgs(
            spec=spec,
            pipeline_name=training.pipeline.pipeline_name if training is not None else "",
            pipeline=training.pipeline if training is not None else eks_training.state_machine,
            state_machine_arn=eks_training.state_machine.arn if eks_training is not None else None,
            code_dir=code_dir, region=platform.region, account_id=account_id,
            drift_alarm_arns=[a.arn for n, a in sorted(alarms.items()) if monitoring.kinds[n] == "Drift"],
            quality_alarm_arns=[a.arn for n, a in sorted(alarms.items()) if monitoring.kinds[n] == "Quality"],
            tags=tags,
        ), opts)

    for deployment in (d for d in spec.deployments if isinstance(d, EksDeployment)):
        cluster = shared.cluster(deployment.cluster)
        EksEndpoint(naming.endpoint(spec.name, deployment.name), EksEndpointArgs(
            model=spec.name, deployment=deployment, region=platform.region,
            image=pulumi.Output.from_input(account_id).apply(lambda account: serving_image(platform, account, archive.version)),
            account_id=account_id, kubeconfig=cluster.apply(lambda c: c.get("kubeconfig", "")),
            oidc_issuer=cluster.apply(lambda c: c.get("oidcIssuer", "")),
            oidc_provider_arn=cluster.apply(lambda c: c.get("oidcProviderArn", "")),
            artifact_bucket=shared.artifact_bucket, kms_key_arn=shared.kms_key_arn,
            vpc_cidr=platform.network.vpc_cidr, tags=tags, labels={"app.kubernetes.io/managed-by": "modelform", "modelform/environment": spec.environment},
        ), opts)

    sagemaker_deployments = [d for d in spec.deployments if isinstance(d, SageMakerDeployment)]
    if not sagemaker_deployments:
        return outputs
    role = ModelExecutionRole(
        f"{spec.name}-sagemaker-execution",
        ModelExecutionRoleArgs(
            model=spec.name,
            region=platform.region,
            account_id=account_id,
            artifact_bucket=shared.artifact_bucket,
            capture_bucket=shared.capture_bucket,
            kms_key_arn=shared.kms_key_arn,
            vpc_id=shared.vpc_id,
            pinned_artifacts=tuple(
                sorted({str(v.artifact) for d in sagemaker_deployments for v in d.variants if v.artifact is not None})
            ),
            tags=tags,
        ),
        opts,
    )
    outputs["executionRoleArn"] = role.role.arn
    endpoints = {}
    for deployment in sagemaker_deployments:
        endpoint = SageMakerEndpoint(
            naming.endpoint(spec.name, deployment.name),
            SageMakerEndpointArgs(
                model=spec.name,
                deployment=deployment,
                region=platform.region,
                account_id=account_id,
                execution_role_arn=role.role.arn,
                kms_key_arn=shared.kms_key_arn,
                capture_bucket=shared.capture_bucket,
                subnet_ids=shared.subnet_ids,
                security_group_ids=shared.security_group_ids,
                framework_version=spec.model.framework_version,
                inference_entry_point=spec.model.inference_entry_point,
                thresholds=alarm_thresholds(spec.monitoring),
                alarm_topic_arn=monitoring.topic.arn if monitoring is not None else None,
                tags=tags,
            ),
            opts,
        )
        endpoints[deployment.name] = endpoint.endpoint.name
    outputs["endpoints"] = endpoints
    return outputs


# --- entry points of the Pulumi projects in stacks/ ----------------------------------------------


def _specs_for_stack(repo_root: str):
    """The validated specs the current stack is built from (`modelform:specs`, default specs/)."""
    import os

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
