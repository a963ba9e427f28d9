"""Scheduled batch scoring of one model: a SageMaker batch transform on an EventBridge Scheduler
schedule, or a CronJob on EKS, with a failure inbox that raises an alarm.

Children of `BatchScoring` for model `<m>` with `target: sagemaker`:
- `<m>-batch-role` (IAM): what the transform job runs as: read the model (its registry version's
  artifacts, or the pinned artifact) and every object under `batch.input`, write only under
  `<artifacts>/<m>/batch/`, the platform key, its own `/aws/sagemaker/TransformJobs` log streams
  (`<m>-batch-*`), network interfaces in the platform VPC;
- `<m>-batch-model` (`aws.sagemaker.Model`): the pinned version (or artifact) in the same container as
  an endpoint's, network-isolated, in the platform VPC;
- `<m>-batch-schedule` (`aws.scheduler.Schedule`, physical `<m>-batch`): on `batch.schedule` (UTC),
  EventBridge Scheduler calls CreateTransformJob itself (a universal target: no Lambda, no pipeline
  in between) with the request `transform_request` builds: the job is named
  `<m>-batch-<execution id>` and writes to `<artifacts>/<m>/batch/<scheduled time>/`, so every run
  has its own job and its own output folder; its payload is encrypted with the platform key;
- `<m>-batch-schedule-role` (IAM): Scheduler may create (and tag) only `<m>-batch-*` transform jobs
  and send to the failure inbox;
- `<m>-batch-failures` (SQS, KMS) with its queue policy: the failure inbox. Scheduler delivers the
  runs it could not start there (its dead-letter queue, after 2 retries within an hour), and the
  EventBridge rule `<m>-batch-failed` the state change of every `<m>-batch-*` job that failed or was
  stopped (with SageMaker's `FailureReason`);
- `<m>-batch-failures` (CloudWatch alarm): messages waiting in the inbox; it notifies the model's
  alert topic and stays in alarm until someone has read and deleted them (or 14 days pass).

With `target: eks`, the inbox and its alarm, and on the cluster, in `batch.namespace`:
- `<m>-batch-pod-role` (IAM, IRSA for the ServiceAccount `<m>-batch`): fetch the model (its
  registry version's artifacts, or the pinned artifact), read the input, write only under
  `<artifacts>/<m>/batch/`, send to the inbox, the platform key;
- CronJob `<m>-batch` on the schedule in Kubernetes' cron form (`kubernetes_cron`, UTC): the
  serving image fetches the model (init container) and runs `python -m model_code.batch_score`,
  which scores with the EKS serving code, writes `<artifacts>/<m>/batch/<scheduled time>/` (taken
  from the Job's name) and reports a failure to the inbox itself; one run at a time, no retries
  (each would report again); hardened like the serving pods; a NetworkPolicy lets it out only to
  DNS and HTTPS. A pod killed before it can report (evicted, out of memory) is seen by Kubernetes
  only (`kube_job_status_failed`).
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import iam, kubernetes, naming
from .context import ModelContext, Resolved
from .eks_endpoint import MODEL_MOUNT, fetch_arguments, model_fetch_access, model_pod, serving_image
from .sagemaker_endpoint import serving_container
from .spec import BatchSpec, Target
from .spec.parsers import kubernetes_cron

#: Scheduler's universal target for SageMaker's CreateTransformJob.
CREATE_TRANSFORM_JOB = "arn:aws:scheduler:::aws-sdk:sagemaker:createTransformJob"
#: Replaced by Scheduler at every invocation: an id per attempt (16 characters, e.g.
#: d32c5kddcf5bb8c3) and the time the run was scheduled for (e.g. 2026-11-30T02:00:00Z).
EXECUTION_ID = "<aws.scheduler.execution-id>"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
#: The longest execution id Scheduler documents; job names must fit SageMaker's 63 characters.
EXECUTION_ID_LENGTH = 16
#: Retries of a CreateTransformJob call that failed (throttling, a transient error), within an hour.
RETRY_ATTEMPTS, RETRY_WINDOW_SECONDS = 2, 3600
#: How long failures wait in the inbox (SQS's longest retention).
INBOX_RETENTION_SECONDS = 14 * 24 * 3600
#: Batch input is CSV rows, and the answer one prediction per row (`inference.output_fn`): output
#: line N is the prediction of input line N. Each answer already ends with a newline, so the
#: answers of successive requests are joined as they are (AssembleWith None), without blank lines.
CONTENT_TYPE = ACCEPT = "text/csv"
#: One request's time to answer before SageMaker retries it once.
INVOCATION_TIMEOUT_SECONDS = 600


def output_prefix(model: str) -> str:
    return f"{model}/batch/"


def transform_request(
    model: str, batch: BatchSpec, where: Resolved, model_name: str, tags: dict[str, str]
) -> dict[str, Any]:
    """The CreateTransformJob request Scheduler sends at every run (placeholders included)."""
    return {
        "TransformJobName": f"{naming.batch_job_prefix(model)}{EXECUTION_ID}",
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": batch.max_payload_mb,
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": INVOCATION_TIMEOUT_SECONDS, "InvocationsMaxRetries": 1},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(batch.input)}},
            "ContentType": CONTENT_TYPE,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{where.artifact_bucket}/{output_prefix(model)}{SCHEDULED_TIME}/",
            "Accept": ACCEPT,
            "AssembleWith": "None",
            "KmsKeyId": where.kms_key_arn,
        },
        "TransformResources": {
            "InstanceType": batch.instance_type,
            "InstanceCount": batch.instance_count,
            "VolumeKmsKeyId": where.kms_key_arn,
        },
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())],
    }


def failed_job_pattern(model: str) -> dict[str, Any]:
    """The EventBridge pattern of this model's batch jobs that failed or were stopped."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Transform Job State Change"],
        "detail": {
            "TransformJobStatus": ["Failed", "Stopped"],
            "TransformJobName": [{"prefix": naming.batch_job_prefix(model)}],
        },
    }


