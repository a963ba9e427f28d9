"""Monitoring of one model: alert topic, quality and drift alarms, and the scheduled job.

`ModelMonitoring` provisions, from `monitoring` in the spec:
- an SNS topic `<model>-alerts` (KMS with the platform key) with an e-mail subscription per
  `notify` address; every alarm of the model notifies it (the endpoint alarms too);
- per monitored deployment (data capture on; SageMaker or EKS), an alarm per quality bound
  (`Quality`, metric `<name>`, below `min` or above `max`), a drift alarm (`Drift`, metric `max`,
  above `drift.threshold`) and a schema alarm (`SchemaBreaks`, metric `count`, above 0), on the
  metrics the job publishes (namespace `modelform`, dimensions model / deployment / metric),
  evaluated over the job's schedule period; missing data is `missing` (INSUFFICIENT_DATA), never
  silently OK;
- the monitoring pipeline `<model>-monitoring` (`pipeline_definition.py`): per deployment with data
  capture (SageMaker or EKS), a processing job running `python -m monitoring` from the uploaded code on the
  training data (baseline), the deployment's capture prefix and the ground truth, publishing to
  CloudWatch; run by an EventBridge rule on `monitoring.schedule`. A deployment with a `shadow` gets
  a second step, `Monitor-<deployment>-shadow`, scoring only the shadow's capture and publishing it
  with a fourth dimension, `variant` (no alarm reads it: it is compared, in CloudWatch and in the
  report, before a promotion); the deployment's own step leaves the shadow's capture out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Optional

import pulumi
import pulumi_aws as aws

from . import iam, naming
from .context import ModelContext, Resolved
from .images import framework_image
from .pipeline_definition import definition_text, processing_step, s3_input
from .spec import Deployment, ModelSpec, MonitoringSpec, Target
from .spec.parsers import S3Uri
from .spec.rules import METRICS

NAMESPACE = "modelform"
PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"
#: CloudWatch alarm periods are at most one day.
MAX_PERIOD = 86400


class AlarmKind(StrEnum):
    """The metric a monitoring alarm watches (the monitoring job publishes all three)."""

    QUALITY = "Quality"
    DRIFT = "Drift"
    #: Features the job could not score (missing, unparseable, extra values): the traffic no longer
    #: matches the model's schema. A person must look; it never triggers a retraining.
    SCHEMA = "SchemaBreaks"


def alarm_period(spec: ModelSpec) -> int:
    """One evaluation per job run: the schedule's rate, or a day for cron schedules."""
    assert spec.monitoring is not None
    seconds = spec.monitoring.schedule.rate_seconds or MAX_PERIOD
    return max(60, min(MAX_PERIOD, seconds))


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm on a metric the monitoring job publishes (pure data, tested without Pulumi)."""

    name: str
    kind: AlarmKind  # also the CloudWatch metric name
    deployment: str
    metric: str  # the `metric` dimension
    comparison: str
    threshold: float
    description: str


def monitoring_alarms(spec: ModelSpec) -> list[AlarmSpec]:
    monitoring = spec.monitoring
    if monitoring is None:
        return []
    alarms = []
    for deployment in monitored_deployments(spec):  # where the job publishes metrics
        prefix = f"{spec.name}-{deployment.name}"
        for bound in monitoring.quality:
            better = METRICS[monitoring.problem_type].get(bound.metric, True)
            for side, value in (("min", bound.min), ("max", bound.max)):
                if value is None:
                    continue
                alarms.append(
                    AlarmSpec(
                        name=f"{prefix}-quality-{bound.metric}-{side}",
                        kind=AlarmKind.QUALITY,
                        deployment=deployment.name,
                        metric=bound.metric,
                        comparison="LessThanThreshold" if side == "min" else "GreaterThanThreshold",
                        threshold=value,
                        description=f"{bound.metric} of {prefix} {'below' if side == 'min' else 'above'} {value:g} "
                        f"({'higher' if better else 'lower'} is better)",
                    )
                )
        if monitoring.drift is not None:
            alarms.append(
                AlarmSpec(
                    name=f"{prefix}-drift",
                    kind=AlarmKind.DRIFT,
                    deployment=deployment.name,
                    metric="max",
                    comparison="GreaterThanThreshold",
                    threshold=monitoring.drift.threshold,
                    description=f"largest {monitoring.drift.method} drift score of {prefix} above "
                    f"{monitoring.drift.threshold:g}",
                )
            )
        alarms.append(
            AlarmSpec(
                name=f"{prefix}-schema-breaks",
                kind=AlarmKind.SCHEMA,
                deployment=deployment.name,
                metric="count",
                comparison="GreaterThanThreshold",
                threshold=0,
                description=f"traffic of {prefix} no longer matches the model's features (missing, unscorable "
                "or extra values): see the monitoring job's metrics.json",
            )
        )
    return alarms


def monitored_deployments(spec: ModelSpec) -> list[Deployment]:
    """Deployments whose traffic the job can read: data capture on, SageMaker or EKS (the serving
    container writes the same capture format under the same prefix)."""
    return [d for d in spec.deployments if d.data_capture_percent > 0]


def shadow_step_name(deployment: Deployment) -> str:
    return f"Monitor-{deployment.name}-shadow"


def shadow_capture_folder(model: str, deployment: Deployment) -> str:
    """Where a deployment's shadow writes its capture, relative to the deployment's capture prefix:
    SageMaker writes `<endpoint>/<variant>/...`, our EKS serving container `<variant>/...`."""
    assert deployment.shadow is not None
    if deployment.target is Target.SAGEMAKER:
        return f"{naming.endpoint(model, deployment.name)}/{deployment.shadow.name}"
    return deployment.shadow.name


@dataclass(frozen=True)
class MonitoringJob:
    """One run of the monitoring job, a step of the monitoring pipeline: what it reads (name, S3
    location, local folder) and its command line."""

    step: str
    inputs: tuple[tuple[str, str, str], ...]
    arguments: tuple[str, ...]


def monitoring_jobs(spec: ModelSpec, where: Resolved, code_prefix: str) -> list[MonitoringJob]:
    """Per monitored deployment, a job scoring its capture against the training data (and the
    ground truth, for quality); per shadow among them, a job scoring the shadow's capture alone."""
    monitoring, data = spec.monitoring, spec.data
    assert monitoring is not None and data is not None and data.training is not None

    def job(step: str, deployment: Deployment, current: str, options: list[str]) -> MonitoringJob:
        inputs = [
            ("code-lib", code_prefix, "/opt/ml/processing/input/code-lib"),
            ("baseline", str(data.training), "/opt/ml/processing/baseline"),
            ("current", current, "/opt/ml/processing/current"),
        ]
        arguments = [
            "--baseline",
            "/opt/ml/processing/baseline",
            "--current",
            "/opt/ml/processing/current",
            "--problem-type",
            monitoring.problem_type,
            "--drift-method",
            monitoring.drift.method if monitoring.drift else "psi",
            "--out",
            "/opt/ml/processing/report/metrics.json",
            "--publish",
            "--model",
            spec.name,
            "--deployment",
            deployment.name,
            *options,
        ]
        if monitoring.drift is not None and monitoring.drift.features:
            arguments += ["--features", ",".join(monitoring.drift.features)]
        if monitoring.quality and data.ground_truth is not None:
            inputs.append(("ground-truth", str(data.ground_truth), "/opt/ml/processing/ground-truth"))
            arguments += ["--ground-truth", "/opt/ml/processing/ground-truth"]
        return MonitoringJob(step, tuple(inputs), tuple(arguments))

    jobs = []
    for deployment in monitored_deployments(spec):
        prefix = f"s3://{where.capture_bucket}/{spec.name}/{deployment.name}/"
        if deployment.shadow is None:
            jobs.append(job(f"Monitor-{deployment.name}", deployment, prefix, []))
            continue
        # The shadow's capture lies under the deployment's prefix: the production scores leave it
        # out, and the shadow is scored on its own, as a series of its own (`variant` dimension).
        folder = shadow_capture_folder(spec.name, deployment)
        jobs.append(job(f"Monitor-{deployment.name}", deployment, prefix, ["--skip", folder]))
        jobs.append(
            job(shadow_step_name(deployment), deployment, f"{prefix}{folder}/", ["--variant", deployment.shadow.name])
        )
    return jobs


