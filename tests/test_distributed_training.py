"""Data-parallel training in the plan: the world size derived from the instances and their GPUs,
validated, and carried by the SageMaker training request (torch_distributed) and the EKS train Job
(an Indexed Job with a rendezvous Service), both checked against AWS's and Kubernetes' schemas."""

from __future__ import annotations

import json
import re

import botocore.session
import kubernetes_validate
import pytest
from botocore.validate import ParamValidator

from model_code import eks_job
from modelform.plan import plan_environment
from tests.conftest import resources_of, specs_with


def train_request(plan: dict, model: str) -> dict:
    """The arguments of the Train step of `model`'s retraining pipeline (a CreateTrainingJob request)."""
    pipeline = resources_of(plan, f"{model}.{plan['env']}")[f"{model}-training-pipeline"]
    (train,) = [s for s in json.loads(pipeline["inputs"]["pipelineDefinition"])["Steps"] if s["Name"] == "Train"]
    return train["Arguments"]


def sagemaker_on_two_p4d():
    return specs_with(
        "fraud-detector.yaml",
        "  instance_type: ml.g5.2xlarge\n  instance_count: 2\n",
        "  instance_type: ml.p4d.24xlarge\n  instance_count: 2\n",
    )


def test_two_eight_gpu_instances_make_sixteen_ranks():
    specs = sagemaker_on_two_p4d()
    assert specs.errors == []
    training = specs.model("fraud-detector", "prod").training
    assert (training.instance_count, training.processes_per_instance, training.world_size) == (2, 8, 16)