def transform_statements(model: str, where: Resolved, batch: BatchSpec) -> list[iam.Statement]:
    """What a batch transform job of the model runs as."""
    region, account = where.region, where.account_id
    reads = [iam.objects_arn(where.artifact_bucket, model), iam.location_objects_arn(batch.input)]
    if batch.artifact is not None:
        reads.append(iam.object_arn(batch.artifact.bucket, batch.artifact.key))
    return [
        iam.read_objects("ReadModelAndInput", reads),
        *iam.list_prefixes("ListInput", [(batch.input.bucket, batch.input.key)]),
        iam.allow(
            "WriteOwnBatchOutput",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [iam.objects_arn(where.artifact_bucket, output_prefix(model))],
        ),
        *iam.use_key(where.kms_key_arn, grants_for_aws_services=True),
        iam.allow(
            "ReadOwnRegistry",
            ["sagemaker:DescribeModelPackage"],
            [iam.sagemaker_arn(region, account, f"model-package/{model}/*")],
        ),
        *iam.container_runtime(
            region,
            account,
            where.vpc_id,
            "TransformJob",
            [
                iam.log_group_arn(region, account, "/aws/sagemaker/TransformJobs"),
                iam.log_group_arn(
                    region, account, "/aws/sagemaker/TransformJobs", f"{naming.batch_job_prefix(model)}*"
                ),
            ],
        ),
    ]


