"""`backend: eks` training: a Step Functions state machine that trains and evaluates as Kubernetes
Jobs on the platform's training cluster, gates on quality and registers the model package.

States of `<model>-retraining`:
1. `Train` — `eks:runJob.sync`: a Job named `train-<execution>` on the node group offering
   `training.instance_type` with the capacity `training.spot` asks for (GPU toleration when it is
   a GPU group). The steps are `model_code/eks_job.py`: an init container (the serving image)
   fetches the code archive and the data channels from S3; the training image (the AWS PyTorch
   training image for `model.framework_version`) runs `train.py` with the spec's hyperparameters
   and uploads `model.tar.gz` to `<artifacts>/<model>/models/eks/train-<execution>/`;
   `activeDeadlineSeconds` = `max_runtime`, `backoffLimit` 3 (a spot node lost mid-run is retried).
2. `Evaluate` — the same way, `evaluate.py` writes `evaluation.json` to
   `<artifacts>/<model>/evaluations/eks/evaluate-<execution>/`.
3. `ReadEvaluation` → `QualityGate` (a Choice on `training.evaluation`) → `Register`
   (`sagemaker:createModelPackage`, approval per `retraining.approval`, code and data versions as
   metadata) or `GateFailed`.
The pods run as a service account whose IAM role reads only the model's data, code and writes
only under `<artifacts>/<model>/`; the state machine's role may run Jobs only in the `training`
namespace (EKS access entry + namespace-scoped AmazonEKSEditPolicy) and register only into the
model's group. The retraining guard starts it (STATE_MACHINE_ARN) exactly like a pipeline.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import iam, kubernetes, naming
from .context import ModelContext, Resolved
from .contract import ClusterOutputs
from .eks_endpoint import serving_image
from .images import framework_image
from .model_registry import registry_group_arn
from .spec import Cluster, ModelSpec
from .spec.parsers import S3Uri
from .training_pipeline import APPROVAL_STATUS

NAMESPACE = "training"
SERVICE_ACCOUNT_SUFFIX = "-training"
JOB_STEPS = "/opt/ml/code/eks_job.py"
MOUNTS = (
    ("code", "/opt/ml/code"),
    ("input", "/opt/ml/input"),
    ("model", "/opt/ml/model"),
    ("output", "/opt/ml/output"),
    ("checkpoints", "/opt/ml/checkpoints"),
    ("tmp", "/tmp"),
)
TRAIN_DIR, VALIDATION_DIR, TEST_DIR = (
    "/opt/ml/input/data/train",
    "/opt/ml/input/data/validation",
    "/opt/ml/input/data/test",
)


#: The port torchrun's rendezvous listens on, on the first pod of a multi-node train Job.
RENDEZVOUS_PORT = 29500


def rendezvous_service(model: str) -> str:
    """The headless Service giving the pods of a multi-node train Job stable DNS names
    (`<job>-<index>.<service>`): the first one is where torchrun's rendezvous is."""
    return f"{model}-train"


def service_account(model: str) -> str:
    return f"{model}{SERVICE_ACCOUNT_SUFFIX}"


def model_key(model: str) -> str:
    """Where a train Job puts its model (`{execution}`: the state machine execution's name)."""
    return f"{model}/models/eks/train-{{execution}}/model.tar.gz"


def evaluation_key(model: str) -> str:
    return f"{model}/evaluations/eks/evaluate-{{execution}}/evaluation.json"