def monitoring_pipeline_definition(spec: ModelSpec, where: Resolved, *, role_arn: str, code_prefix: str) -> str:
    """One processing step per monitoring job (`where`: the platform's values, resolved)."""
    image = framework_image(spec.model.framework_version, where.region, PROCESSING_INSTANCE_TYPE, "training")
    steps = [
        processing_step(
            job.step,
            job_name=naming.monitoring_job_prefix(spec.name),
            role_arn=role_arn,
            image=image,
            instance_type=PROCESSING_INSTANCE_TYPE,
            kms_key_arn=where.kms_key_arn,
            entrypoint=["python3", "-m", "monitoring"],
            arguments=list(job.arguments),
            inputs=[s3_input(*location) for location in job.inputs],
            environment={"AWS_DEFAULT_REGION": where.region, "PYTHONPATH": "/opt/ml/processing/input/code-lib"},
            vpc=(where.subnet_ids, where.security_group_ids),
            isolated=False,  # it publishes metrics to CloudWatch, through the VPC's endpoint
        )
        for job in monitoring_jobs(spec, where, code_prefix)
    ]
    return definition_text(steps)


# --- the component ------------------------------------------------------------------------------


def monitoring_statements(model: str, where: Resolved, role_arn: str, data: tuple[S3Uri, ...]) -> list[iam.Statement]:
    """The monitoring pipeline starts its jobs (`<model>-monitor-*`) with this role; the jobs read
    the baseline and ground truth, the model's captures and code, and publish metrics only into
    the `modelform` namespace."""
    reads = [iam.location_objects_arn(uri) for uri in data]
    reads += [iam.objects_arn(where.capture_bucket, model), iam.objects_arn(where.artifact_bucket, f"{model}/code")]
    buckets = {uri.bucket for uri in data} | {where.capture_bucket, where.artifact_bucket}
    return [
        iam.read_objects("ReadInputs", reads),
        iam.allow("ListInputs", ["s3:ListBucket"], [iam.bucket_arn(b) for b in buckets]),
        *iam.use_key(where.kms_key_arn, grants_for_aws_services=True),
        *iam.pipeline_runner(
            where.region,
            where.account_id,
            naming.monitoring_pipeline(model),
            role_arn,
            {"processing-job": naming.monitoring_job_prefix(model)},
        ),
        iam.allow(
            "PublishOnlyModelformMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
        ),
        *iam.container_runtime(
            where.region,
            where.account_id,
            where.vpc_id,
            "Jobs",
            [
                iam.log_group_arn(where.region, where.account_id, "/aws/sagemaker/ProcessingJobs"),
                iam.log_group_arn(where.region, where.account_id, "/aws/sagemaker/ProcessingJobs", f"{model}-*"),
            ],
        ),
    ]