def schedule_statements(model: str, where: Resolved, inbox_arn: str) -> list[iam.Statement]:
    """What Scheduler may do for the model's schedule."""
    jobs = iam.sagemaker_arn(where.region, where.account_id, f"transform-job/{naming.batch_job_prefix(model)}*")
    return [
        # CreateTransformJob with Tags is also authorized as AddTags on the new job.
        iam.allow("StartOnlyOwnBatchJobs", ["sagemaker:AddTags", "sagemaker:CreateTransformJob"], [jobs]),
        iam.allow("DeliverUnstartedRunsToInbox", ["sqs:SendMessage"], [inbox_arn]),
        # The schedule's payload is encrypted with the platform key; the inbox too.
        *iam.use_key(where.kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
    ]


#: The Kubernetes objects of batch scoring on EKS, in the order they are declared.
EKS_KINDS = (("v1", "ServiceAccount"), ("batch/v1", "CronJob"), ("networking.k8s.io/v1", "NetworkPolicy"))


def eks_pod_statements(model: str, where: Resolved, batch: BatchSpec, inbox_arn: str) -> list[iam.Statement]:
    """What a batch scoring pod may do: fetch its model, read the input, write its output, report."""
    reads, fetching = model_fetch_access(model, where, batch.variant)
    return [
        iam.read_objects("ReadModelAndInput", [*reads, iam.location_objects_arn(batch.input)]),
        *iam.list_prefixes("ListInput", [(batch.input.bucket, batch.input.key)]),
        iam.allow(
            "WriteOwnBatchOutput", ["s3:PutObject"], [iam.objects_arn(where.artifact_bucket, output_prefix(model))]
        ),
        iam.allow("ReportFailuresToInbox", ["sqs:SendMessage"], [inbox_arn]),
        *iam.use_key(where.kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
        *fetching,
    ]


def cronjob_objects(
    *,
    model: str,
    batch: BatchSpec,
    image: str,
    where: Resolved,
    role_arn: str,
    failures_url: str,
    labels: dict[str, str],
) -> dict[str, dict[str, Any]]:
    """ServiceAccount, CronJob and NetworkPolicy of batch scoring on EKS (plain manifests)."""
    assert batch.resources is not None
    name = naming.batch_scoring(model)
    selector = {"app.kubernetes.io/name": model, "modelform/role": "batch"}
    meta = {"name": name, "namespace": batch.namespace, "labels": {**labels, **selector}}
    arguments = [
        "-m",
        "model_code.batch_score",
        "--model-dir",
        MODEL_MOUNT,
        "--input",
        str(batch.input),
        "--output",
        f"s3://{where.artifact_bucket}/{output_prefix(model)}",
        "--kms-key",
        where.kms_key_arn,
        "--failures",
        failures_url,
        "--region",
        where.region,
    ]
    pod = model_pod(
        service_account=name,
        image=image,
        fetch=fetch_arguments(model, where.region, where.account_id, batch.variant),
        container={
            "name": "score",
            "command": ["python"],
            "args": arguments,
            "env": [
                {"name": "HOME", "value": "/tmp"},
                # The Job's name carries the time it was scheduled for (its output folder).
                {
                    "name": "JOB_NAME",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}},
                },
            ],
        },
        resources=batch.resources,
    )
    pod["restartPolicy"] = "Never"
    return {
        "ServiceAccount": kubernetes.irsa_service_account(meta, role_arn),
        "CronJob": {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {**meta, "annotations": kubernetes.scanner_exceptions("CKV_K8S_43")},
            "spec": {
                "schedule": kubernetes_cron(batch.schedule),
                "timeZone": "Etc/UTC",
                # A run still going when the next is due finishes first; one missed by more than an
                # hour (the cluster was down) is skipped rather than run late.
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        # The scorer reports its own failure to the inbox: a retry would report it twice.
                        "backoffLimit": 0,
                        "ttlSecondsAfterFinished": 86400,
                        "template": {"metadata": {"labels": {**labels, **selector}}, "spec": pod},
                    }
                },
            },
        },
        # Nothing comes in; out only to DNS and HTTPS (S3, STS, SQS, SageMaker for the model fetch).
        "NetworkPolicy": kubernetes.https_only_network_policy(meta, selector, ingress=[]),
    }


def inbox_policy(inbox_arn: str, rule_arn: str) -> str:
    """Only the model's failed-job rule may send to the inbox (Scheduler sends through its role)."""
    return iam.policy_document(
        [
            iam.Statement(
                "FailedJobsFromOwnRule",
                ("sqs:SendMessage",),
                (inbox_arn,),
                conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
                principal={"Service": "events.amazonaws.com"},
            )
        ]
    )


