"""The retraining pipeline of a model: train -> evaluate -> quality gate -> register.

`pipeline_definition(...)` writes the SageMaker Pipeline definition (see `pipeline_definition.py`:
the same text the `sagemaker` SDK builds, without it). Everything it references already lives in
S3: the code archive and files are uploaded by this component.

Steps:
1. `Train` — the AWS PyTorch training image for `model.framework_version`, script mode
   (`sagemaker_program`), the spec's instance type and count, volume, max runtime; managed spot
   with checkpoints in `<artifacts>/<model>/checkpoints/` and a max wait; channels `train`,
   `validation` from `data`, and `code` (the source archive, so training runs network-isolated);
   KMS on volumes and outputs; the platform VPC; inter-container traffic encrypted.
2. `Evaluate` — a processing job running `evaluate.py` on the trained model and the validation
   data (ground truth when there is no validation channel), network-isolated in the platform VPC
   like training; writes `evaluation.json`.
3. `QualityGate` — `training.evaluation`: the metric must be >= `min` and/or <= `max`.
4. `Register` — a model package in the model's registry group, `PendingManualApproval` or
   `Approved` per `retraining.approval`, with the evaluation report and the code and data
   versions as metadata (every version reproducible from code + data). `GateFailed` otherwise.

`TrainingPipeline` provisions a training role scoped to the model's data prefixes, its own
prefix, key and registry group, and the `aws.sagemaker.Pipeline` named `<model>-retraining`; the
code it runs is uploaded by `CodeUpload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from . import iam, naming
from .context import ModelContext, Resolved
from .images import framework_image
from .model_registry import registry_group_arn
from .sagemaker_endpoint import serving_environment
from .pipeline_definition import (
    definition_text,
    hyperparameter_text,
    processing_step,
    s3_input,
    s3_output,
    step_property,
)
from .spec import Approval, Backend, Bound, ModelSpec, TrainingSpec
from .spec.parsers import S3Uri

EVALUATION_FILE = "evaluation.json"
#: The registry's status for a new version, per `retraining.approval`.
APPROVAL_STATUS = {Approval.MANUAL: "PendingManualApproval", Approval.AUTO: "Approved"}
PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"
#: evaluate.py's command line: where the processing job puts the model and the data, and takes the report.
EVALUATION_ARGUMENTS = (
    *("--model-dir", "/opt/ml/processing/model"),
    *("--test", "/opt/ml/processing/test"),
    *("--output-dir", "/opt/ml/processing/evaluation"),
)


@dataclass(frozen=True)
class PipelineLocations:
    """What the definition refers to, resolved (placeholders in the offline plan): the platform,
    the training role and the uploaded code."""

    platform: Resolved
    role_arn: str
    code_prefix: str  # s3://<artifacts>/<model>/code/<version>/
    code_version: str


def distribution_hyperparameters(training) -> dict[str, Any]:
    """Data-parallel training on every GPU of every instance: the AWS PyTorch training container's
    `torch_distributed` launcher (what the SDK's `distribution={"torch_distributed": {"enabled":
    True}}` sets) runs `torchrun` on each instance with one process per GPU; NCCL uses EFA where
    the instance has it. `world_size` is the plan's rank count, which train.py checks at start."""
    if training.world_size <= 1:
        return {}
    return {
        "sagemaker_torch_distributed_enabled": True,
        "sagemaker_instance_type": training.instance_type,
        "world_size": training.world_size,
    }


def trained_on_sagemaker(spec: ModelSpec) -> TrainingSpec:
    """The training section of a spec with a retraining pipeline (SageMaker backend, training data)."""
    training, data = spec.training, spec.data
    assert training is not None and training.backend is Backend.SAGEMAKER
    assert data is not None and data.training is not None
    return training


def gate_failure_message(gate: Bound) -> str:
    bounds = [f">= {gate.min:g}" if gate.min is not None else "", f"<= {gate.max:g}" if gate.max is not None else ""]
    return f"quality gate: {gate.metric} must be {' and '.join(b for b in bounds if b)}; the model is not registered"


def training_hyperparameters(spec: ModelSpec, where: PipelineLocations) -> dict[str, Any]:
    """The spec's hyperparameters and the training toolkit's own settings: script mode with the
    code as an input channel (the container needs no network to fetch it), and distribution."""
    training = trained_on_sagemaker(spec)
    return {
        **training.hyperparameters,
        "sagemaker_program": spec.model.entry_point,
        "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz",
        "sagemaker_region": where.platform.region,
        **distribution_hyperparameters(training),
    }


def evaluation_data(spec: ModelSpec) -> S3Uri:
    """What the evaluation scores the trained model on: validation data, else ground truth, else
    the training data itself."""
    assert spec.data is not None and spec.data.training is not None
    return spec.data.validation or spec.data.ground_truth or spec.data.training


def pipeline_definition(spec: ModelSpec, where: PipelineLocations) -> str:
    """The pipeline definition JSON (SageMaker Pipelines schema 2020-12-01), deterministic."""
    gate = trained_on_sagemaker(spec).evaluation
    steps = [_train_step(spec, where), _evaluate_step(spec, where)]
    register = _register_step(spec, where)
    if gate is None:
        return definition_text([*steps, register])
    value = {
        "Std:JsonGet": {
            "Path": f"metrics.{gate.metric}",
            "PropertyFile": step_property(f"{EVALUATE}.PropertyFiles.{EVALUATION_REPORT}"),
        }
    }
    conditions = [
        {"LeftValue": value, "RightValue": bound, "Type": kind}
        for kind, bound in (("GreaterThanOrEqualTo", gate.min), ("LessThanOrEqualTo", gate.max))
        if bound is not None
    ]
    failed = {
        "Arguments": {"ErrorMessage": gate_failure_message(gate)},
        "Name": "GateFailed",
        "Type": "Fail",
    }
    gate_step = {
        "Arguments": {"Conditions": conditions, "ElseSteps": [failed], "IfSteps": [register]},
        "Name": "QualityGate",
        "Type": "Condition",
    }
    return definition_text([*steps, gate_step])


#: The steps' names, which later steps read properties of.
TRAIN, EVALUATE = "Train", "Evaluate"
#: The evaluation step's report, as the quality gate reads it.
EVALUATION_REPORT = "Evaluation"


def _train_step(spec: ModelSpec, where: PipelineLocations) -> dict[str, Any]:
    """CreateTrainingJob: script mode in the AWS PyTorch training image, the code as an input
    channel (the job runs network-isolated), managed spot with checkpoints, KMS, the VPC."""
    training, data = trained_on_sagemaker(spec), spec.data
    assert data is not None
    prefix = f"s3://{where.platform.artifact_bucket}/{spec.name}"
    kms = where.platform.kms_key_arn
    hyperparameters = training_hyperparameters(spec, where)
    channels = [("code", f"{where.code_prefix}sourcedir.tar.gz"), ("train", str(data.training))]
    if data.validation is not None:
        channels.append(("validation", str(data.validation)))
    stopping = {"MaxRuntimeInSeconds": training.max_runtime_seconds}
    if training.spot:
        stopping["MaxWaitTimeInSeconds"] = training.max_wait_seconds
    image = framework_image(spec.model.framework_version, where.platform.region, training.instance_type, "training")
    request = {
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "CheckpointConfig": {"LocalPath": "/opt/ml/checkpoints", "S3Uri": f"{prefix}/checkpoints/"},
        "EnableInterContainerTrafficEncryption": training.instance_count > 1,
        "EnableManagedSpotTraining": training.spot,
        "EnableNetworkIsolation": True,
        "HyperParameters": {key: hyperparameter_text(value) for key, value in hyperparameters.items()},
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataDistributionType": "FullyReplicated",
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                    }
                },
                "InputMode": "File",
            }
            for channel, uri in channels
        ],
        "OutputDataConfig": {"CompressionType": "GZIP", "KmsKeyId": kms, "S3OutputPath": f"{prefix}/models/"},
        "ResourceConfig": {
            "InstanceCount": training.instance_count,
            "InstanceType": training.instance_type,
            "VolumeKmsKeyId": kms,
            "VolumeSizeInGB": training.volume_gb,
        },
        "RoleArn": where.role_arn,
        "StoppingCondition": stopping,
        "TrainingJobName": naming.training_job_prefix(spec.name),
        "VpcConfig": {
            "SecurityGroupIds": list(where.platform.training_security_group_ids),
            "Subnets": list(where.platform.subnet_ids),
        },
    }
    return {"Arguments": request, "Name": TRAIN, "Type": "Training"}


def _evaluate_step(spec: ModelSpec, where: PipelineLocations) -> dict[str, Any]:
    """CreateProcessingJob: `evaluate.py` from the uploaded code on the trained model and the
    validation data (ground truth when there is none); writes `evaluation.json`."""
    prefix = f"s3://{where.platform.artifact_bucket}/{spec.name}"
    return processing_step(
        EVALUATE,
        job_name=naming.evaluation_job_prefix(spec.name),
        role_arn=where.role_arn,
        image=framework_image(
            spec.model.framework_version, where.platform.region, PROCESSING_INSTANCE_TYPE, "training"
        ),
        instance_type=PROCESSING_INSTANCE_TYPE,
        kms_key_arn=where.platform.kms_key_arn,
        entrypoint=["python3"],
        script=f"{where.code_prefix}evaluate.py",
        arguments=list(EVALUATION_ARGUMENTS),
        inputs=[
            s3_input("model", step_property(f"{TRAIN}.ModelArtifacts.S3ModelArtifacts"), "/opt/ml/processing/model"),
            s3_input("test", str(evaluation_data(spec)), "/opt/ml/processing/test"),
            s3_input("code-lib", where.code_prefix, "/opt/ml/processing/input/code-lib"),
        ],
        outputs=[s3_output("evaluation", f"{prefix}/evaluations/", "/opt/ml/processing/evaluation")],
        environment={"PYTHONPATH": "/opt/ml/processing/input/code-lib"},
        # Like training: the model's own code runs with no network at all, in the VPC.
        vpc=(where.platform.subnet_ids, where.platform.training_security_group_ids),
        isolated=True,
        property_files=[
            {"FilePath": EVALUATION_FILE, "OutputName": "evaluation", "PropertyFileName": EVALUATION_REPORT}
        ],
    )


def _register_step(spec: ModelSpec, where: PipelineLocations) -> dict[str, Any]:
    """CreateModelPackage: the trained model in the model's registry group, with the inference
    image for its first deployment's instance type, the evaluation report as its quality metrics,
    and the code and data versions as metadata (every version reproducible from code + data)."""
    assert spec.data is not None
    inference_types = sorted({d.instance_type for d in spec.deployments if getattr(d, "instance_type", None)}) or [
        "ml.m5.large"
    ]
    image = framework_image(spec.model.framework_version, where.platform.region, inference_types[0], "inference")
    evaluation_uri = {
        "Std:Join": {
            "On": "/",
            "Values": [
                step_property(f"{EVALUATE}.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"),
                EVALUATION_FILE,
            ],
        }
    }
    request = {
        "CustomerMetadataProperties": {
            "modelform:code_version": where.code_version,
            "modelform:data_version": spec.data.version,
            "modelform:training_data": str(spec.data.training),
        },
        "InferenceSpecification": {
            "Containers": [
                {
                    "Environment": serving_environment(spec.model.inference_entry_point, where.platform.region),
                    "Image": image,
                    "ModelDataUrl": step_property(f"{TRAIN}.ModelArtifacts.S3ModelArtifacts"),
                }
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedRealtimeInferenceInstanceTypes": inference_types,
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "ModelApprovalStatus": APPROVAL_STATUS[spec.approval],
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}}},
        "ModelPackageGroupName": naming.registry_group(spec.name),
        "SkipModelValidation": "None",
    }
    return {"Arguments": request, "Name": "Register", "Type": "RegisterModel"}


# --- the component ------------------------------------------------------------------------------


def sagemaker_job_logs(region: str, account_id: str, model: str) -> list[str]:
    """The log groups of SageMaker's training and processing jobs, and the model's streams in them."""
    groups = ("/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/TrainingJobs")
    return [iam.log_group_arn(region, account_id, g) for g in groups] + [
        iam.log_group_arn(region, account_id, g, f"{model}-*") for g in groups
    ]


def training_statements(model: str, where: Resolved, role_arn: str, data: tuple[S3Uri, ...]) -> list[iam.Statement]:
    """What the retraining pipeline (and the jobs it starts with this role) may do: read the
    model's data prefixes; read its code and write its models, checkpoints and evaluations under
    `<artifacts>/<model>/`; run the jobs its steps name (`<model>-train-*`, `<model>-evaluate-*`);
    register into its own group."""
    region, account = where.region, where.account_id
    pipeline = naming.retraining_pipeline(model)
    return [
        iam.read_objects("ReadTrainingData", [iam.location_objects_arn(uri) for uri in data]),
        *iam.list_prefixes("ListTrainingData", [(uri.bucket, uri.key) for uri in data]),
        iam.allow(
            "OwnArtifacts",
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            [iam.objects_arn(where.artifact_bucket, model)],
        ),
        *iam.list_prefixes("ListOwnArtifacts", [(where.artifact_bucket, model)]),
        *iam.use_key(where.kms_key_arn, grants_for_aws_services=True),
        iam.allow(
            "RegisterIntoOwnGroup",
            ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
            [
                iam.sagemaker_arn(region, account, f"model-package/{model}/*"),
                registry_group_arn(region, account, model),
            ],
        ),
        *iam.pipeline_runner(
            region,
            account,
            pipeline,
            role_arn,
            {"training-job": naming.training_job_prefix(model), "processing-job": naming.evaluation_job_prefix(model)},
        ),
        *iam.container_runtime(region, account, where.vpc_id, "Jobs", sagemaker_job_logs(region, account, model)),
    ]


class TrainingPipeline(pulumi.ComponentResource):
    """The training role and the SageMaker retraining pipeline of one model (`backend: sagemaker`)."""

    def __init__(
        self, name: str, context: ModelContext, spec: ModelSpec, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("modelform:training_pipeline:TrainingPipeline", name, None, opts)
        code = context.code
        assert code is not None, "training runs the uploaded code"
        assert spec.data is not None
        model, data = spec.name, spec.data.locations
        # A physical name, so the pipeline definition can carry the role's ARN as plain text.
        role_arn = iam.role_arn(context.account_id, naming.training_role(model))
        self.role, role_policy = iam.scoped_role(
            f"{name}-role",
            role_name=naming.training_role(model),
            trust=context.account_id.apply(lambda account: iam.service_trust("sagemaker.amazonaws.com", account)),
            policy=pulumi.Output.all(context.resolved(), role_arn).apply(
                lambda v: iam.policy_document(training_statements(model, v[0], v[1], data))
            ),
            description=f"SageMaker training and pipeline role of model {model} (modelform)",
            parent=self,
        )
        definition = pulumi.Output.all(context.resolved(), role_arn, code.prefix).apply(
            lambda v: pipeline_definition(spec, PipelineLocations(v[0], v[1], v[2], context.code_version))
        )
        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=naming.retraining_pipeline(model),
            pipeline_display_name=naming.retraining_pipeline(model),
            pipeline_description=f"Retrain {model}: train, evaluate, gate on quality, register",
            role_arn=self.role.arn,
            pipeline_definition=definition,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, *code.objects]),
        )
        self.register_outputs({"pipelineName": self.pipeline.pipeline_name, "roleArn": self.role.arn})
