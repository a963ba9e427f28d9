"""The SageMaker pipeline definitions and PyTorch image URIs as the sagemaker SDK builds them.

The plan builds both itself (`modelform.pipeline_definition`, `modelform.images`): importing the
SDK takes seconds and each definition it builds a tenth of one, per model, in every plan. This is
the reference they are held to (tests/test_pipeline_definitions.py): for every sample model and
every shape a spec can give a pipeline, the definition built here through the SDK's own step
classes, and the image its bundled catalogue names, must equal the plan's, byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from functools import lru_cache
from typing import Any

from modelform import naming
from modelform.context import Resolved
from modelform.monitoring import PROCESSING_INSTANCE_TYPE as MONITORING_INSTANCE_TYPE
from modelform.monitoring import MonitoringJob, monitoring_jobs
from modelform.sagemaker_endpoint import serving_environment
from modelform.spec import ModelSpec
from modelform.training_pipeline import (
    APPROVAL_STATUS,
    EVALUATION_ARGUMENTS,
    EVALUATION_FILE,
    PROCESSING_INSTANCE_TYPE,
    PipelineLocations,
    evaluation_data,
    gate_failure_message,
    trained_on_sagemaker,
    training_hyperparameters,
)

#: The request field that names the job each kind of step starts.
JOB_NAME_FIELDS = {"Training": "TrainingJobName", "Processing": "ProcessingJobName"}


def quiet_sagemaker_sdk(region: str) -> None:
    """Before importing the sagemaker SDK: it creates a boto3 client on import (needs a region),
    logs its config search at INFO, and would validate roles against IAM."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    for name in ("sagemaker", "sagemaker.config", "sagemaker.core", "sagemaker.train", "sagemaker.mlops"):
        logging.getLogger(name).setLevel(logging.ERROR)


@lru_cache(maxsize=None)
def offline_session(region: str, bucket: str):
    """One PipelineSession per region and bucket (creating one builds several boto3 clients,
    ~0.1 s); it never asks AWS for a default bucket: every location is given explicitly."""
    quiet_sagemaker_sdk(region)
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    class OfflineSession(PipelineSession):
        def default_bucket(self):
            return bucket

    return OfflineSession(default_bucket=bucket)


def processing_step(**kwargs):
    """`ProcessingStep(...)`, without the SDK's detour: its constructor builds a whole local
    SageMaker session (boto3 resources, ~0.2 s) only to read the *name* of a method,
    `create_processing_job`. A stand-in with that method answers the same name instantly."""
    from sagemaker.mlops.workflow import ProcessingStep
    from sagemaker.mlops.workflow import steps

    class _MethodNames:
        def create_processing_job(self):  # pragma: no cover - only its __name__ is read
            raise NotImplementedError

    original = steps.LocalSagemakerClient
    steps.LocalSagemakerClient = _MethodNames
    try:
        return ProcessingStep(**kwargs)
    finally:
        steps.LocalSagemakerClient = original


def definition_text(name: str, steps: list, session, job_prefixes: dict[str, str]) -> str:
    """The definition JSON of the SDK's pipeline, with each step's job named by us (the SDK keeps
    a job name only with `use_custom_job_prefix`, and drops `TrainingJobName` for ModelTrainer
    steps under a pipeline session anyway: aws/sagemaker-python-sdk#5776)."""
    from sagemaker.core.workflow.pipeline_definition_config import PipelineDefinitionConfig
    from sagemaker.mlops.workflow import Pipeline

    pipeline = Pipeline(
        name=name,
        steps=steps,
        sagemaker_session=session,
        pipeline_definition_config=PipelineDefinitionConfig(use_custom_job_prefix=True),
    )
    definition = json.loads(pipeline.definition())
    definition.pop("PipelineExperimentConfig", None)  # experiments are not used; keeps the plan quiet
    for step in _all_steps(definition["Steps"]):
        if step["Name"] in job_prefixes:
            step["Arguments"][JOB_NAME_FIELDS[step["Type"]]] = job_prefixes[step["Name"]]
    return json.dumps(definition, sort_keys=True)


