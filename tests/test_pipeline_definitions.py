"""The plan writes SageMaker pipeline definitions and names AWS's PyTorch images itself; the sagemaker
SDK builds the same (tests/sdk_reference.py). For the samples and every shape a spec can give a
pipeline, both must be the same text, so the plan's definitions are the SDK's, without the SDK."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from types import MappingProxyType

import pytest

from modelform import images, monitoring, training_pipeline
from modelform.context import Resolved
from modelform.spec import Approval, Backend, Bound, ModelSpec, Shadow, Target
from modelform.spec.aws_catalog import IMAGE_SCOPES, pytorch_versions
from modelform.training_pipeline import PipelineLocations
from tests import sdk_reference
from tests.conftest import REPO


def platform(region: str = "us-east-1") -> Resolved:
    """Values shaped like the platform's (the plan's placeholders look alike)."""
    return Resolved(
        region=region,
        account_id="123456789012",
        artifact_bucket="acme-ml-artifacts-0f3a",
        capture_bucket="acme-ml-capture-9c1d",
        kms_key_arn=f"arn:aws:kms:{region}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        vpc_id="vpc-0abc",
        subnet_ids=("subnet-1", "subnet-2", "subnet-3"),
        security_group_ids=("sg-models",),
        serving_repository="",
        training_security_group_ids=("sg-training",),
    )


def locations(spec: ModelSpec, where: Resolved) -> PipelineLocations:
    role = f"arn:aws:iam::{where.account_id}:role/{spec.name}-sagemaker-training"
    return PipelineLocations(
        where, role, f"s3://{where.artifact_bucket}/{spec.name}/code/e3b40b8a88ec/", "e3b40b8a88ec"
    )


def assert_same_training_definition(spec: ModelSpec, where: Resolved) -> dict:
    ours = training_pipeline.pipeline_definition(spec, locations(spec, where))
    reference = sdk_reference.pipeline_definition(spec, locations(spec, where))
    assert json.loads(ours) == json.loads(reference)  # a readable difference first ...
    assert ours == reference  # ... then the very text
    return json.loads(ours)


def assert_same_monitoring_definition(spec: ModelSpec, where: Resolved) -> dict:
    arguments = dict(role_arn=f"arn:aws:iam::{where.account_id}:role/m", code_prefix="s3://a/m/code/1/")
    ours = monitoring.monitoring_pipeline_definition(spec, where, **arguments)
    reference = sdk_reference.monitoring_pipeline_definition(spec, where, **arguments)
    assert json.loads(ours) == json.loads(reference)
    assert ours == reference
    return json.loads(ours)


@pytest.fixture(scope="module")
def fraud(sample_specs) -> ModelSpec:
    return sample_specs.model("fraud-detector", "prod")


# --- the samples ----------------------------------------------------------------------------------


def test_every_sample_pipeline_is_the_sdks(sample_specs):
    built = 0
    for environment in sample_specs.environments:
        for spec in sample_specs.models(environment):
            if spec.training is not None and spec.training.backend is Backend.SAGEMAKER:
                assert_same_training_definition(spec, platform())
                built += 1
            if spec.monitoring is not None:
                assert_same_monitoring_definition(spec, platform())
                built += 1
    assert built >= 9  # three environments of the samples' retraining and monitoring pipelines


# --- every shape of the retraining pipeline -------------------------------------------------------


def with_training(spec: ModelSpec, **changes) -> ModelSpec:
    assert spec.training is not None
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, **changes))


def with_data(spec: ModelSpec, **changes) -> ModelSpec:
    assert spec.data is not None
    return dataclasses.replace(spec, data=dataclasses.replace(spec.data, **changes))


@pytest.mark.parametrize(
    "gate",
    [None, Bound("auc", 0.8, None), Bound("rmse", None, 850.0), Bound("auc", 0.8, 0.99)],
    ids=["no gate", "min", "max", "min and max"],
)
def test_quality_gates(fraud, gate):
    definition = assert_same_training_definition(with_training(fraud, evaluation=gate), platform())
    names = [step["Name"] for step in definition["Steps"]]
    assert names == (["Train", "Evaluate", "Register"] if gate is None else ["Train", "Evaluate", "QualityGate"])


def test_on_demand_single_instance_training(fraud):
    spec = with_training(fraud, spot=False, max_wait_seconds=None, instance_count=1, instance_type="ml.m5.4xlarge")
    train = assert_same_training_definition(spec, platform())["Steps"][0]["Arguments"]
    assert train["EnableManagedSpotTraining"] is False and "MaxWaitTimeInSeconds" not in train["StoppingCondition"]
    assert train["EnableInterContainerTrafficEncryption"] is False
    assert "world_size" not in train["HyperParameters"]


def test_distributed_training_on_gpus(fraud):
    spec = with_training(fraud, instance_count=4, instance_type="ml.p4d.24xlarge")
    train = assert_same_training_definition(spec, platform())["Steps"][0]["Arguments"]
    assert train["HyperParameters"]["world_size"] == "32"
    assert train["EnableInterContainerTrafficEncryption"] is True


def test_hyperparameters_of_every_type(fraud):
    values = {"name": "resnet", "epochs": 10, "lr": 1e-05, "momentum": 0.9, "amp": True, "shuffle": False, "n": "7"}
    spec = with_training(fraud, hyperparameters=MappingProxyType(values))
    train = assert_same_training_definition(spec, platform())["Steps"][0]["Arguments"]
    assert train["HyperParameters"]["lr"] == "1e-05" and train["HyperParameters"]["amp"] == "true"
    assert train["HyperParameters"]["name"] == "resnet" and train["HyperParameters"]["n"] == "7"


@pytest.mark.parametrize("kept", ["validation", "ground_truth", "training"])
def test_evaluation_reads_the_best_data_there_is(fraud, kept):
    absent = {field: None for field in ("validation", "ground_truth") if field != kept}
    spec = with_data(fraud, **absent)
    definition = assert_same_training_definition(spec, platform())
    channels = [c["ChannelName"] for c in definition["Steps"][0]["Arguments"]["InputDataConfig"]]
    assert channels == (["code", "train", "validation"] if kept == "validation" else ["code", "train"])
    test = definition["Steps"][1]["Arguments"]["ProcessingInputs"][1]["S3Input"]["S3Uri"]
    assert test == str(getattr(spec.data, kept))


def test_automatic_approval_and_deployments_without_instance_types(sample_specs, fraud):
    eks_only = sample_specs.model("car-damage-estimator", "prod")
    assert all(d.target is Target.EKS for d in eks_only.deployments)
    assert fraud.retraining is not None
    automatic = dataclasses.replace(fraud.retraining, approval=Approval.AUTO)
    spec = dataclasses.replace(fraud, retraining=automatic, deployments=eks_only.deployments)
    definition = assert_same_training_definition(spec, platform())
    register = definition["Steps"][2]["Arguments"]["IfSteps"][0]["Arguments"]
    assert register["ModelApprovalStatus"] == "Approved"
    assert register["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]


@pytest.mark.parametrize("region", ["eu-west-1", "cn-north-1", "us-gov-west-1"])
def test_other_partitions_and_regions(fraud, region):
    definition = assert_same_training_definition(fraud, platform(region))
    image = definition["Steps"][0]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]
    assert f".dkr.ecr.{region}.amazonaws.com" in image


# --- every shape of the monitoring pipeline -------------------------------------------------------


def with_monitoring(spec: ModelSpec, **changes) -> ModelSpec:
    assert spec.monitoring is not None
    return dataclasses.replace(spec, monitoring=dataclasses.replace(spec.monitoring, **changes))


def test_monitoring_without_drift_or_quality(fraud):
    spec = with_monitoring(fraud, drift=None, quality=())
    step = assert_same_monitoring_definition(spec, platform())["Steps"][0]["Arguments"]
    assert "--ground-truth" not in step["AppSpecification"]["ContainerArguments"]
    assert [i["InputName"] for i in step["ProcessingInputs"]] == ["code-lib", "baseline", "current"]
    # In the VPC, on the models' security group; not isolated: it publishes to CloudWatch.
    assert step["NetworkConfig"] == {
        "EnableNetworkIsolation": False,
        "VpcConfig": {"SecurityGroupIds": ["sg-models"], "Subnets": ["subnet-1", "subnet-2", "subnet-3"]},
    }


def test_monitoring_of_shadows_on_both_targets(sample_specs, fraud):
    car = sample_specs.model("car-damage-estimator", "prod")
    shadow = Shadow("challenger", 7, None, 10)
    deployments = tuple(
        dataclasses.replace(d, name=name, shadow=shadow, data_capture_percent=50)
        for name, d in (("hosted", fraud.deployments[0]), ("on-eks", car.deployments[0]))
    )
    spec = dataclasses.replace(fraud, deployments=deployments)
    steps = assert_same_monitoring_definition(spec, platform())["Steps"]
    assert len(steps) == 4  # a step per deployment and one per shadow


def test_unmonitored_deployments_have_no_step(fraud):
    quiet = dataclasses.replace(fraud.deployments[0], name="quiet", data_capture_percent=0)
    spec = dataclasses.replace(fraud, deployments=(*fraud.deployments, quiet))
    steps = assert_same_monitoring_definition(spec, platform())["Steps"]
    assert "Monitor-quiet" not in [step["Name"] for step in steps]


def test_drift_on_named_features(fraud):
    assert fraud.monitoring is not None and fraud.monitoring.drift is not None
    spec = with_monitoring(fraud, drift=dataclasses.replace(fraud.monitoring.drift, features=("amount", "merchant")))
    step = assert_same_monitoring_definition(spec, platform("eu-west-1"))["Steps"][0]["Arguments"]
    assert step["AppSpecification"]["ContainerArguments"][-4:-2] == ["--features", "amount,merchant"]


# --- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", IMAGE_SCOPES)
def test_images_are_the_ones_the_sdk_names(scope):
    versions = pytorch_versions(scope)
    for version in (versions[0], versions[-1], "2.6"):
        for region in ("us-east-1", "eu-west-1", "cn-northwest-1", "us-gov-east-1"):
            for instance_type in ("ml.m5.xlarge", "ml.g5.xlarge", "ml.p4d.24xlarge", "ml.c6i.2xlarge"):
                expected = sdk_reference.framework_image(version, region, instance_type, scope)
                assert images.framework_image(version, region, instance_type, scope) == expected


def test_a_missing_image_is_named():
    with pytest.raises(ValueError, match="no PyTorch 1.13 training image in us-east-1"):
        images.framework_image("1.13", "us-east-1", "ml.m5.xlarge", "training")


def test_planning_imports_no_sagemaker_sdk():
    script = (
        "import sys; from modelform.plan import plan_environment; from modelform.spec import load_specs; "
        "plan_environment(load_specs(['tests/fixtures/specs'], root='.'), 'prod', progress=False); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sagemaker', 'botocore', 'boto3'}))"
    )
    environment = {"MODELFORM_CACHE": "off", "MODELFORM_SPEC_CACHE": "off", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, env=environment, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
