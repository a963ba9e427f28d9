"""The retraining pipeline of a model: train -> evaluate -> quality gate -> register.

`pipeline_definition(...)` builds the SageMaker Pipeline definition with the `sagemaker` SDK
(v3), offline: no credentials, no uploads. Everything it references already lives in S3 (the code
archive and files are uploaded by this component), so the SDK never stages anything itself.

Steps:
1. `Train` — the AWS PyTorch training image for `model.framework_version`, script mode
   (`sagemaker_program`), the spec's instance type and count, volume, max runtime; managed spot
   with checkpoints in `<artifacts>/<model>/checkpoints/` and a max wait; channels `train`,
   `validation` from `data`, and `code` (the source archive, so training runs network-isolated);
   KMS on volumes and outputs; the platform VPC; inter-container traffic encrypted.
2. `Evaluate` — a processing job running `evaluate.py` on the trained model and the validation
   data (ground truth when there is no validation channel); writes `evaluation.json`.
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
from .sdk_offline import (
    definition_inputs,
    definition_text,
    offline_session,
    processing_step,
    quiet_sagemaker_sdk,
    sdk_output,
)
from .spec import Approval, Backend, ModelSpec
from .spec.parsers import S3Uri

EVALUATION_FILE = "evaluation.json"
#: The registry's status for a new version, per `retraining.approval`.
APPROVAL_STATUS = {Approval.MANUAL: "PendingManualApproval", Approval.AUTO: "Approved"}
PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"


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


def pipeline_definition(spec: ModelSpec, where: PipelineLocations) -> str:
    """The pipeline definition JSON (SageMaker Pipelines schema 2020-12-01), deterministic."""
    training, data = spec.training, spec.data
    assert (
        training is not None
        and training.backend is Backend.SAGEMAKER
        and data is not None
        and data.training is not None
    )
    quiet_sagemaker_sdk(where.platform.region)
    import warnings

    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
        StoppingCondition,
    )
    from sagemaker.core.training.configs import CheckpointConfig, Compute, InputData, Networking, OutputDataConfig
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
    from sagemaker.core.workflow.functions import JsonGet
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow import ConditionStep, FailStep, ModelStep, TrainingStep
    from sagemaker.train.model_trainer import ModelTrainer

    session = offline_session(where.platform.region, where.platform.artifact_bucket)
    prefix = f"s3://{where.platform.artifact_bucket}/{spec.name}"
    networking = dict(
        subnets=list(where.platform.subnet_ids),
        security_group_ids=list(where.platform.training_security_group_ids),
    )
    training_image = framework_image(
        spec.model.framework_version, where.platform.region, training.instance_type, "training"
    )
    hyperparameters = {
        **{key: value for key, value in training.hyperparameters.items()},
        "sagemaker_program": spec.model.entry_point,
        # The code comes as an input channel, so the container needs no network to fetch it.
        "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz",
        "sagemaker_region": where.platform.region,
        **distribution_hyperparameters(training),
    }
    channels = [
        InputData(channel_name="code", data_source=f"{where.code_prefix}sourcedir.tar.gz"),
        InputData(channel_name="train", data_source=str(data.training)),
    ]
    if data.validation is not None:
        channels.append(InputData(channel_name="validation", data_source=str(data.validation)))
    trainer = ModelTrainer(
        sagemaker_session=session,
        role=where.role_arn,
        training_image=training_image,
        base_job_name=naming.training_job_prefix(spec.name),
        compute=Compute(
            instance_type=training.instance_type,
            instance_count=training.instance_count,
            volume_size_in_gb=training.volume_gb,
            volume_kms_key_id=where.platform.kms_key_arn,
            enable_managed_spot_training=training.spot,
        ),
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=training.max_runtime_seconds,
            **({"max_wait_time_in_seconds": training.max_wait_seconds} if training.spot else {}),
        ),
        checkpoint_config=CheckpointConfig(s3_uri=f"{prefix}/checkpoints/"),
        output_data_config=OutputDataConfig(s3_output_path=f"{prefix}/models/", kms_key_id=where.platform.kms_key_arn),
        networking=Networking(
            **networking,
            enable_network_isolation=True,
            enable_inter_container_traffic_encryption=training.instance_count > 1,
        ),
        hyperparameters=hyperparameters,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Running within a PipelineSession, there will be No Wait ..."
        train_step = TrainingStep(name="Train", step_args=trainer.train(input_data_config=channels, wait=False))

        evaluation_data = data.validation or data.ground_truth or data.training
        processor = ScriptProcessor(
            role=where.role_arn,
            image_uri=framework_image(
                spec.model.framework_version, where.platform.region, PROCESSING_INSTANCE_TYPE, "training"
            ),
            command=["python3"],
            instance_type=PROCESSING_INSTANCE_TYPE,
            instance_count=1,
            volume_kms_key=where.platform.kms_key_arn,
            output_kms_key=where.platform.kms_key_arn,
            max_runtime_in_seconds=3600,
            base_job_name=naming.evaluation_job_prefix(spec.name),
            sagemaker_session=session,
            env={"PYTHONPATH": "/opt/ml/processing/input/code-lib"},
        )
        report = PropertyFile(name="Evaluation", output_name="evaluation", path=EVALUATION_FILE)

        def s3_input(name: str, uri: Any, local: str) -> ProcessingInput:
            return ProcessingInput(
                input_name=name,
                s3_input=ProcessingS3Input(s3_uri=uri, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"),
            )

        evaluate_step = processing_step(
            name="Evaluate",
            step_args=processor.run(
                code=f"{where.code_prefix}evaluate.py",
                inputs=[
                    s3_input(
                        "model", train_step.properties.ModelArtifacts.S3ModelArtifacts, "/opt/ml/processing/model"
                    ),
                    s3_input("test", str(evaluation_data), "/opt/ml/processing/test"),
                    s3_input("code-lib", where.code_prefix, "/opt/ml/processing/input/code-lib"),
                ],
                outputs=[
                    ProcessingOutput(
                        output_name="evaluation",
                        s3_output=ProcessingS3Output(
                            s3_uri=f"{prefix}/evaluations/",
                            local_path="/opt/ml/processing/evaluation",
                            s3_upload_mode="EndOfJob",
                        ),
                    )
                ],
                arguments=[
                    "--model-dir",
                    "/opt/ml/processing/model",
                    "--test",
                    "/opt/ml/processing/test",
                    "--output-dir",
                    "/opt/ml/processing/evaluation",
                ],
            ),
            property_files=[report],
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register_step = ModelStep(
            name="Register", step_args=_register_arguments(session, spec, where, train_step, evaluate_step)
        )
    steps: list = [train_step, evaluate_step]
    gate = training.evaluation
    if gate is None:
        steps.append(register_step)
    else:
        value = JsonGet(step_name=evaluate_step.name, property_file=report, json_path=f"metrics.{gate.metric}")
        conditions = []
        if gate.min is not None:
            conditions.append(ConditionGreaterThanOrEqualTo(left=value, right=gate.min))
        if gate.max is not None:
            conditions.append(ConditionLessThanOrEqualTo(left=value, right=gate.max))
        bounds = " and ".join(
            part
            for part in (
                f">= {gate.min:g}" if gate.min is not None else "",
                f"<= {gate.max:g}" if gate.max is not None else "",
            )
            if part
        )
        failed = FailStep(
            name="GateFailed",
            error_message=f"quality gate: {gate.metric} must be {bounds}; the model is not registered",
        )
        steps.append(
            ConditionStep(name="QualityGate", conditions=conditions, if_steps=[register_step], else_steps=[failed])
        )
    return definition_text(
        naming.retraining_pipeline(spec.name),
        steps,
        session,
        {"Train": naming.training_job_prefix(spec.name), "Evaluate": naming.evaluation_job_prefix(spec.name)},
    )


def cached_pipeline_definition(spec: ModelSpec, where: PipelineLocations) -> str:
    """`pipeline_definition`, built from `definition_inputs(spec)` and remembered by them."""
    inputs = definition_inputs(spec)
    return sdk_output("training-pipeline", (inputs, where), lambda: pipeline_definition(inputs, where))


def _register_arguments(session, spec: ModelSpec, where: PipelineLocations, train_step, evaluate_step):
    """Step arguments of the registration, through the SDK's own CreateModelPackage path
    (`create_model_package_from_containers` under the PipelineSession, which records the request
    instead of sending it). `ModelBuilder.register()` would resolve images and roles against AWS."""
    from sagemaker.core.model_registry import create_model_package_from_containers
    from sagemaker.core.workflow.functions import Join

    inference_types = sorted({d.instance_type for d in spec.deployments if getattr(d, "instance_type", None)}) or [
        "ml.m5.large"
    ]
    image = framework_image(spec.model.framework_version, where.platform.region, inference_types[0], "inference")
    evaluation_uri = Join(
        on="/",
        values=[evaluate_step.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri, EVALUATION_FILE],
    )

    class Registration:  # the SDK keeps the registering model's session with the step arguments
        sagemaker_session = session

    assert spec.data is not None
    session.init_model_step_arguments(Registration())
    return create_model_package_from_containers(
        sagemaker_session=session,
        containers=[
            {
                "Image": image,
                "ModelDataUrl": train_step.properties.ModelArtifacts.S3ModelArtifacts,
                "Environment": serving_environment(spec.model.inference_entry_point, where.platform.region),
            }
        ],
        content_types=["text/csv", "application/json"],
        response_types=["application/json"],
        inference_instances=inference_types,
        model_package_group_name=naming.registry_group(spec.name),
        model_metrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}}},
        approval_status=APPROVAL_STATUS[spec.approval],
        customer_metadata_properties={
            "modelform:code_version": where.code_version,
            "modelform:data_version": spec.data.version,
            "modelform:training_data": str(spec.data.training),
        },
    )


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
            lambda v: cached_pipeline_definition(spec, PipelineLocations(v[0], v[1], v[2], context.code_version))
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