class ModelMonitoring(pulumi.ComponentResource):
    """The alert topic, the alarms on the monitoring job's metrics, and the scheduled job."""

    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(
        self,
        name: str,
        context: ModelContext,
        monitoring: MonitoringSpec,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:monitoring:ModelMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = context.spec
        self.topic = aws.sns.Topic(
            f"{name}-alerts",
            name=naming.alert_topic(spec.name),
            kms_master_key_id=context.platform.kms_key_arn,
            opts=child,
        )
        for index, address in enumerate(monitoring.notify):
            aws.sns.TopicSubscription(
                f"{name}-notify-{index}", topic=self.topic.arn, protocol="email", endpoint=address, opts=child
            )

        period = alarm_period(spec)
        self.alarms = {}
        self.kinds: dict[str, AlarmKind] = {}
        for alarm in monitoring_alarms(spec):
            self.alarms[alarm.name] = aws.cloudwatch.MetricAlarm(
                alarm.name,
                name=alarm.name,
                alarm_description=alarm.description,
                namespace=NAMESPACE,
                metric_name=str(alarm.kind),
                dimensions={"model": spec.name, "deployment": alarm.deployment, "metric": alarm.metric},
                statistic="Average" if alarm.kind is AlarmKind.QUALITY else "Maximum",
                period=period,
                evaluation_periods=1,
                comparison_operator=alarm.comparison,
                threshold=alarm.threshold,
                treat_missing_data="missing",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=child,
            )
            self.kinds[alarm.name] = alarm.kind

        self.pipeline = None
        if monitored_deployments(spec) and spec.data is not None and spec.data.training is not None:
            self._pipeline(name, context, monitoring)
        self.register_outputs({"topicArn": self.topic.arn})

    def alarm_arns(self, kind: AlarmKind) -> list[pulumi.Output]:
        return [alarm.arn for name, alarm in sorted(self.alarms.items()) if self.kinds[name] is kind]

    def _pipeline(self, name: str, context: ModelContext, monitoring: MonitoringSpec) -> None:
        spec, code = context.spec, context.code
        assert spec.data is not None and code is not None
        model = spec.name
        data = tuple(u for u in (spec.data.training, spec.data.ground_truth) if u is not None)
        role_arn = iam.role_arn(context.account_id, naming.monitoring_role(model))
        role, policy = iam.scoped_role(
            f"{name}-role",
            role_name=naming.monitoring_role(model),
            trust=context.account_id.apply(lambda account: iam.service_trust("sagemaker.amazonaws.com", account)),
            policy=pulumi.Output.all(context.resolved(), role_arn).apply(
                lambda v: iam.policy_document(monitoring_statements(model, v[0], v[1], data))
            ),
            description=f"Monitoring jobs of model {model} (modelform)",
            parent=self,
        )
        definition = pulumi.Output.all(context.resolved(), role_arn, code.prefix).apply(
            lambda v: monitoring_pipeline_definition(spec, v[0], role_arn=v[1], code_prefix=v[2])
        )
        pipeline_name = naming.monitoring_pipeline(model)
        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=pipeline_name,
            pipeline_display_name=pipeline_name,
            pipeline_description=f"Drift and quality of {model}, published to CloudWatch",
            role_arn=role.arn,
            pipeline_definition=definition,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *code.objects]),
        )

        events_role, _ = iam.scoped_role(
            f"{name}-schedule-role",
            trust=context.account_id.apply(lambda account: iam.service_trust("events.amazonaws.com", account)),
            policy=self.pipeline.arn.apply(
                lambda arn: iam.policy_document(
                    [iam.allow("StartOnlyThisPipeline", ["sagemaker:StartPipelineExecution"], [arn])]
                )
            ),
            description=f"EventBridge starts the monitoring pipeline of {model}",
            parent=self,
        )
        child = pulumi.ResourceOptions(parent=self)
        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            name=naming.monitoring_schedule(model),
            description=f"Run the monitoring pipeline of {model}",
            schedule_expression=monitoring.schedule.text,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-schedule-target", rule=rule.name, arn=self.pipeline.arn, role_arn=events_role.arn, opts=child
        )