def test_the_sagemaker_training_request_runs_torchrun_on_sixteen_ranks():
    specs = sagemaker_on_two_p4d()
    plan = plan_environment(specs, "prod", models=["fraud-detector"], progress=False)
    request = train_request(plan, "fraud-detector")
    hyperparameters = request["HyperParameters"]
    assert hyperparameters["sagemaker_torch_distributed_enabled"] == "true"
    assert hyperparameters["sagemaker_instance_type"] == "ml.p4d.24xlarge"
    assert hyperparameters["world_size"] == "16"  # train.py refuses any other launch
    assert request["ResourceConfig"]["InstanceCount"] == 2
    assert request["EnableInterContainerTrafficEncryption"] is True
    # The step's arguments are a CreateTrainingJob request: botocore's model of the API accepts it.
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob")
    concrete = {**request, "TrainingJobName": "fraud-detector-train-x"}
    report = ParamValidator().validate(concrete, shape.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_one_gpu_per_instance_on_one_instance_stays_a_single_process(sample_plans):
    # demand-forecaster trains on one ml.g5.4xlarge (one GPU): no launcher, no world size.
    request = train_request(sample_plans["prod"], "demand-forecaster")
    assert "sagemaker_torch_distributed_enabled" not in request["HyperParameters"]


def eks_on_two_p4d():
    return specs_with(
        "car-damage-estimator.yaml",
        "  instance_count: 1\n  max_runtime: 12h",
        "  instance_count: 2\n  max_runtime: 12h",
    )


def test_the_eks_train_job_is_an_indexed_job_over_two_nodes_of_eight_gpus():
    specs = eks_on_two_p4d()
    assert specs.errors == []
    plan = plan_environment(specs, "prod", models=["car-damage-estimator"], progress=False)
    resources = resources_of(plan, "car-damage-estimator.prod")
    states = json.loads(resources["car-damage-estimator-training-state-machine"]["inputs"]["definition"])["States"]
    job = states["Train"]["Parameters"]["Job"]
    concrete = json.loads(re.sub(r'"(\w+)\.\$"', r'"\1"', json.dumps(job)))
    kubernetes_validate.validate(
        concrete, specs.platform("prod").cluster("gpu-training").kubernetes_version, strict=True
    )
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == "car-damage-estimator-train"
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
    arguments = container["args"]
    assert arguments[arguments.index("--nodes") : arguments.index("--")] == [
        "--nodes",
        "2",
        "--processes-per-node",
        "8",
        "--rendezvous",
        "car-damage-estimator-train:29500",
    ]
    assert arguments[-2:] == ["--world_size", "16"]
    assert {
        "name": "JOB_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}},
    } in container["env"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    service = resources["car-damage-estimator-training-rendezvous-service"]["inputs"]
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == pod_labels(job)
    kubernetes_validate.validate(service, "1.31", strict=True)


def pod_labels(job: dict) -> dict:
    return job["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize(
    "name, old, new, message",
    [
        (
            "fraud-detector.yaml",
            "batch_size: 1024",
            "batch_size: 1000",
            "training.hyperparameters.batch_size: batch_size 1000 does not split over the 16 ranks "
            "(2 instance(s) x 8 GPU(s)): each rank takes an equal part of every batch",
        ),
        (
            "fraud-detector.yaml",
            "  instance_type: ml.p4d.24xlarge\n",
            "  instance_type: ml.g6e.12xlarge\n",
            "training.instance_type: how many GPUs 'ml.g6e.12xlarge' has is not known here, and training on 2 "
            "instances runs one process per GPU: choose a listed GPU type",
        ),
    ],
)
def test_data_parallel_rules(name, old, new, message):
    base = sagemaker_on_two_p4d()
    assert base.errors == []
    specs = specs_with(name, "  instance_type: ml.g5.2xlarge\n", "  instance_type: ml.p4d.24xlarge\n", old, new)
    assert [f"{e.path}: {e.message}" for e in specs.errors] == [message]


def test_an_eks_node_group_must_hold_a_node_per_training_pod():
    specs = specs_with(
        "car-damage-estimator.yaml",
        "  instance_count: 1\n  max_runtime: 12h",
        "  instance_count: 5\n  max_runtime: 12h",
    )
    assert [f"{e.path}: {e.message}" for e in specs.errors] == [
        "training.instance_count: 5 training pods need as many nodes, one each; node group 'a100' of cluster "
        "'gpu-training' holds at most 4",
        "training.hyperparameters.batch_size: batch_size 256 does not split over the 40 ranks (5 instance(s) x "
        "8 GPU(s)): each rank takes an equal part of every batch",
    ]


def test_the_job_step_launches_torchrun_for_its_node(monkeypatch):
    assert eks_job.launcher(1, 1, None)[1:] == ["train.py"]
    assert eks_job.launcher(1, 8, None)[1:] == [
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "8",
        "--standalone",
        "--nnodes",
        "1",
        "train.py",
    ]
    monkeypatch.setenv("JOB_NAME", "train-abc")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    assert eks_job.launcher(2, 8, "m-train:29500")[1:] == [
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "8",
        "--nnodes",
        "2",
        "--node-rank",
        "1",
        "--master-addr",
        "train-abc-0.m-train",
        "--master-port",
        "29500",
        "train.py",
    ]
    monkeypatch.delenv("JOB_NAME")
    with pytest.raises(eks_job.JobError, match="needs --rendezvous, JOB_NAME and JOB_COMPLETION_INDEX"):
        eks_job.launcher(2, 8, "m-train:29500")


def test_training_instances_may_reach_each_other_and_nothing_else_may_reach_them(sample_plans):
    group = resources_of(sample_plans["prod"], "acme-ml.prod")["acme-ml-training"]["inputs"]
    between = {
        "description": "Training instances of one job to each other (NCCL, EFA)",
        "fromPort": 0,
        "protocol": "-1",
        "self": True,
        "toPort": 0,
    }
    assert group["ingress"] == [between]  # only its own members, on every protocol (EFA needs all)
    assert between in group["egress"]
    assert [r for r in group["egress"] if r != between] == [
        r for r in resources_of(sample_plans["prod"], "acme-ml.prod")["acme-ml-models"]["inputs"]["egress"]
    ]
    request = train_request(sample_plans["prod"], "fraud-detector")
    assert request["VpcConfig"]["SecurityGroupIds"] == ["<acme-ml-training.id>"]