def job_manifest(
    spec: ModelSpec,
    cluster: Cluster,
    *,
    image: str,
    fetch_image: str,
    code_uri: str,
    channels: list[tuple[str, S3Uri, str]],
    arguments: list[str],
    name_expression: str,
    nodes: int = 1,
    gpus_per_pod: int = 1,
) -> dict[str, Any]:
    """A batch/v1 Job for `eks:runJob`; its name and EXECUTION are Step Functions expressions.
    With `nodes` > 1 (a data-parallel train Job): an Indexed Job of that many pods, one per node,
    each with every GPU of its node, named `<job>-<index>` under the rendezvous Service."""
    training = spec.training
    assert training is not None
    group = cluster.training_node_group(training.instance_type, training.spot)
    assert group is not None, "validated: the cluster offers the instance type with that capacity"
    gpus = gpus_per_pod if group.gpu else 0
    mounts = [{"name": name, "mountPath": path} for name, path in MOUNTS]
    fetch = ["-m", "model_code.eks_job", "fetch", "--code", code_uri]
    for name, uri, folder in channels:
        fetch += ["--channel", f"{name}={uri}={folder}"]
    pod: dict[str, Any] = {
        "serviceAccountName": service_account(spec.name),
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": kubernetes.pod_security(),
        "nodeSelector": {
            kubernetes.NODE_GROUP_LABEL: group.name,
            "node.kubernetes.io/instance-type": training.instance_type,
        },
        "initContainers": [
            {
                "name": "fetch",
                "image": fetch_image,
                "imagePullPolicy": "Always",
                "command": ["python"],
                "args": fetch,
                "env": [{"name": "HOME", "value": "/tmp"}],
                "resources": kubernetes.fixed_resources("500m", "512Mi"),
                "securityContext": kubernetes.container_security(),
                "volumeMounts": mounts,
            }
        ],
        "containers": [
            {
                "name": "run",
                "image": image,
                "imagePullPolicy": "Always",
                "command": ["python"],
                "args": [JOB_STEPS, *arguments],
                "env": [
                    {"name": "SM_CHANNEL_TRAIN", "value": TRAIN_DIR},
                    {"name": "SM_CHANNEL_VALIDATION", "value": VALIDATION_DIR},
                    {"name": "SM_MODEL_DIR", "value": "/opt/ml/model"},
                    {"name": "SM_OUTPUT_DATA_DIR", "value": "/opt/ml/output"},
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "EXECUTION", "value.$": "$$.Execution.Name"},
                ],
                "resources": kubernetes.fixed_resources("4", "32Gi", gpus),
                "securityContext": kubernetes.container_security(),
                "volumeMounts": mounts,
            }
        ],
        "volumes": kubernetes.scratch_volumes(*(name for name, _ in MOUNTS)),
    }
    if group.gpu:
        pod["tolerations"] = [kubernetes.GPU_TOLERATION]
    labels = {"app.kubernetes.io/name": spec.name}
    job_spec: dict[str, Any] = {
        "backoffLimit": 3,
        "activeDeadlineSeconds": training.max_runtime_seconds,
        "ttlSecondsAfterFinished": 86400,
    }
    if nodes > 1:
        labels["modelform/step"] = "train"
        pod["subdomain"] = rendezvous_service(spec.name)
        pod["affinity"] = {
            "podAntiAffinity": {  # one pod per node: each takes the node's GPUs and network
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": dict(labels)},
                        "matchLabelKeys": ["batch.kubernetes.io/job-name"],
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
        pod["containers"][0]["env"].append(
            {
                "name": "JOB_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}},
            }
        )
        pod["containers"][0]["ports"] = [{"name": "rendezvous", "containerPort": RENDEZVOUS_PORT}]
        # A lost pod fails the whole group (the others would wait for it): the Job retries as one.
        job_spec.update({"completionMode": "Indexed", "completions": nodes, "parallelism": nodes, "backoffLimit": 0})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name.$": name_expression,
            "namespace": NAMESPACE,
            "labels": dict(labels),
            "annotations": kubernetes.scanner_exceptions("CKV_K8S_43"),
        },
        "spec": {**job_spec, "template": {"metadata": {"labels": dict(labels)}, "spec": pod}},
    }


def launch_arguments(spec: ModelSpec) -> list[str]:
    """How `eks_job.py train` launches train.py: one process, or torchrun over the Job's pods
    (rank 0's pod hosts the rendezvous) with one process per GPU."""
    training = spec.training
    assert training is not None
    if training.world_size <= 1:
        return []
    arguments = ["--nodes", str(training.instance_count), "--processes-per-node", str(training.processes_per_instance)]
    if training.instance_count > 1:
        arguments += ["--rendezvous", f"{rendezvous_service(spec.name)}:{RENDEZVOUS_PORT}"]
    return arguments


def hyperparameter_arguments(spec: ModelSpec) -> list[str]:
    """`--name value` per hyperparameter, sorted (what SageMaker script mode passes too)."""
    assert spec.training is not None
    arguments = []
    for name, value in sorted(spec.training.hyperparameters.items()):
        arguments += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return arguments


