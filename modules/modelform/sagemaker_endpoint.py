"""A SageMaker real-time endpoint for one deployment of a model, with autoscaling and guardrails.

Children, for deployment `<d>` of model `<m>` (`<ep>` = `<m>-<d>`, `<v>` = `<m>-<d>-<variant>`):

- `<v>-model` (`aws.sagemaker.Model`): per variant, a registry version (model package) or an
  artifact with the PyTorch inference image; network-isolated, in the platform VPC;
- `<ep>-config` (`aws.sagemaker.EndpointConfiguration`): weighted variants, KMS-encrypted
  volumes, data capture to `<capture bucket>/<m>/<d>/` (KMS);
- `<ep>-endpoint` (`aws.sagemaker.Endpoint`): physical name `<ep>`; blue/green updates (all at
  once, canary or linear) that roll back when an alarm below fires;
- `<v>-p99-latency` (`aws.cloudwatch.MetricAlarm`): p99 `ModelLatency` above
  `monitoring.latency_p99_ms` (SageMaker reports microseconds);
- `<v>-5xx-rate` (`aws.cloudwatch.MetricAlarm`): 100 * `Invocation5XXErrors` / `Invocations`
  above `monitoring.error_rate_percent`;
- `<v>-scaling` (`aws.appautoscaling.Target`): per variant, min/max instances;
- `<v>-invocations-per-instance` (`aws.appautoscaling.Policy`): target tracking on invocations
  per instance, with the spec's cooldowns;
- `<v>-<window>-start` / `-end` (`aws.appautoscaling.ScheduledAction`): known peaks, raise
  min/max at `start`, restore them at `end`.

Without a `monitoring` section the alarms use its documented defaults (`ModelSpec.endpoint_alarms`).

**A shadow** (`deployment.shadow`) is a shadow production variant of the configuration: its own
`<ep>-<shadow>-model`, a weight relative to the one production variant's that makes SageMaker copy
`percent` % of the requests to it, a starting count that is its share of production's
(`shadow_share`), its own latency and 5xx alarms (which notify, but never roll production back: its
answers reach nobody) and, with autoscaling, its own tracking target from its share of the everyday
floor up to `max_instances` (no scheduled windows: those are for answers customers wait for).

**Instance counts and endpoint updates.** pulumi-aws does not expose UpdateEndpoint's
`RetainAllVariantProperties`, so every endpoint-configuration change (a new model version, a new
weight) starts the new fleet at `initial_instance_count`, whatever the autoscaler had reached.
To never fight the autoscaler downwards, the initial count is the *highest floor* it may hold:
`max(min_instances, min_instances of every scheduled window)`, as the variant's share.

**Floors by weight.** `min_instances` (everyday and per window) is the deployment's floor; each
variant holds its share by traffic weight, rounded up, at least 1 (`weight_share`): a 5 %
candidate next to a 95 % variant holds 1 of 15 instances, not 15. Ceilings (`max_instances`) are
per variant as written: they cost nothing until traffic needs them. A deploy outside a peak then
starts high and Application Auto Scaling scales in after its cooldown (minutes of extra
instances); a deploy during Black Friday never drops capacity to the everyday minimum. The
counts the autoscaler manages (`desiredInstanceCount`) are not declared at all, so Pulumi never
resets them between deploys. The scaling target declares the everyday bounds; inside a window
the scheduled action has raised them, so a `pulumi up --refresh` run *during* a window would put
them back to the everyday bounds until the window's end action: refresh outside windows (a spec
change of the bounds must still apply, so they are not in `ignoreChanges`). Changing the
*instance type* of an autoscaled variant is refused by SageMaker while the scaling target is
registered (AWS: "Update endpoints that use auto scaling"): rename the variant to move it to a
new instance type.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from . import naming
from .capacity import shadow_share, weight_share
from .context import ModelContext
from .images import framework_image
from .model_registry import model_package_arn
from .spec import Rollout, RolloutStrategy, SageMakerDeployment, ServerlessInference, Shadow, Variant
from .spec.parsers import format_timestamp

# --- pure translation, tested without Pulumi ------------------------------------------------------


def initial_instance_count(deployment: SageMakerDeployment, variant: Variant) -> int:
    """The instance count a variant's new fleet starts with (see the module docstring for why)."""
    scaling = deployment.autoscaling
    if scaling is None:
        return deployment.instance_count
    floors = [scaling.min_instances, *(w.floor for w in scaling.scheduled)]
    # An asynchronous deployment that scales to zero still starts with one instance (AWS's minimum).
    return max(1, weight_share(max(floors), variant, deployment.variants))


