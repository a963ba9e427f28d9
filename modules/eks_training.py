"""`backend: eks` training: a Step Functions state machine that trains and evaluates as Kubernetes
Jobs on the platform's training cluster, gates on quality and registers the model package.

States of `<model>-retraining`:
1. `Train` — `eks:runJob.sync`: a Job named `train-<execution>` on the node group offering
   `training.instance_type` (GPU toleration when it is a GPU group): an init container fetches the
   code archive and the data channels from S3; the training image (the AWS PyTorch training image
   for `model.framework_version`) runs `train.py` with the spec's hyperparameters and uploads
   `model.tar.gz` to `<artifacts>/<model>/models/eks/<job>/`; `activeDeadlineSeconds` =
   `max_runtime`, `backoffLimit` 3 (a spot node lost mid-run is retried).
2. `Evaluate` — the same way, `evaluate.py` writes `evaluation.json` next to the model.
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
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import naming
from .eks_endpoint import INIT_IMAGE, _locked_down
from .iam import service_trust_policy
from .images import framework_image
from .spec import Cluster, ModelSpec

NAMESPACE = "training"
SERVICE_ACCOUNT_SUFFIX = "-training"


def state_machine_name(model: str) -> str:
    return f"{model}-retraining"


def _node_group(cluster: Cluster, instance_type: str):
    return next(g for g in cluster.node_groups if instance_type in g.instance_types)


def job_manifest(spec: ModelSpec, cluster: Cluster, *, image: str, code_uri: str, artifact_bucket: str,
                 command: str, fetch_data: list[tuple[str, str]], name_expression: str) -> dict[str, Any]:
    """A batch/v1 Job for `eks:runJob` (its name is a Step Functions expression)."""
    training = spec.training
    assert training is not None
    group = _node_group(cluster, training.instance_type)
    fetch = ["set -eu", f"aws s3 cp {code_uri} /tmp/src.tar.gz", "tar -xzf /tmp/src.tar.gz -C /opt/ml/code"]
    fetch += [f"aws s3 cp --recursive {uri} {local}" for uri, local in fetch_data]
    mounts = [{"name": name, "mountPath": path} for name, path in (
        ("code", "/opt/ml/code"), ("input", "/opt/ml/input"), ("model", "/opt/ml/model"), ("output", "/opt/ml/output"),
        ("checkpoints", "/opt/ml/checkpoints"), ("tmp", "/tmp"))]
    limits = {"cpu": "4", "memory": "32Gi"}
    pod: dict[str, Any] = {
        "serviceAccountName": f"{spec.name}{SERVICE_ACCOUNT_SUFFIX}",
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "nodeSelector": {"modelform/node-group": group.name, "node.kubernetes.io/instance-type": training.instance_type},
        "initContainers": [{
            "name": "fetch", "image": INIT_IMAGE, "imagePullPolicy": "Always", "command": ["/bin/sh", "-c"],
            "args": ["; ".join(fetch)], "env": [{"name": "HOME", "value": "/tmp"}],
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "securityContext": _locked_down(), "volumeMounts": mounts,
        }],
        "containers": [{
            "name": "run", "image": image, "imagePullPolicy": "Always", "command": ["/bin/sh", "-c"], "args": [command],
            "env": [
                {"name": "SM_CHANNEL_TRAIN", "value": "/opt/ml/input/data/train"},
                {"name": "SM_CHANNEL_VALIDATION", "value": "/opt/ml/input/data/validation"},
                {"name": "SM_MODEL_DIR", "value": "/opt/ml/model"}, {"name": "SM_OUTPUT_DATA_DIR", "value": "/opt/ml/output"},
                {"name": "HOME", "value": "/tmp"}, {"name": "ARTIFACT_BUCKET", "value": artifact_bucket},
                {"name": "JOB_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}},
            ],
            "resources": {"requests": {**limits, **({"nvidia.com/gpu": "1"} if group.gpu else {})},
                          "limits": {**limits, **({"nvidia.com/gpu": "1"} if group.gpu else {})}},
            "securityContext": _locked_down(), "volumeMounts": mounts,
        }],
        "volumes": [{"name": name, "emptyDir": {}} for name in ("code", "input", "model", "output", "checkpoints", "tmp")],
    }
    if group.gpu:
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name.$": name_expression, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/name": spec.name}},
            "spec": {"backoffLimit": 3, "activeDeadlineSeconds": training.max_runtime_seconds, "ttlSecondsAfterFinished": 86400,
                     "template": {"metadata": {"labels": {"app.kubernetes.io/name": spec.name}}, "spec": pod}}}


def _upload(key: str, source: str) -> str:
    return (f"python -c \"import boto3, os; boto3.client('s3').upload_file('{source}', os.environ['ARTIFACT_BUCKET'], "
            f"'{key}'.format(job=os.environ['JOB_NAME']))\"")


def definition(spec: ModelSpec, cluster: Cluster, *, region: str, account_id: str, artifact_bucket: str, code_uri: str,
               code_version: str, cluster_name: str, endpoint: str, certificate_authority: str) -> dict[str, Any]:
    """The Amazon States Language definition (pure)."""
    training, data = spec.training, spec.data
    assert training is not None and data is not None and data.training is not None
    image = framework_image(spec.model.framework_version, region, f"ml.{training.instance_type}", "training")
    channels = [(str(data.training), "/opt/ml/input/data/train")]
    if data.validation is not None:
        channels.append((str(data.validation), "/opt/ml/input/data/validation"))
    hyperparameters = " ".join(f"--{k} {v}" for k, v in sorted(training.hyperparameters.items()))
    model_key = f"{spec.name}/models/eks/{{job}}/model.tar.gz"
    train = (f"cd /opt/ml/code && python train.py {hyperparameters} --checkpoint-dir /opt/ml/checkpoints && "
             f"tar -czf /tmp/model.tar.gz -C /opt/ml/model . && {_upload(model_key, '/tmp/model.tar.gz')}")
    evaluation_data = data.validation or data.ground_truth or data.training
    evaluate = (f"python -c \"import boto3, os; boto3.client('s3').download_file(os.environ['ARTIFACT_BUCKET'], "
                f"'{spec.name}/models/eks/' + os.environ['JOB_NAME'].replace('evaluate-', 'train-') + '/model.tar.gz', "
                f"'/opt/ml/model/model.tar.gz')\" && cd /opt/ml/code && python evaluate.py --model-dir /opt/ml/model "
                f"--test /opt/ml/input/data/test --output-dir /opt/ml/output && "
                f"{_upload(spec.name + '/evaluations/eks/{job}/evaluation.json', '/opt/ml/output/evaluation.json')}")
    cluster_parameters = {"ClusterName": cluster_name, "CertificateAuthority": certificate_authority, "Endpoint": endpoint,
                          "Namespace": NAMESPACE, "LogOptions": {"RetrieveLogs": True}}
    common = dict(image=image, code_uri=code_uri, artifact_bucket=artifact_bucket)
    train_job = job_manifest(spec, cluster, command=train, fetch_data=channels,
                             name_expression="States.Format('train-{}', $$.Execution.Name)", **common)
    evaluate_job = job_manifest(spec, cluster, command=evaluate, fetch_data=[(str(evaluation_data), "/opt/ml/input/data/test")],
                                name_expression="States.Format('evaluate-{}', $$.Execution.Name)", **common)
    approval = {"manual": "PendingManualApproval", "auto": "Approved"}[spec.retraining.approval if spec.retraining else "manual"]
    inference_image = framework_image(spec.model.framework_version, region, f"ml.{training.instance_type}", "inference")
    register = {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemaker:createModelPackage", "End": True,
        "Parameters": {
            "ModelPackageGroupName": naming.registry_group(spec.name), "ModelApprovalStatus": approval,
            "InferenceSpecification": {
                "Containers": [{"Image": inference_image, "ModelDataUrl.$":
                                f"States.Format('s3://{artifact_bucket}/{spec.name}/models/eks/train-{{}}/model.tar.gz', $$.Execution.Name)",
                                "Environment": {"SAGEMAKER_PROGRAM": spec.model.inference_entry_point,
                                                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}}],
                "SupportedContentTypes": ["text/csv", "application/json"], "SupportedResponseMIMETypes": ["application/json"],
            },
            "CustomerMetadataProperties": {"modelform:code_version": code_version, "modelform:data_version": data.version,
                                           "modelform:trained_on": f"eks:{cluster.name}"},
        },
    }
    states: dict[str, Any] = {
        "Train": {"Type": "Task", "Resource": "arn:aws:states:::eks:runJob.sync", "Next": "Evaluate",
                  "Parameters": {**cluster_parameters, "Job": train_job}, "ResultPath": None},
        "Evaluate": {"Type": "Task", "Resource": "arn:aws:states:::eks:runJob.sync", "Next": "ReadEvaluation",
                     "Parameters": {**cluster_parameters, "Job": evaluate_job}, "ResultPath": None},
        "ReadEvaluation": {
            "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject", "Next": "QualityGate" if training.evaluation else "Register",
            "Parameters": {"Bucket": artifact_bucket, "Key.$": f"States.Format('{spec.name}/evaluations/eks/evaluate-{{}}/evaluation.json', $$.Execution.Name)"},
            "ResultSelector": {"report.$": "States.StringToJson($.Body)"}, "ResultPath": "$.evaluation"},
        "Register": register,
        "GateFailed": {"Type": "Fail", "Error": "QualityGate", "Cause": "the evaluation metric is outside training.evaluation"},
    }
    gate = training.evaluation
    if gate is not None:
        variable = f"$.evaluation.report.metrics.{gate.metric}"
        rules = []
        if gate.min is not None:
            rules.append({"Variable": variable, "NumericGreaterThanEquals": gate.min})
        if gate.max is not None:
            rules.append({"Variable": variable, "NumericLessThanEquals": gate.max})
        states["QualityGate"] = {"Type": "Choice", "Choices": [{"And": rules, "Next": "Register"}] if len(rules) > 1
                                 else [{**rules[0], "Next": "Register"}], "Default": "GateFailed"}
    return {"Comment": f"Retrain {spec.name} on EKS: train, evaluate, gate on quality, register", "StartAt": "Train", "States": states}


@dataclass
class EksTrainingArgs:
    """spec (training backend eks); cluster: the Platform cluster; cluster outputs (name, endpoint,
    certificateAuthority, oidcIssuer, oidcProviderArn); code (prefix, version, objects); where."""

    spec: ModelSpec
    cluster: Cluster
    cluster_outputs: pulumi.Input[dict]
    code_prefix: pulumi.Input[str]
    code_version: str
    code_objects: list
    region: str
    account_id: pulumi.Input[str]
    artifact_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    tags: Mapping[str, str] = field(default_factory=dict)


class EksTraining(pulumi.ComponentResource):
    def __init__(self, name: str, args: EksTrainingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:training:EksTraining", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec, tags = args.spec, dict(args.tags)
        assert spec.data is not None
        cluster = pulumi.Output.from_input(args.cluster_outputs)
        data_uris = sorted(f"arn:aws:s3:::{str(u)[5:].rstrip('/')}/*" for u in (spec.data.training, spec.data.validation, spec.data.ground_truth) if u)
        pod_trust = pulumi.Output.all(cluster, args.account_id).apply(lambda v: json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": v[0].get("oidcProviderArn", "")}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{v[0].get('oidcIssuer', '').replace('https://', '')}:sub": f"system:serviceaccount:{NAMESPACE}:{spec.name}{SERVICE_ACCOUNT_SUFFIX}",
                f"{v[0].get('oidcIssuer', '').replace('https://', '')}:aud": "sts.amazonaws.com"}}}]}, sort_keys=True))
        pod_role = aws.iam.Role(f"{name}-pod-role", assume_role_policy=pod_trust, tags=tags, opts=child,
                                description=f"Training Jobs of {spec.name} on EKS (modelform)")
        aws.iam.RolePolicy(f"{name}-pod-role-policy", role=pod_role.id, opts=child, policy=pulumi.Output.all(
            args.artifact_bucket, args.kms_key_arn).apply(lambda v: json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "ReadData", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                 "Resource": data_uris + sorted({f"arn:aws:s3:::{str(u)[5:].split('/')[0]}" for u in (spec.data.training, spec.data.validation, spec.data.ground_truth) if u})},
                {"Sid": "OwnArtifacts", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                 "Resource": [f"arn:aws:s3:::{v[0]}/{spec.name}/*"]},
                {"Sid": "UsePlatformKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [v[1]]},
            ]}, sort_keys=True)))
        machine_name = state_machine_name(spec.name)
        role = aws.iam.Role(f"{name}-role", tags=tags, opts=child, description=f"Retraining state machine of {spec.name}",
                            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                                lambda account: service_trust_policy("states.amazonaws.com", account)))
        aws.iam.RolePolicy(f"{name}-role-policy", role=role.id, opts=child, policy=pulumi.Output.all(
            args.account_id, args.artifact_bucket, cluster).apply(lambda v: json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "DescribeOwnCluster", "Effect": "Allow", "Action": ["eks:DescribeCluster"],
                 "Resource": [f"arn:aws:eks:{args.region}:{v[0]}:cluster/{v[2].get('name', '')}"]},
                {"Sid": "ReadOwnEvaluations", "Effect": "Allow", "Action": ["s3:GetObject"],
                 "Resource": [f"arn:aws:s3:::{v[1]}/{spec.name}/evaluations/*"]},
                {"Sid": "RegisterIntoOwnGroup", "Effect": "Allow", "Action": ["sagemaker:CreateModelPackage"],
                 "Resource": [f"arn:aws:sagemaker:{args.region}:{v[0]}:model-package-group/{spec.name}",
                              f"arn:aws:sagemaker:{args.region}:{v[0]}:model-package/{spec.name}/*"]},
            ]}, sort_keys=True)))
        access = aws.eks.AccessEntry(f"{name}-access", cluster_name=cluster.apply(lambda c: c.get("name", "")),
                                     principal_arn=role.arn, tags=tags, opts=child)
        association = aws.eks.AccessPolicyAssociation(
            f"{name}-access-policy", cluster_name=cluster.apply(lambda c: c.get("name", "")), principal_arn=role.arn,
            policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
            access_scope={"type": "namespace", "namespaces": [NAMESPACE]}, opts=pulumi.ResourceOptions(parent=self, depends_on=[access]))
        document = pulumi.Output.all(args.account_id, args.artifact_bucket, args.code_prefix, cluster).apply(lambda v: json.dumps(definition(
            spec, args.cluster, region=args.region, account_id=v[0], artifact_bucket=v[1], code_uri=f"{v[2]}sourcedir.tar.gz",
            code_version=args.code_version, cluster_name=v[3].get("name", ""), endpoint=v[3].get("endpoint", ""),
            certificate_authority=v[3].get("certificateAuthority", "")), sort_keys=True))
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-state-machine", name=machine_name, role_arn=role.arn, definition=document, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[association, *args.code_objects]))
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=cluster.apply(lambda c: c.get("kubeconfig", "")),
                                opts=pulumi.ResourceOptions(parent=self))
        k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount", automount_service_account_token=False,
            metadata={"name": f"{spec.name}{SERVICE_ACCOUNT_SUFFIX}", "namespace": NAMESPACE,
                      "labels": {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/managed-by": "modelform"},
                      "annotations": {"eks.amazonaws.com/role-arn": pod_role.arn}},
            opts=pulumi.ResourceOptions(parent=self, provider=provider))
        self.pod_role = pod_role
        self.register_outputs({"stateMachineArn": self.state_machine.arn, "podRoleArn": pod_role.arn})