def _all_steps(steps: list) -> list:
    found = []
    for step in steps:
        found.append(step)
        arguments = step.get("Arguments", {})
        found += _all_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))
    return found


@lru_cache(maxsize=None)
def framework_image(framework_version: str, region: str, instance_type: str, scope: str) -> str:
    """The image the SDK names: the newest Python its catalogue offers for the version."""
    quiet_sagemaker_sdk(region)
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework("pytorch")[scope]
    version = config.get("version_aliases", {}).get(framework_version, framework_version)
    if version not in config["versions"]:
        raise ValueError(f"no AWS PyTorch {scope} image for version {framework_version}")
    py_version = sorted(config["versions"][version]["py_versions"])[-1]
    return image_uris.retrieve(
        framework="pytorch",
        region=region,
        version=framework_version,
        py_version=py_version,
        instance_type=instance_type,
        image_scope=scope,
    )


def pipeline_definition(spec: ModelSpec, where: PipelineLocations) -> str:
    """The retraining pipeline (`modelform.training_pipeline.pipeline_definition`), by the SDK."""
    training, data = trained_on_sagemaker(spec), spec.data
    assert data is not None
    quiet_sagemaker_sdk(where.platform.region)
    from sagemaker.core.network import NetworkConfig
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
    hyperparameters = training_hyperparameters(spec, where)
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
            network_config=NetworkConfig(
                enable_network_isolation=True,
                subnets=list(where.platform.subnet_ids),
                security_group_ids=list(where.platform.training_security_group_ids),
            ),
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
                    s3_input("test", str(evaluation_data(spec)), "/opt/ml/processing/test"),
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
                arguments=list(EVALUATION_ARGUMENTS),
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
        failed = FailStep(
            name="GateFailed",
            error_message=gate_failure_message(gate),
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


def monitoring_pipeline_definition(spec: ModelSpec, where: Resolved, *, role_arn: str, code_prefix: str) -> str:
    """The monitoring pipeline (`modelform.monitoring.monitoring_pipeline_definition`), by the SDK."""
    quiet_sagemaker_sdk(where.region)
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import Processor
    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

    session = offline_session(where.region, where.artifact_bucket)
    image = framework_image(spec.model.framework_version, where.region, MONITORING_INSTANCE_TYPE, "training")

    def s3_input(name: str, uri: str, local: str) -> ProcessingInput:
        return ProcessingInput(
            input_name=name,
            s3_input=ProcessingS3Input(s3_uri=uri, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"),
        )

    def step(job: MonitoringJob):
        processor = Processor(
            role=role_arn,
            image_uri=image,
            instance_count=1,
            instance_type=MONITORING_INSTANCE_TYPE,
            entrypoint=["python3", "-m", "monitoring"],
            volume_kms_key=where.kms_key_arn,
            output_kms_key=where.kms_key_arn,
            max_runtime_in_seconds=3600,
            base_job_name=naming.monitoring_job_prefix(spec.name),
            sagemaker_session=session,
            env={"PYTHONPATH": "/opt/ml/processing/input/code-lib", "AWS_DEFAULT_REGION": where.region},
            network_config=NetworkConfig(
                subnets=list(where.subnet_ids), security_group_ids=list(where.security_group_ids)
            ),
        )
        inputs = [s3_input(*location) for location in job.inputs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = processor.run(inputs=inputs, arguments=list(job.arguments))
            return processing_step(name=job.step, step_args=run)

    steps = [step(job) for job in monitoring_jobs(spec, where, code_prefix)]
    prefixes = {step.name: naming.monitoring_job_prefix(spec.name) for step in steps}
    return definition_text(naming.monitoring_pipeline(spec.name), steps, session, prefixes)