@dataclass(frozen=True)
class ScheduledStep:
    """One scheduled action: at `at` (UTC), set the scaling bounds to `min_capacity..max_capacity`."""

    suffix: str  # "<window>-start" | "<window>-end"
    at: str  # yyyy-mm-ddThh:mm:ss (UTC)
    min_capacity: int
    max_capacity: int

    @property
    def schedule(self) -> str:
        return f"at({self.at})"


def scheduled_steps(deployment: SageMakerDeployment, variant: Variant) -> list[ScheduledStep]:
    """Both edges of every window, for one variant: raise at start, restore the everyday bounds
    at end; floors are the variant's share by weight, ceilings the spec's."""
    scaling = deployment.autoscaling
    if scaling is None:
        return []
    everyday = weight_share(scaling.min_instances, variant, deployment.variants)
    steps = []
    for window in scaling.scheduled:
        floor = weight_share(window.floor, variant, deployment.variants)
        steps.append(ScheduledStep(f"{window.name}-start", _at(window.start), floor, window.ceiling))
        steps.append(ScheduledStep(f"{window.name}-end", _at(window.end), everyday, scaling.max_instances))
    return steps


def provisioned_concurrency_steps(serverless: ServerlessInference) -> list[ScheduledStep]:
    """Both edges of every serverless window: provisioned concurrency raised to the window's at its
    start, restored to the everyday value at its end (minimum and maximum alike)."""
    everyday = serverless.provisioned_concurrency
    assert everyday is not None or not serverless.scheduled
    steps = []
    for window in serverless.scheduled:
        steps.append(ScheduledStep(f"{window.name}-start", _at(window.start), window.floor, window.floor))
        steps.append(ScheduledStep(f"{window.name}-end", _at(window.end), everyday, everyday))
    return steps


def _at(moment) -> str:
    return format_timestamp(moment).rstrip("Z")


def traffic_routing(rollout: Rollout) -> dict[str, Any]:
    """SageMaker's TrafficRoutingConfiguration for the spec's rollout."""
    routing: dict[str, Any] = {"type": rollout.strategy.upper(), "wait_interval_in_seconds": rollout.wait_seconds}
    if rollout.strategy is RolloutStrategy.CANARY:
        routing["canary_size"] = {"type": "CAPACITY_PERCENT", "value": rollout.step_percent}
    elif rollout.strategy is RolloutStrategy.LINEAR:
        routing["linear_step_size"] = {"type": "CAPACITY_PERCENT", "value": rollout.step_percent}
    return routing


def shadow_initial_count(deployment: SageMakerDeployment) -> int:
    """The shadow's new fleet: its share of the production variant's starting count."""
    assert deployment.shadow is not None
    return shadow_share(initial_instance_count(deployment, deployment.variants[0]), deployment.shadow)


SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
PROVISIONED_CONCURRENCY_DIMENSION = "sagemaker:variant:DesiredProvisionedConcurrency"
#: Serverless inference runs on CPUs only: artifacts are served with the CPU image.
SERVERLESS_IMAGE_INSTANCE_TYPE = "ml.m5.large"
#: The topics of an asynchronous endpoint: `<endpoint>-async-success` and `-async-errors`.
ASYNC_OUTCOMES = ("success", "errors")
#: The folders of an asynchronous deployment's prefix SageMaker writes: answers, and failures.
ASYNC_FOLDERS = ("output", "failures")
#: After adding the first instance to an empty asynchronous endpoint, wait this long (its start-up)
#: before adding another on the same signal.
SCALE_FROM_ZERO_COOLDOWN_SECONDS = 600


def serverless_config(serverless: ServerlessInference) -> dict[str, int]:
    config = {"memory_size_in_mb": serverless.memory_mb, "max_concurrency": serverless.max_concurrency}
    if serverless.provisioned_concurrency is not None:
        config["provisioned_concurrency"] = serverless.provisioned_concurrency
    return config


def async_prefix(model: str, deployment: str) -> str:
    """Where an asynchronous deployment's requests (`input/`), answers and failures live."""
    return f"{model}/async/{deployment}/"


#: SageMaker bounds MaximumExecutionTimeoutInSeconds to 600..28800.
_MIN_EXECUTION_TIMEOUT, _MAX_EXECUTION_TIMEOUT = 600, 28800
#: Time allowed per step for the green fleet to launch and take traffic, beyond the bake time.
_STEP_ALLOWANCE_SECONDS = 900


def rollout_steps(rollout: Rollout) -> int:
    """How many times traffic moves: once, twice (canary, then the rest), or in linear steps."""
    if rollout.strategy is RolloutStrategy.ALL_AT_ONCE:
        return 1
    if rollout.strategy is RolloutStrategy.CANARY:
        return 2
    assert rollout.step_percent is not None
    return math.ceil(100 / rollout.step_percent)


def max_execution_timeout(rollout: Rollout) -> int:
    """Long enough for every step to launch and bake; within SageMaker's bounds."""
    wanted = rollout_steps(rollout) * (rollout.wait_seconds + _STEP_ALLOWANCE_SECONDS)
    return max(_MIN_EXECUTION_TIMEOUT, min(_MAX_EXECUTION_TIMEOUT, wanted))


#: How long the old fleet is kept after traffic has fully moved, for a fast manual rollback.
TERMINATION_WAIT_SECONDS = 300


def inference_image(framework_version: str, region: str, instance_type: str) -> str:
    """The AWS PyTorch inference image for the version and the instance (CPU or GPU)."""
    return framework_image(framework_version, region, instance_type, "inference")


def serving_environment(entry_point: str, region: str) -> dict[str, str]:
    """The SageMaker PyTorch serving toolkit's settings: our entry point, from the model archive."""
    return {
        "SAGEMAKER_PROGRAM": entry_point,
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": region,
    }


def serving_container(context: ModelContext, variant: Variant, instance_type: str) -> tuple[dict[str, Any], dict]:
    """A SageMaker model's primary container for what `variant` serves (a registry version, or an
    artifact with the PyTorch inference image for `instance_type`), and the spec-derived content
    that names the model (ARNs that are outputs are not content)."""
    if variant.model_version is not None:
        package = context.account_id.apply(
            lambda account: model_package_arn(context.region, account, context.model, variant.model_version)
        )
        return {"model_package_name": package}, {"model_package": f"{context.model}/{variant.model_version}"}
    code = context.spec.model
    container = {
        "image": inference_image(code.framework_version, context.region, instance_type),
        "model_data_url": str(variant.artifact),
        "environment": serving_environment(code.inference_entry_point, context.region),
    }
    return container, container


def capture_prefix(model: str, deployment: str) -> str:
    return f"{model}/{deployment}/"


# --- the component ----------------------------------------------------------------------------