def definition(
    spec: ModelSpec, cluster: Cluster, *, where: Resolved, code_uri: str, code_version: str, outputs: ClusterOutputs
) -> dict[str, Any]:
    """The Amazon States Language definition (pure)."""
    training, data = spec.training, spec.data
    assert training is not None and data is not None and data.training is not None
    region, bucket = where.region, where.artifact_bucket
    image = framework_image(spec.model.framework_version, region, f"ml.{training.instance_type}", "training")
    fetch_image = serving_image(where.serving_repository, code_version)
    channels = [("train", data.training, TRAIN_DIR)]
    if data.validation is not None:
        channels.append(("validation", data.validation, VALIDATION_DIR))
    evaluation_data = data.validation or data.ground_truth or data.training
    cluster_parameters = {
        "ClusterName": outputs.name,
        "CertificateAuthority": outputs.certificate_authority,
        "Endpoint": outputs.endpoint,
        "Namespace": NAMESPACE,
        "LogOptions": {"RetrieveLogs": True},
    }
    common = dict(image=image, fetch_image=fetch_image, code_uri=code_uri)
    train_job = job_manifest(
        spec,
        cluster,
        channels=channels,
        name_expression="States.Format('train-{}', $$.Execution.Name)",
        arguments=[
            "train",
            "--bucket",
            bucket,
            "--model-key",
            model_key(spec.name),
            *launch_arguments(spec),
            "--",
            *hyperparameter_arguments(spec),
            "--checkpoint-dir",
            "/opt/ml/checkpoints",
            *(["--world_size", str(training.world_size)] if training.world_size > 1 else []),
        ],
        nodes=training.instance_count,
        gpus_per_pod=training.processes_per_instance,
        **common,
    )
    evaluate_job = job_manifest(
        spec,
        cluster,
        channels=[("test", evaluation_data, TEST_DIR)],
        name_expression="States.Format('evaluate-{}', $$.Execution.Name)",
        arguments=[
            "evaluate",
            "--bucket",
            bucket,
            "--model-key",
            model_key(spec.name),
            "--evaluation-key",
            evaluation_key(spec.name),
            "--test",
            TEST_DIR,
        ],
        **common,
    )
    inference_image = framework_image(spec.model.framework_version, region, f"ml.{training.instance_type}", "inference")
    trained_model = f"s3://{bucket}/{model_key(spec.name)}".replace("{execution}", "{}")
    register = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
        "End": True,
        "Parameters": {
            "ModelPackageGroupName": naming.registry_group(spec.name),
            "ModelApprovalStatus": APPROVAL_STATUS[spec.approval],
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": inference_image,
                        "ModelDataUrl.$": f"States.Format('{trained_model}', $$.Execution.Name)",
                        "Environment": {
                            "SAGEMAKER_PROGRAM": spec.model.inference_entry_point,
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        },
                    }
                ],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "CustomerMetadataProperties": {
                "modelform:code_version": code_version,
                "modelform:data_version": data.version,
                "modelform:trained_on": f"eks:{cluster.name}",
            },
        },
    }
    evaluation = evaluation_key(spec.name).replace("{execution}", "{}")
    states: dict[str, Any] = {
        "Train": {
            "Type": "Task",
            "Resource": "arn:aws:states:::eks:runJob.sync",
            "Next": "Evaluate",
            "Parameters": {**cluster_parameters, "Job": train_job},
            "ResultPath": None,
        },
        "Evaluate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::eks:runJob.sync",
            "Next": "ReadEvaluation",
            "Parameters": {**cluster_parameters, "Job": evaluate_job},
            "ResultPath": None,
        },
        "ReadEvaluation": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
            "Next": "QualityGate" if training.evaluation else "Register",
            "Parameters": {"Bucket": bucket, "Key.$": f"States.Format('{evaluation}', $$.Execution.Name)"},
            "ResultSelector": {"report.$": "States.StringToJson($.Body)"},
            "ResultPath": "$.evaluation",
        },
        "Register": register,
        "GateFailed": {
            "Type": "Fail",
            "Error": "QualityGate",
            "Cause": "the evaluation metric is outside training.evaluation",
        },
    }
    gate = training.evaluation
    if gate is not None:
        variable = f"$.evaluation.report.metrics.{gate.metric}"
        rules = []
        if gate.min is not None:
            rules.append({"Variable": variable, "NumericGreaterThanEquals": gate.min})
        if gate.max is not None:
            rules.append({"Variable": variable, "NumericLessThanEquals": gate.max})
        states["QualityGate"] = {
            "Type": "Choice",
            "Choices": [{"And": rules, "Next": "Register"}] if len(rules) > 1 else [{**rules[0], "Next": "Register"}],
            "Default": "GateFailed",
        }
    return {
        "Comment": f"Retrain {spec.name} on EKS: train, evaluate, gate on quality, register",
        "StartAt": "Train",
        "States": states,
    }


