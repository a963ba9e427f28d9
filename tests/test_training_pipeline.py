"""The retraining pipeline of every sample spec: a reviewed snapshot of the definition, and the
points that matter pinned explicitly (steps, instance type and count, spot, gate, approval)."""

from __future__ import annotations

import json
import re
import tarfile

import pytest

from modelform.source_archive import build_source_archive, source_files
from tests.conftest import REPO, resources_of
from tests.snapshots.update import without_code_version

PIPELINE = "aws:sagemaker/pipeline:Pipeline"


def definition(plan: dict, model: str) -> dict:
    pipeline = resources_of(plan, f"{model}.{plan['env']}", PIPELINE)[f"{model}-training-pipeline"]
    return json.loads(pipeline["inputs"]["pipelineDefinition"])


@pytest.mark.parametrize("model", ["fraud-detector", "demand-forecaster"])
def test_pipeline_matches_the_reviewed_snapshot(sample_plans, model):
    expected = json.loads((REPO / "tests" / "snapshots" / f"pipeline-{model}.json").read_text())
    actual = json.loads(without_code_version(json.dumps(definition(sample_plans["prod"], model))))
    assert actual == expected, "review the change, then run `make snapshots`"


@pytest.mark.parametrize(
    "model, instance_type, count, spot_wait, gate, approval",
    [
        (
            "fraud-detector",
            "ml.g5.2xlarge",
            2,
            28800,
            ("metrics.auc", "GreaterThanOrEqualTo", 0.85),
            "PendingManualApproval",
        ),
        ("demand-forecaster", "ml.g5.4xlarge", 1, 43200, ("metrics.rmse", "LessThanOrEqualTo", 850.0), "Approved"),
    ],
)
def test_train_evaluate_gate_register(sample_plans, model, instance_type, count, spot_wait, gate, approval):
    steps = definition(sample_plans["prod"], model)["Steps"]
    assert [s["Name"] for s in steps] == ["Train", "Evaluate", "QualityGate"]
    train = steps[0]["Arguments"]
    assert (train["ResourceConfig"]["InstanceType"], train["ResourceConfig"]["InstanceCount"]) == (instance_type, count)
    assert (
        train["EnableManagedSpotTraining"] is True and train["StoppingCondition"]["MaxWaitTimeInSeconds"] == spot_wait
    )
    assert train["CheckpointConfig"]["S3Uri"] == f"s3://<acme-ml-artifacts.bucket>/{model}/checkpoints/"
    assert train["EnableNetworkIsolation"] is True and train["EnableInterContainerTrafficEncryption"] is (count > 1)
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == train["OutputDataConfig"]["KmsKeyId"] == "<acme-ml-key.arn>"
    assert train["HyperParameters"]["sagemaker_program"] == "train.py"
    assert train["RoleArn"] == f"arn:aws:iam::<aws.accountId>:role/{model}-sagemaker-training"
    assert [c["ChannelName"] for c in train["InputDataConfig"]] == ["code", "train", "validation"]
    # The evaluation runs the model's own code too: no network at all, in the VPC, as training.
    evaluate = steps[1]["Arguments"]
    assert evaluate["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "VpcConfig": {
            "SecurityGroupIds": ["<acme-ml-training.id>"],
            "Subnets": ["<acme-ml-private-1.id>", "<acme-ml-private-2.id>", "<acme-ml-private-3.id>"],
        },
    }
    assert evaluate["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "<acme-ml-key.arn>"
    (condition,) = steps[2]["Arguments"]["Conditions"]
    assert (condition["LeftValue"]["Std:JsonGet"]["Path"], condition["Type"], condition["RightValue"]) == gate
    (register,) = steps[2]["Arguments"]["IfSteps"]
    (failed,) = steps[2]["Arguments"]["ElseSteps"]
    assert (register["Type"], failed["Type"]) == ("RegisterModel", "Fail")
    request = register["Arguments"]
    assert request["ModelPackageGroupName"] == model and request["ModelApprovalStatus"] == approval
    assert request["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == {
        "Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"
    }
    metadata = request["CustomerMetadataProperties"]
    assert set(metadata) == {"modelform:code_version", "modelform:data_version", "modelform:training_data"}


def test_eks_training_is_a_state_machine_not_a_sagemaker_pipeline(sample_plans):
    resources = resources_of(sample_plans["prod"], "car-damage-estimator.prod")
    pipelines = [r["inputs"]["pipelineName"] for r in resources.values() if r["type"] == PIPELINE]
    assert pipelines == ["car-damage-estimator-monitoring"]  # monitoring of its EKS capture; no training pipeline
    machine = resources["car-damage-estimator-training-state-machine"]["inputs"]
    assert (
        machine["name"] == "car-damage-estimator-retraining"
        and machine["roleArn"] == "<car-damage-estimator-training-role.arn>"
    )
    states = json.loads(machine["definition"])["States"]
    assert json.loads(machine["definition"])["StartAt"] == "Train"
    assert (states["Train"]["Resource"], states["Train"]["Next"]) == ("arn:aws:states:::eks:runJob.sync", "Evaluate")
    assert states["QualityGate"]["Choices"] == [
        {"Variable": "$.evaluation.report.metrics.mae", "NumericLessThanEquals": 420.0, "Next": "Register"}
    ]
    assert states["Register"]["Parameters"]["ModelApprovalStatus"] == "PendingManualApproval"
    assert states["Register"]["Parameters"]["ModelPackageGroupName"] == "car-damage-estimator"
    parameters = states["Train"]["Parameters"]
    assert (parameters["ClusterName"], parameters["Namespace"]) == ("acme-ml-gpu-training", "training")
    assert parameters["Endpoint"] == "<acme-ml-gpu-training-control-plane.endpoint>"
    access = resources["car-damage-estimator-training-access-policy"]["inputs"]
    assert access["accessScope"] == {"type": "namespace", "namespaces": ["training"]}


def test_eks_training_jobs_validate_and_land_on_the_gpu_group(sample_plans, sample_specs):
    import kubernetes_validate

    states = json.loads(
        resources_of(sample_plans["prod"], "car-damage-estimator.prod")["car-damage-estimator-training-state-machine"][
            "inputs"
        ]["definition"]
    )["States"]
    for state in ("Train", "Evaluate"):
        job = states[state]["Parameters"]["Job"]
        assert job["metadata"]["name.$"] == f"States.Format('{state.lower()}-{{}}', $$.Execution.Name)"
        concrete = json.loads(re.sub(r'"(\w+)\.\$"', r'"\1"', json.dumps(job)))  # Step Functions fills these in
        kubernetes_validate.validate(
            concrete, sample_specs.platform("prod").cluster("gpu-training").kubernetes_version, strict=True
        )
        pod = job["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {
            "modelform/node-group": "a100",
            "node.kubernetes.io/instance-type": "p4d.24xlarge",
        }
        assert pod["tolerations"][0]["key"] == "nvidia.com/gpu" and pod["automountServiceAccountToken"] is False
        # Training takes every GPU of its p4d.24xlarge (one rank each); evaluation needs one.
        gpus = {"Train": "8", "Evaluate": "1"}[state]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert job["spec"]["activeDeadlineSeconds"] == 12 * 3600 and job["spec"]["backoffLimit"] == 3
    train = states["Train"]["Parameters"]["Job"]["spec"]["template"]["spec"]
    assert train["containers"][0]["command"] == ["python"]
    assert train["containers"][0]["args"] == [
        "/opt/ml/code/eks_job.py",
        "train",
        "--bucket",
        "<acme-ml-artifacts.bucket>",
        "--model-key",
        "car-damage-estimator/models/eks/train-{execution}/model.tar.gz",
        "--nodes",
        "1",
        "--processes-per-node",
        "8",
        "--",
        "--batch_size",
        "256",
        "--epochs",
        "40",
        "--label",
        "repair_cost_eur",
        "--lr",
        "0.0003",
        "--problem_type",
        "regression",
        "--checkpoint-dir",
        "/opt/ml/checkpoints",
        "--world_size",
        "8",
    ]
    assert {"name": "EXECUTION", "value.$": "$$.Execution.Name"} in train["containers"][0]["env"]
    assert train["initContainers"][0]["args"][:4] == ["-m", "model_code.eks_job", "fetch", "--code"]
    assert train["initContainers"][0]["args"][-2:] == [
        "--channel",
        "validation=s3://acme-claims-data/damage/validation/=/opt/ml/input/data/validation",
    ]


def test_code_is_uploaded_as_a_versioned_archive_and_files(sample_plans):
    objects = resources_of(sample_plans["prod"], "fraud-detector.prod", "aws:s3/bucketObjectv2:BucketObjectv2")
    archive = objects["fraud-detector-code-archive"]["inputs"]
    version = archive["key"].split("/")[2]
    assert archive["key"] == f"fraud-detector/code/{version}/sourcedir.tar.gz" and len(version) == 12
    assert archive["serverSideEncryption"] == "aws:kms" and archive["kmsKeyId"] == "<acme-ml-key.arn>"
    assert archive["source"] == {"fileAsset": f".modelform/build/sourcedir-{version}.tar.gz"}
    assert sorted(o["inputs"]["key"].split(f"/code/{version}/", 1)[1] for o in objects.values()) == sorted(
        [
            "sourcedir.tar.gz",
            "__init__.py",
            "batch_score.py",
            "capacity_scheduler.py",
            "eks_job.py",
            "evaluate.py",
            "inference.py",
            "metrics.py",
            "retraining_guard.py",
            "tabular.py",
            "train.py",
            "monitoring/__init__.py",
            "monitoring/__main__.py",
            "monitoring/drift.py",
            "monitoring/job.py",
        ]
    )


def test_training_role_reads_only_its_data_and_prefixes(sample_plans):
    policy = resources_of(sample_plans["prod"], "fraud-detector.prod")["fraud-detector-training-role-policy"]
    statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
    assert statements["ReadTrainingData"]["Resource"] == [
        "arn:aws:s3:::acme-ml-data/fraud/labels/*",
        "arn:aws:s3:::acme-ml-data/fraud/train/*",
        "arn:aws:s3:::acme-ml-data/fraud/validation/*",
    ]
    assert statements["OwnArtifacts"]["Resource"] == ["arn:aws:s3:::<acme-ml-artifacts.bucket>/fraud-detector/*"]
    assert statements["RegisterIntoOwnGroup"]["Resource"] == [
        "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package-group/fraud-detector",
        "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package/fraud-detector/*",
    ]
    assert statements["PassOnlyItself"]["Resource"] == [
        "arn:aws:iam::<aws.accountId>:role/fraud-detector-sagemaker-training"
    ]


def test_source_archive_is_reproducible_and_excludes_what_must_not_ship(tmp_path):
    first = build_source_archive(str(REPO / "model_code"), str(tmp_path / "a"))
    second = build_source_archive(str(REPO / "model_code"), str(tmp_path / "b"))
    assert first.sha256 == second.sha256 and first.version == first.sha256[:12]
    assert "requirements.txt" not in first.files and not any("__pycache__" in f for f in first.files)
    with tarfile.open(first.path) as tar:
        assert sorted(tar.getnames()) == sorted(first.files)
        assert {m.mtime for m in tar.getmembers()} == {0}
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("print(1)\n")
    (tmp_path / "code" / "notes.pyc").write_bytes(b"x")
    assert source_files(str(tmp_path / "code")) == ["train.py"]