class BatchScoring(pulumi.ComponentResource):
    """Scheduled scoring of `batch.input` by the pinned model (a SageMaker batch transform, or a
    CronJob on EKS), and the failure inbox with its alarm.

    alarm_topic_arn: the model's alert topic (None without monitoring: the alarm has no action).
    """

    def __init__(
        self,
        name: str,
        context: ModelContext,
        batch: BatchSpec,
        *,
        tags: dict[str, str],
        alarm_topic_arn: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:batch_scoring:BatchScoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        model, platform = context.model, context.platform
        self.inbox = aws.sqs.Queue(
            f"{name}-failures",
            name=naming.batch_failures(model),
            kms_master_key_id=platform.kms_key_arn,
            message_retention_seconds=INBOX_RETENTION_SECONDS,
            opts=child,
        )
        if batch.target is Target.EKS:
            self._on_eks(name, context, batch)
        else:
            self._on_sagemaker(name, context, batch, tags)

        actions = {"alarm_actions": [alarm_topic_arn], "ok_actions": [alarm_topic_arn]} if alarm_topic_arn else {}
        self.alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-failures-alarm",
            name=naming.batch_failures(model),
            alarm_description=f"Batch scoring of {model} failed or could not start: read the messages of the "
            f"SQS queue {naming.batch_failures(model)}, then delete them",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.inbox.name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
            **actions,
            opts=child,
        )
        self.register_outputs({"failureQueueUrl": self.inbox.url})

    def _on_sagemaker(self, name: str, context: ModelContext, batch: BatchSpec, tags: dict[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        model, platform = context.model, context.platform
        assert batch.instance_type is not None
        role, role_policy = iam.scoped_role(
            f"{name}-role",
            trust=context.account_id.apply(lambda account: iam.service_trust("sagemaker.amazonaws.com", account)),
            policy=context.apply(lambda where: iam.policy_document(transform_statements(model, where, batch))),
            description=f"SageMaker batch transforms of model {model} (modelform)",
            parent=self,
        )
        container, content = serving_container(context, batch.variant, batch.instance_type)
        self.model = aws.sagemaker.Model(
            f"{name}-model",
            name=naming.content_named(naming.batch_scoring(model), content),
            execution_role_arn=role.arn,
            primary_container=container,
            enable_network_isolation=True,
            vpc_config={
                "subnets": platform.private_subnet_ids,
                "security_group_ids": pulumi.Output.from_input(platform.model_security_group_id).apply(
                    lambda group: [group]
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy] if role_policy else []),
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-failed",
            name=naming.batch_failed_rule(model),
            description=f"Batch transforms of {model} that failed or were stopped",
            event_pattern=json.dumps(failed_job_pattern(model), sort_keys=True),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-failures-policy",
            queue_url=self.inbox.url,
            policy=pulumi.Output.all(self.inbox.arn, rule.arn).apply(lambda v: inbox_policy(v[0], v[1])),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-failed-target",
            rule=rule.name,
            arn=self.inbox.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )
        schedule_role, schedule_policy = iam.scoped_role(
            f"{name}-schedule-role",
            trust=context.account_id.apply(lambda account: iam.service_trust("scheduler.amazonaws.com", account)),
            policy=pulumi.Output.all(context.resolved(), self.inbox.arn).apply(
                lambda v: iam.policy_document(schedule_statements(model, v[0], v[1]))
            ),
            description=f"EventBridge Scheduler starts the batch transforms of {model}",
            parent=self,
        )
        request = pulumi.Output.all(context.resolved(), self.model.name).apply(
            lambda v: json.dumps(transform_request(model, batch, v[0], v[1], tags), sort_keys=True)
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            name=naming.batch_scoring(model),
            description=f"Batch scoring of {batch.input} by {model}",
            schedule_expression=batch.schedule.text,
            schedule_expression_timezone="UTC",
            flexible_time_window={"mode": "OFF"},
            kms_key_arn=platform.kms_key_arn,
            target={
                "arn": CREATE_TRANSFORM_JOB,
                "role_arn": schedule_role.arn,
                "input": request,
                "retry_policy": {
                    "maximum_retry_attempts": RETRY_ATTEMPTS,
                    "maximum_event_age_in_seconds": RETRY_WINDOW_SECONDS,
                },
                "dead_letter_config": {"arn": self.inbox.arn},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[schedule_policy] if schedule_policy else []),
        )

    def _on_eks(self, name: str, context: ModelContext, batch: BatchSpec) -> None:
        model = context.model
        assert batch.cluster is not None
        cluster = context.cluster(batch.cluster)
        account = naming.batch_scoring(model)
        role, _ = iam.scoped_role(
            f"{name}-pod-role",
            trust=cluster.apply(
                lambda c: iam.service_account_trust(c.oidc_provider_arn, c.oidc_issuer, batch.namespace, account)
            ),
            policy=pulumi.Output.all(context.resolved(), self.inbox.arn).apply(
                lambda v: iam.policy_document(eks_pod_statements(model, v[0], batch, v[1]))
            ),
            description=f"Batch scoring pods of {model} (modelform)",
            parent=self,
        )
        provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=cluster.apply(lambda c: c.kubeconfig), opts=pulumi.ResourceOptions(parent=self)
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        version = context.code_version
        objects = pulumi.Output.all(context.resolved(), role.arn, self.inbox.url).apply(
            lambda v: cronjob_objects(
                model=model,
                batch=batch,
                image=serving_image(v[0].serving_repository, version),
                where=v[0],
                role_arn=v[1],
                failures_url=v[2],
                labels=context.labels,
            )
        )
        for api_version, kind in EKS_KINDS:
            kubernetes.register(account, api_version, kind, objects.apply(lambda o, kind=kind: o[kind]), on_cluster)