def pod_statements(model: str, where: Resolved, data: tuple[S3Uri, ...]) -> list[iam.Statement]:
    """The Jobs' pods read the model's data and code and write only under `<artifacts>/<model>/`."""
    return [
        iam.read_objects("ReadData", [iam.location_objects_arn(uri) for uri in data]),
        *iam.list_prefixes("ListData", [(uri.bucket, uri.key) for uri in data]),
        iam.allow("OwnArtifacts", ["s3:GetObject", "s3:PutObject"], [iam.objects_arn(where.artifact_bucket, model)]),
        *iam.use_key(where.kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
    ]


def state_machine_statements(model: str, where: Resolved, cluster_name: str) -> list[iam.Statement]:
    """The state machine describes its cluster (runJob), reads its evaluations, registers, and
    delivers its execution logs and traces."""
    return [
        iam.allow(
            "DescribeOwnCluster",
            ["eks:DescribeCluster"],
            [f"arn:aws:eks:{where.region}:{where.account_id}:cluster/{cluster_name}"],
        ),
        iam.read_objects("ReadOwnEvaluations", [iam.objects_arn(where.artifact_bucket, f"{model}/evaluations")]),
        iam.allow(
            "RegisterIntoOwnGroup",
            ["sagemaker:CreateModelPackage"],
            [
                registry_group_arn(where.region, where.account_id, model),
                iam.sagemaker_arn(where.region, where.account_id, f"model-package/{model}/*"),
            ],
        ),
        # Step Functions delivers execution logs through CloudWatch Logs' delivery API, which AWS
        # authorizes only on `*`; the log group itself is chosen in the state machine.
        iam.allow(
            "DeliverExecutionLogsIsOnlyOnStar",
            [
                "logs:CreateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:DescribeLogGroups",
                "logs:DescribeResourcePolicies",
                "logs:GetLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:UpdateLogDelivery",
            ],
            ["*"],
        ),
        iam.send_traces(),
    ]


class EksTraining(pulumi.ComponentResource):
    """The retraining state machine of a `backend: eks` model, its roles and the Jobs' service account."""

    def __init__(
        self, name: str, context: ModelContext, spec: ModelSpec, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("modelform:eks_training:EksTraining", name, None, opts)
        training, code = spec.training, context.code
        assert training is not None and training.cluster is not None and code is not None
        cluster_spec = context.platform_spec.cluster(training.cluster)
        assert cluster_spec is not None, "validated: the cluster exists"
        cluster = context.cluster(training.cluster)
        assert spec.data is not None
        model, data = spec.name, spec.data.locations
        self.pod_role, _ = iam.scoped_role(
            f"{name}-pod-role",
            trust=cluster.apply(
                lambda c: iam.service_account_trust(
                    c.oidc_provider_arn, c.oidc_issuer, NAMESPACE, service_account(model)
                )
            ),
            policy=context.apply(lambda where: iam.policy_document(pod_statements(model, where, data))),
            description=f"Training Jobs of {model} on EKS (modelform)",
            parent=self,
        )
        resolved = pulumi.Output.all(context.resolved(), cluster, code.prefix)
        role, _ = iam.scoped_role(
            f"{name}-role",
            trust=context.account_id.apply(lambda account: iam.service_trust("states.amazonaws.com", account)),
            policy=resolved.apply(lambda v: iam.policy_document(state_machine_statements(model, v[0], v[1].name))),
            description=f"Retraining state machine of {model}",
            parent=self,
        )
        cluster_name = cluster.apply(lambda c: c.name)
        access = aws.eks.AccessEntry(
            f"{name}-access",
            cluster_name=cluster_name,
            principal_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        association = aws.eks.AccessPolicyAssociation(
            f"{name}-access-policy",
            cluster_name=cluster_name,
            principal_arn=role.arn,
            policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
            access_scope={"type": "namespace", "namespaces": [NAMESPACE]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access]),
        )
        document = resolved.apply(
            lambda v: json.dumps(
                definition(
                    spec,
                    cluster_spec,
                    where=v[0],
                    code_uri=f"{v[2]}sourcedir.tar.gz",
                    code_version=context.code_version,
                    outputs=v[1],
                ),
                sort_keys=True,
            )
        )
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=naming.state_machine_log_group(model),
            retention_in_days=context.platform_spec.retention.log_groups,
            kms_key_id=context.platform.kms_key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=naming.retraining_pipeline(model),
            role_arn=role.arn,
            definition=document,
            logging_configuration={
                "log_destination": logs.arn.apply(lambda arn: f"{arn}:*"),
                "include_execution_data": True,
                "level": "ALL",
            },
            tracing_configuration={"enabled": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[association, *code.objects]),
        )
        provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=cluster.apply(lambda c: c.kubeconfig), opts=pulumi.ResourceOptions(parent=self)
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            automount_service_account_token=False,
            metadata={
                "name": service_account(model),
                "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/name": model, "app.kubernetes.io/managed-by": "modelform"},
                "annotations": {"eks.amazonaws.com/role-arn": self.pod_role.arn},
            },
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        if training.instance_count > 1:
            # Stable names for the pods of a multi-node train Job (`<job>-0.<service>` hosts the
            # rendezvous); headless, and listing pods before they are ready, as the rendezvous needs.
            k8s.core.v1.Service(
                f"{name}-rendezvous-service",
                metadata={
                    "name": rendezvous_service(model),
                    "namespace": NAMESPACE,
                    "labels": {"app.kubernetes.io/name": model, "app.kubernetes.io/managed-by": "modelform"},
                },
                spec={
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": {"app.kubernetes.io/name": model, "modelform/step": "train"},
                    "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "targetPort": RENDEZVOUS_PORT}],
                },
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
        self.register_outputs({"stateMachineArn": self.state_machine.arn, "podRoleArn": self.pod_role.arn})
