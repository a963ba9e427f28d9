"""SageMaker pipeline definitions (Pipelines schema 2020-12-01), written as data.

The retraining and the monitoring pipelines are a few steps each whose requests are the SageMaker
API's own (CreateTrainingJob, CreateProcessingJob, CreateModelPackage), so they are written here
directly, in the shape the sagemaker SDK gives them: building them through the SDK costs seconds
of imports and a tenth of a second per model, in every plan. tests/sdk_reference.py builds every
definition again through the SDK's step classes, and the tests require both to be the same text.

Every step that starts a job names it: without a job name in a step's request, Pipelines names the
job `pipelines-<execution>-<step>-...`, which no role scoped to the model's own job names could
start; with one, that name is the prefix of the name AWS assigns (`<prefix>-<suffix>`).
"""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

VERSION = "2020-12-01"
#: What SageMaker gives a processing job's container, per processing step.
PROCESSING_VOLUME_GB = 30
PROCESSING_MAX_RUNTIME_SECONDS = 3600
#: Where a processing job finds the script it runs (a `code` input the step adds).
PROCESSING_CODE_FOLDER = "/opt/ml/processing/input/code"

Json = dict[str, Any]


def definition_text(steps: Sequence[Json]) -> str:
    """The definition of a pipeline of `steps`, as canonical JSON (sorted keys): no parameters
    (every value is fixed by the spec), no experiment tracking."""
    definition = {"Metadata": {}, "MlflowConfig": None, "Parameters": [], "Steps": list(steps), "Version": VERSION}
    return json.dumps(definition, sort_keys=True)


def step_property(path: str) -> Json:
    """A value another step produces, read when the pipeline runs: `Steps.<step>.<property>`."""
    return {"Get": f"Steps.{path}"}


def s3_input(name: str, uri: Any, local_path: str) -> Json:
    """A processing input: everything under an S3 prefix (or one object), copied in before the job."""
    return {
        "InputName": name,
        "S3Input": {
            "LocalPath": local_path,
            "S3CompressionType": "None",
            "S3DataDistributionType": "FullyReplicated",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3Uri": uri,
        },
    }


def s3_output(name: str, uri: str, local_path: str) -> Json:
    """A processing output, uploaded when the job ends."""
    return {"OutputName": name, "S3Output": {"LocalPath": local_path, "S3UploadMode": "EndOfJob", "S3Uri": uri}}


def processing_step(
    name: str,
    *,
    job_name: str,
    role_arn: str,
    image: str,
    instance_type: str,
    kms_key_arn: str,
    entrypoint: list[str],
    arguments: list[str],
    inputs: list[Json],
    environment: dict[str, str],
    script: Optional[str] = None,
    outputs: Sequence[Json] = (),
    vpc: tuple[Sequence[str], Sequence[str]],
    isolated: bool,
    property_files: Sequence[Json] = (),
) -> Json:
    """A `Processing` step: one instance of `instance_type` running `entrypoint` in `image` in the
    VPC (`vpc`: subnets, security groups), with KMS on its volume and outputs; `isolated`: the
    container can make no network calls at all (SageMaker still stages its inputs and outputs).
    `script` (an S3 object) becomes the last input, `code`, and the entrypoint's last argument."""
    if script is not None:
        inputs = [*inputs, s3_input("code", script, PROCESSING_CODE_FOLDER)]
        entrypoint = [*entrypoint, f"{PROCESSING_CODE_FOLDER}/{script.rsplit('/', 1)[-1]}"]
    request: Json = {
        "AppSpecification": {"ContainerArguments": arguments, "ContainerEntrypoint": entrypoint, "ImageUri": image},
        "Environment": environment,
        "ProcessingInputs": inputs,
        "ProcessingJobName": job_name,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": instance_type,
                "VolumeKmsKeyId": kms_key_arn,
                "VolumeSizeInGB": PROCESSING_VOLUME_GB,
            }
        },
        "RoleArn": role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": PROCESSING_MAX_RUNTIME_SECONDS},
    }
    if outputs:
        request["ProcessingOutputConfig"] = {"KmsKeyId": kms_key_arn, "Outputs": list(outputs)}
    subnets, security_groups = vpc
    request["NetworkConfig"] = {
        "EnableNetworkIsolation": isolated,
        "VpcConfig": {"SecurityGroupIds": list(security_groups), "Subnets": list(subnets)},
    }
    step: Json = {"Arguments": request, "Name": name, "Type": "Processing"}
    if property_files:
        step["PropertyFiles"] = list(property_files)
    return step


def hyperparameter_text(value: Any) -> str:
    """How a training job receives a hyperparameter: strings as they are, anything else as JSON
    (`true`, `0.001`), which the training toolkit parses back."""
    return value if isinstance(value, str) else json.dumps(value)
