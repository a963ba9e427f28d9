"""Monitoring of one model: alert topic, quality and drift alarms, and the scheduled job.

`ModelMonitoring` provisions, from `monitoring` in the spec:
- an SNS topic `<model>-alerts` (KMS with the platform key) with an e-mail subscription per
  `notify` address; every alarm of the model notifies it (the endpoint alarms too);
- per monitored deployment (SageMaker, data capture on), an alarm per quality bound (`Quality`, metric `<name>`, below `min` or above
  `max`) and a drift alarm (`Drift`, metric `max`, above `drift.threshold`), on the metrics the job
  publishes (namespace `modelform`, dimensions model / deployment / metric), evaluated over the
  job's schedule period; missing data is `missing` (INSUFFICIENT_DATA), never silently OK;
- the monitoring pipeline `<model>-monitoring` (sagemaker SDK, offline): per SageMaker deployment
  with data capture, a processing job running `python -m monitoring` from the uploaded code on the
  training data (baseline), the deployment's capture prefix and the ground truth, publishing to
  CloudWatch; run by an EventBridge rule on `monitoring.schedule`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from .iam import monitoring_policy, sagemaker_trust_policy, service_trust_policy
from .images import framework_image, quiet_sagemaker_sdk
from .sdk_offline import offline_session, processing_step
from .spec import ModelSpec, SageMakerDeployment
from .spec.rules import METRICS

NAMESPACE = "modelform"
PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"
#: CloudWatch alarm periods are at most one day.
MAX_PERIOD = 86400


def pipeline_name(model: str) -> str:
    return f"{model}-monitoring"


def alarm_period(spec: ModelSpec) -> int:
    """One evaluation per job run: the schedule's rate, or a day for cron schedules."""
    assert spec.monitoring is not None
    seconds = spec.monitoring.schedule.rate_seconds or MAX_PERIOD
    return max(60, min(MAX_PERIOD, seconds))


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm on a metric the monitoring job publishes (pure data, tested without Pulumi)."""

    name: str
    metric_name: str  # Quality | Drift
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
                alarms.append(AlarmSpec(
                    name=f"{prefix}-quality-{bound.metric}-{side}",
                    metric_name="Quality", deployment=deployment.name, metric=bound.metric,
                    comparison="LessThanThreshold" if side == "min" else "GreaterThanThreshold",
                    threshold=value,
                    description=f"{bound.metric} of {prefix} {'below' if side == 'min' else 'above'} {value:g} "
                                f"({'higher' if better else 'lower'} is better)",
                ))
        if monitoring.drift is not None:
            alarms.append(AlarmSpec(
                name=f"{prefix}-drift", metric_name="Drift", deployment=deployment.name, metric="max",
                comparison="GreaterThanThreshold", threshold=monitoring.drift.threshold,
                description=f"largest {monitoring.drift.method} drift score of {prefix} above {monitoring.drift.threshold:g}",
            ))
    return alarms


def monitored_deployments(spec: ModelSpec) -> list[SageMakerDeployment]:
    """Deployments whose traffic the job can read: SageMaker with data capture on."""
    return [d for d in spec.deployments if isinstance(d, SageMakerDeployment) and d.data_capture_percent > 0]


def monitoring_pipeline_definition(
    spec: ModelSpec, *, region: str, role_arn: str, artifact_bucket: str, capture_bucket: str, kms_key_arn: str,
    code_prefix: str, subnet_ids: tuple, security_group_ids: tuple,
) -> str:
    """Per monitored deployment, one processing step running the monitoring job."""
    monitoring, data = spec.monitoring, spec.data
    assert monitoring is not None and data is not None and data.training is not None
    quiet_sagemaker_sdk(region)
    import warnings

    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import Processor
    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input
    from sagemaker.mlops.workflow import Pipeline

    session = offline_session(region, artifact_bucket)
    image = framework_image(spec.model.framework_version, region, PROCESSING_INSTANCE_TYPE, "training")

    def s3_input(name: str, uri: str, local: str) -> ProcessingInput:
        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"))

    steps = []
    for deployment in monitored_deployments(spec):
        processor = Processor(
            role=role_arn, image_uri=image, instance_count=1, instance_type=PROCESSING_INSTANCE_TYPE,
            entrypoint=["python3", "-m", "monitoring"], volume_kms_key=kms_key_arn, output_kms_key=kms_key_arn,
            max_runtime_in_seconds=3600, base_job_name=f"{spec.name}-monitor", sagemaker_session=session,
            env={"PYTHONPATH": "/opt/ml/processing/input/code-lib", "AWS_DEFAULT_REGION": region},
            network_config=NetworkConfig(subnets=list(subnet_ids), security_group_ids=list(security_group_ids)),
        )
        inputs = [
            s3_input("code-lib", code_prefix, "/opt/ml/processing/input/code-lib"),
            s3_input("baseline", str(data.training), "/opt/ml/processing/baseline"),
            s3_input("current", f"s3://{capture_bucket}/{spec.name}/{deployment.name}/", "/opt/ml/processing/current"),
        ]
        arguments = [
            "--baseline", "/opt/ml/processing/baseline", "--current", "/opt/ml/processing/current",
            "--problem-type", monitoring.problem_type,
            "--drift-method", monitoring.drift.method if monitoring.drift else "psi",
            "--out", "/opt/ml/processing/report/metrics.json",
            "--publish", "--model", spec.name, "--deployment", deployment.name,
        ]
        if monitoring.drift is not None and monitoring.drift.features:
            arguments += ["--features", ",".join(monitoring.drift.features)]
        if monitoring.quality and data.ground_truth is not None:
            inputs.append(s3_input("ground-truth", str(data.ground_truth), "/opt/ml/processing/ground-truth"))
            arguments += ["--ground-truth", "/opt/ml/processing/ground-truth"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            steps.append(processing_step(name=f"Monitor-{deployment.name}", step_args=processor.run(inputs=inputs, arguments=arguments)))
    definition = json.loads(Pipeline(name=pipeline_name(spec.name), steps=steps, sagemaker_session=session).definition())
    definition.pop("PipelineExperimentConfig", None)
    return json.dumps(definition, sort_keys=True)


# --- the component ------------------------------------------------------------------------------


@dataclass
class ModelMonitoringArgs:
    """Inputs of `ModelMonitoring`: the spec (with `monitoring`), the platform's locations, the
    uploaded code (`code_prefix`, `code_objects` of `CodeUpload`) and tags."""

    spec: ModelSpec
    region: str
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    artifact_bucket: pulumi.Input[str]
    capture_bucket: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list]
    security_group_ids: pulumi.Input[list]
    code_prefix: pulumi.Input[str]
    code_objects: list
    tags: Mapping[str, str] = field(default_factory=dict)


class ModelMonitoring(pulumi.ComponentResource):
    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: ModelMonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:monitoring:ModelMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec, tags = args.spec, dict(args.tags)
        assert spec.monitoring is not None
        self.topic = aws.sns.Topic(
            f"{name}-alerts", name=f"{spec.name}-alerts", kms_master_key_id=args.kms_key_arn, tags=tags, opts=child)
        for index, address in enumerate(spec.monitoring.notify):
            aws.sns.TopicSubscription(
                f"{name}-notify-{index}", topic=self.topic.arn, protocol="email", endpoint=address, opts=child)

        period = alarm_period(spec)
        self.alarms = {}
        self.kinds: dict[str, str] = {}  # alarm name -> Quality | Drift
        for alarm in monitoring_alarms(spec):
            self.alarms[alarm.name] = aws.cloudwatch.MetricAlarm(
                alarm.name,
                name=alarm.name,
                alarm_description=alarm.description,
                namespace=NAMESPACE,
                metric_name=alarm.metric_name,
                dimensions={"model": spec.name, "deployment": alarm.deployment, "metric": alarm.metric},
                statistic="Average" if alarm.metric_name == "Quality" else "Maximum",
                period=period,
                evaluation_periods=1,
                comparison_operator=alarm.comparison,
                threshold=alarm.threshold,
                treat_missing_data="missing",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                tags=tags,
                opts=child,
            )
            self.kinds[alarm.name] = alarm.metric_name

        self.pipeline = None
        if monitored_deployments(spec) and spec.data is not None and spec.data.training is not None:
            self._pipeline(name, args, tags, child)
        self.register_outputs({"topicArn": self.topic.arn})

    def _pipeline(self, name: str, args: ModelMonitoringArgs, tags: dict, child: pulumi.ResourceOptions) -> None:
        spec = args.spec
        role_name = f"{spec.name}-sagemaker-monitoring"
        role = aws.iam.Role(
            f"{name}-role", name=role_name,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(sagemaker_trust_policy),
            description=f"Monitoring jobs of model {spec.name} (modelform)", tags=tags, opts=child)
        assert spec.data is not None
        data_locations = tuple(str(u) for u in (spec.data.training, spec.data.ground_truth) if u)
        policy = aws.iam.RolePolicy(f"{name}-role-policy", role=role.id, opts=child, policy=pulumi.Output.all(
            args.account_id, args.artifact_bucket, args.capture_bucket, args.kms_key_arn, args.vpc_id,
        ).apply(lambda v: monitoring_policy(
            model=spec.name, region=args.region, account_id=v[0], artifact_bucket=v[1], capture_bucket=v[2],
            kms_key_arn=v[3], vpc_id=v[4], data_locations=data_locations)))
        role_arn = pulumi.Output.concat("arn:aws:iam::", args.account_id, ":role/", role.name)
        definition = pulumi.Output.all(
            role_arn, args.artifact_bucket, args.capture_bucket, args.kms_key_arn, args.code_prefix,
            args.subnet_ids, args.security_group_ids,
        ).apply(lambda v: monitoring_pipeline_definition(
            spec, region=args.region, role_arn=v[0], artifact_bucket=v[1], capture_bucket=v[2], kms_key_arn=v[3],
            code_prefix=v[4], subnet_ids=tuple(v[5]), security_group_ids=tuple(v[6])))
        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline", pipeline_name=pipeline_name(spec.name), pipeline_display_name=pipeline_name(spec.name),
            pipeline_description=f"Drift and quality of {spec.name}, published to CloudWatch",
            role_arn=role.arn, pipeline_definition=definition, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *args.code_objects]))

        events_role = aws.iam.Role(
            f"{name}-schedule-role", assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: service_trust_policy("events.amazonaws.com", account)),
            description=f"EventBridge starts the monitoring pipeline of {spec.name}", tags=tags, opts=child)
        aws.iam.RolePolicy(f"{name}-schedule-role-policy", role=events_role.id, opts=child, policy=self.pipeline.arn.apply(
            lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "StartOnlyThisPipeline", "Effect": "Allow", "Action": ["sagemaker:StartPipelineExecution"],
                "Resource": [arn]}]}, sort_keys=True)))
        assert spec.monitoring is not None
        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule", name=f"{spec.name}-monitoring-schedule",
            description=f"Run the monitoring pipeline of {spec.name}",
            schedule_expression=spec.monitoring.schedule.text, tags=tags, opts=child)
        aws.cloudwatch.EventTarget(f"{name}-schedule-target", rule=rule.name, arn=self.pipeline.arn,
                                   role_arn=events_role.arn, opts=child)