class SageMakerEndpoint(pulumi.ComponentResource):
    """Models, endpoint configuration, endpoint, alarms and autoscaling of one deployment.

    execution_role_arn: the model's `ModelExecutionRole`. alarm_topic_arn: the SNS topic every
    alarm notifies (the model's alert topic), or None without monitoring.
    """

    def __init__(
        self,
        name: str,
        context: ModelContext,
        deployment: SageMakerDeployment,
        *,
        execution_role_arn: pulumi.Input[str],
        alarm_topic_arn: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:sagemaker_endpoint:SageMakerEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.context, self.deployment = context, deployment
        model, platform = context.model, context.platform
        self.endpoint_name = naming.endpoint(model, deployment.name)

        variants, contents = [], []
        self.models: dict[str, aws.sagemaker.Model] = {}
        for variant in deployment.variants:
            entry, content = self._variant(variant, initial_instance_count(deployment, variant), execution_role_arn)
            variants.append(entry)
            contents.append(content)
        shadows = []
        if deployment.shadow is not None:
            shadow = deployment.shadow
            entry, content = self._variant(
                shadow.variant, shadow_initial_count(deployment), execution_role_arn, copied=variants[0]
            )
            shadows.append(entry)
            contents.append(content)

        capture = None
        if deployment.data_capture_percent > 0:
            capture = {
                "enable_capture": True,
                "initial_sampling_percentage": deployment.data_capture_percent,
                "destination_s3_uri": pulumi.Output.concat(
                    "s3://", platform.capture_bucket, "/", capture_prefix(model, deployment.name)
                ),
                "kms_key_id": platform.kms_key_arn,
                "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
                "capture_content_type_header": {
                    "csv_content_types": ["text/csv"],
                    "json_content_types": ["application/json"],
                },
            }
        asynchronous = self._asynchronous() if deployment.asynchronous is not None else None
        # What the configuration is made of, spec-side (model names are outputs): its name's hash.
        config_content = {
            "variants": [
                {**{k: v for k, v in variant.items() if k != "model_name"}, "_content": content}
                for variant, content in zip(variants + shadows, contents)
            ],
            "capture_percent": deployment.data_capture_percent,
        }
        if shadows:  # the key appears only with a shadow: configurations without one keep their names
            config_content["shadows"] = len(shadows)
        if deployment.asynchronous is not None:  # likewise
            config_content["async"] = asdict(deployment.asynchronous)
        self.config = aws.sagemaker.EndpointConfiguration(
            f"{self.endpoint_name}-config",
            name=naming.content_named(self.endpoint_name, config_content),
            production_variants=variants,
            shadow_production_variants=shadows or None,
            kms_key_arn=platform.kms_key_arn,
            data_capture_config=capture,
            async_inference_config=asynchronous,
            opts=child,
        )

        self.alarms = []
        for variant in deployment.variants:
            self.alarms += self._alarms(variant.name, alarm_topic_arn, child)
        # The shadow's alarms tell its owners, but never roll production back: its answers reach nobody.
        self.shadow_alarms = (
            self._alarms(deployment.shadow.name, alarm_topic_arn, child) if deployment.shadow is not None else []
        )

        self.endpoint = aws.sagemaker.Endpoint(
            f"{self.endpoint_name}-endpoint",
            name=self.endpoint_name,
            endpoint_config_name=self.config.name,
            deployment_config={
                "blue_green_update_policy": {
                    "traffic_routing_configuration": traffic_routing(deployment.rollout),
                    "termination_wait_in_seconds": TERMINATION_WAIT_SECONDS,
                    "maximum_execution_timeout_in_seconds": max_execution_timeout(deployment.rollout),
                },
                "auto_rollback_configuration": {"alarms": [{"alarm_name": alarm.name} for alarm in self.alarms]},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.alarms),
        )
        if deployment.autoscaling is not None:
            for variant in deployment.variants:
                self._autoscaling(variant)
            if deployment.shadow is not None:
                self._shadow_autoscaling(deployment.shadow)
        if deployment.serverless is not None and deployment.serverless.scheduled:
            self._provisioned_concurrency_windows(deployment.variants[0])
        self.register_outputs({"endpointName": self.endpoint.name, "endpointConfigName": self.config.name})

    def _asynchronous(self) -> dict[str, Any]:
        """AsyncInferenceConfig: answers and failures under the model's prefix (KMS), and the
        topics that announce them, which applications subscribe to."""
        settings = self.deployment.asynchronous
        assert settings is not None
        platform, child = self.context.platform, pulumi.ResourceOptions(parent=self)
        topics = {
            outcome: aws.sns.Topic(
                f"{self.endpoint_name}-async-{outcome}",
                name=naming.async_topic(self.context.model, self.deployment.name, outcome),
                kms_master_key_id=platform.kms_key_arn,
                opts=child,
            )
            for outcome in ASYNC_OUTCOMES
        }
        prefix = async_prefix(self.context.model, self.deployment.name)
        config: dict[str, Any] = {
            "output_config": {
                "s3_output_path": pulumi.Output.concat("s3://", platform.artifact_bucket, "/", prefix, "output/"),
                "s3_failure_path": pulumi.Output.concat("s3://", platform.artifact_bucket, "/", prefix, "failures/"),
                "kms_key_id": platform.kms_key_arn,
                "notification_config": {
                    "success_topic": topics["success"].arn,
                    "error_topic": topics["errors"].arn,
                },
            }
        }
        if settings.max_concurrent_invocations_per_instance is not None:
            config["client_config"] = {
                "max_concurrent_invocations_per_instance": settings.max_concurrent_invocations_per_instance
            }
        return config

    def _variant(
        self,
        variant: Variant,
        initial_count: int,
        execution_role_arn: pulumi.Input[str],
        copied: Optional[dict[str, Any]] = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The variant's model, and its entry in the endpoint configuration (with the spec-side
        content that names both). `copied`: the production variant a shadow receives copies of."""
        model, platform = self.context.model, self.context.platform
        serverless = self.deployment.serverless
        prefix = naming.variant_resource(model, self.deployment.name, variant.name)
        container, content = serving_container(
            self.context, variant, self.deployment.instance_type or SERVERLESS_IMAGE_INSTANCE_TYPE
        )
        # Serverless inference takes neither a VPC nor network isolation (AWS's feature exclusions).
        isolation = (
            {}
            if serverless is not None
            else {
                "enable_network_isolation": True,
                "vpc_config": {
                    "subnets": platform.private_subnet_ids,
                    "security_group_ids": pulumi.Output.from_input(platform.model_security_group_id).apply(
                        lambda group: [group]
                    ),
                },
            }
        )
        self.models[variant.name] = aws.sagemaker.Model(
            f"{prefix}-model",
            name=naming.content_named(prefix, content),
            execution_role_arn=execution_role_arn,
            primary_container=container,
            **isolation,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # A shadow's weight, relative to the one production variant's, is the share of requests
        # SageMaker copies to it.
        weight = variant.weight if copied is None else copied["initial_variant_weight"] * variant.weight
        entry: dict[str, Any] = {
            "variant_name": variant.name,
            "model_name": self.models[variant.name].name,
            "initial_variant_weight": weight,
        }
        if serverless is not None:
            entry["serverless_config"] = serverless_config(serverless)
        else:
            entry.update(instance_type=self.deployment.instance_type, initial_instance_count=initial_count)
        return entry, content

    def _alarms(self, variant: str, topic_arn: Optional[pulumi.Input[str]], opts: pulumi.ResourceOptions) -> list:
        thresholds = self.context.spec.endpoint_alarms
        prefix = naming.variant_resource(self.context.model, self.deployment.name, variant)
        dimensions = {"EndpointName": self.endpoint_name, "VariantName": variant}
        actions = {"alarm_actions": [topic_arn], "ok_actions": [topic_arn]} if topic_arn is not None else {}
        latency = aws.cloudwatch.MetricAlarm(
            f"{prefix}-p99-latency",
            name=f"{prefix}-p99-latency",
            alarm_description=f"p99 model latency of {self.endpoint_name}/{variant} "
            f"above {thresholds.latency_p99_ms} ms",
            namespace="AWS/SageMaker",
            metric_name="ModelLatency",
            dimensions=dimensions,
            extended_statistic="p99",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator="GreaterThanThreshold",
            # SageMaker reports ModelLatency in microseconds.
            threshold=thresholds.latency_p99_ms * 1000,
            treat_missing_data="notBreaching",
            **actions,
            opts=opts,
        )

        def metric(name: str) -> dict[str, Any]:
            return {
                "metric_name": name,
                "namespace": "AWS/SageMaker",
                "period": 60,
                "stat": "Sum",
                "dimensions": dimensions,
            }

        errors = aws.cloudwatch.MetricAlarm(
            f"{prefix}-5xx-rate",
            name=f"{prefix}-5xx-rate",
            alarm_description=f"5xx responses of {self.endpoint_name}/{variant} "
            f"above {thresholds.error_rate_percent} %",
            metric_queries=[
                {"id": "errors", "metric": metric("Invocation5XXErrors"), "return_data": False},
                {"id": "invocations", "metric": metric("Invocations"), "return_data": False},
                {"id": "rate", "expression": "100 * errors / invocations", "label": "5xx %", "return_data": True},
            ],
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator="GreaterThanThreshold",
            threshold=thresholds.error_rate_percent,
            treat_missing_data="notBreaching",
            **actions,
            opts=opts,
        )
        return [latency, errors]

    def _autoscaling(self, variant: Variant) -> None:
        scaling = self.deployment.autoscaling
        assert scaling is not None
        floor = weight_share(scaling.min_instances, variant, self.deployment.variants)
        target = self._tracking(variant.name, floor)
        self._schedule(variant.name, target, SCALABLE_DIMENSION, scheduled_steps(self.deployment, variant))

    def _schedule(
        self, variant: str, target: aws.appautoscaling.Target, dimension: str, steps: list[ScheduledStep]
    ) -> None:
        """A scheduled action per step on the variant's scaling target."""
        prefix = naming.variant_resource(self.context.model, self.deployment.name, variant)
        on_target = pulumi.ResourceOptions(parent=self, depends_on=[target])
        for step in steps:
            aws.appautoscaling.ScheduledAction(
                f"{prefix}-{step.suffix}",
                name=f"{prefix}-{step.suffix}",
                service_namespace="sagemaker",
                resource_id=target.resource_id,
                scalable_dimension=dimension,
                schedule=step.schedule,
                timezone="UTC",
                scalable_target_action={"min_capacity": step.min_capacity, "max_capacity": step.max_capacity},
                opts=on_target,
            )

    def _shadow_autoscaling(self, shadow: Shadow) -> None:
        """The shadow tracks the same target on the copies it receives, from its share of the
        everyday floor; scheduled windows are for the answers customers wait for, not for copies."""
        scaling = self.deployment.autoscaling
        assert scaling is not None
        self._tracking(shadow.name, shadow_share(scaling.min_instances, shadow))

    def _tracking(self, variant: str, floor: int) -> aws.appautoscaling.Target:
        """A variant's scaling target (floor .. max_instances) and its target-tracking policy."""
        scaling = self.deployment.autoscaling
        assert scaling is not None
        prefix = naming.variant_resource(self.context.model, self.deployment.name, variant)
        resource_id = self.endpoint.name.apply(lambda endpoint: naming.autoscaling_resource_id(endpoint, variant))
        target = aws.appautoscaling.Target(
            f"{prefix}-scaling",
            service_namespace="sagemaker",
            resource_id=resource_id,
            scalable_dimension=SCALABLE_DIMENSION,
            min_capacity=floor,
            max_capacity=scaling.max_instances,
            opts=pulumi.ResourceOptions(parent=self),
        )
        settings = self.deployment.asynchronous
        if settings is None:  # real time: requests per instance, as SageMaker predefines it
            kind, target_value = "invocations-per-instance", scaling.target_invocations_per_instance
            metric: dict[str, Any] = {
                "predefined_metric_specification": {"predefined_metric_type": "SageMakerVariantInvocationsPerInstance"}
            }
        else:  # asynchronous: the backlog each instance has waiting
            kind, target_value = "backlog-per-instance", settings.target_backlog_per_instance
            metric = {
                "customized_metric_specification": {
                    "metric_name": "ApproximateBacklogSizePerInstance",
                    "namespace": "AWS/SageMaker",
                    "dimensions": [{"name": "EndpointName", "value": self.endpoint_name}],
                    "statistic": "Average",
                }
            }
        aws.appautoscaling.Policy(
            f"{prefix}-{kind}",
            name=f"{prefix}-{kind}",
            policy_type="TargetTrackingScaling",
            service_namespace="sagemaker",
            resource_id=target.resource_id,
            scalable_dimension=SCALABLE_DIMENSION,
            target_tracking_scaling_policy_configuration={
                "target_value": target_value,
                **metric,
                "scale_in_cooldown": scaling.scale_in_cooldown_seconds,
                "scale_out_cooldown": scaling.scale_out_cooldown_seconds,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[target]),
        )
        if floor == 0:
            self._scale_from_zero(prefix, target)
        return target

    def _scale_from_zero(self, prefix: str, target: aws.appautoscaling.Target) -> None:
        """With no instance there is no backlog per instance to track: a step policy adds the first
        instance when SageMaker reports a backlog without capacity (AWS's documented pattern)."""
        step = aws.appautoscaling.Policy(
            f"{prefix}-scale-from-zero",
            name=f"{prefix}-scale-from-zero",
            policy_type="StepScaling",
            service_namespace="sagemaker",
            resource_id=target.resource_id,
            scalable_dimension=SCALABLE_DIMENSION,
            step_scaling_policy_configuration={
                "adjustment_type": "ChangeInCapacity",
                "metric_aggregation_type": "Average",
                "cooldown": SCALE_FROM_ZERO_COOLDOWN_SECONDS,
                "step_adjustments": [{"metric_interval_lower_bound": "0", "scaling_adjustment": 1}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[target]),
        )
        aws.cloudwatch.MetricAlarm(
            f"{prefix}-backlog-without-capacity",
            name=f"{prefix}-backlog-without-capacity",
            alarm_description=f"requests wait for {self.endpoint_name}, which has no instance: add one",
            namespace="AWS/SageMaker",
            metric_name="HasBacklogWithoutCapacity",
            dimensions={"EndpointName": self.endpoint_name},
            statistic="Average",
            period=60,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            treat_missing_data="notBreaching",
            alarm_actions=[step.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _provisioned_concurrency_windows(self, variant: Variant) -> None:
        """Serverless peaks: the provisioned concurrency is held at the everyday value and raised
        for each window by a pair of scheduled actions."""
        serverless = self.deployment.serverless
        assert serverless is not None and serverless.provisioned_concurrency is not None
        prefix = naming.variant_resource(self.context.model, self.deployment.name, variant.name)
        everyday = serverless.provisioned_concurrency
        target = aws.appautoscaling.Target(
            f"{prefix}-provisioned-concurrency",
            service_namespace="sagemaker",
            resource_id=self.endpoint.name.apply(
                lambda endpoint: naming.autoscaling_resource_id(endpoint, variant.name)
            ),
            scalable_dimension=PROVISIONED_CONCURRENCY_DIMENSION,
            min_capacity=everyday,
            max_capacity=everyday,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._schedule(
            variant.name, target, PROVISIONED_CONCURRENCY_DIMENSION, provisioned_concurrency_steps(serverless)
        )
