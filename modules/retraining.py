"""Retraining triggers: EventBridge rules -> the retraining guard Lambda -> the retraining pipeline.

`RetrainingTriggers` provisions, for `retraining.triggers`:
- the guard (`model_code/retraining_guard.py`) as a Lambda function `<model>-retraining-guard`
  (Python 3.12, reserved concurrency 1, its log group kept 90 days) whose role may only list and
  start executions of the model's retraining pipeline and write its own logs;
- one EventBridge rule per trigger, each targeting the guard:
  - `schedule`: `retraining.schedule`;
  - `drift` / `quality`: the model's drift / quality alarms entering ALARM;
  - `new_data`: S3 "Object Created" events under `data.training` (the data bucket must send
    events to EventBridge; modelform does not own that bucket, so it does not change its
    notification settings).
The guard turns a burst of events into at most one execution per `retraining.cooldown`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from .iam import guard_policy, service_trust_policy
from .spec import ModelSpec

GUARD_FILE = "retraining_guard.py"
LOG_RETENTION_DAYS = 90


def guard_name(model: str) -> str:
    return f"{model}-retraining-guard"


def event_patterns(spec: ModelSpec, alarm_arns: Mapping[str, list[str]]) -> dict[str, dict]:
    """The EventBridge pattern of each event-driven trigger (pure; the schedule has none).

    `alarm_arns`: {"drift": [...], "quality": [...]} of the model's alarms."""
    assert spec.retraining is not None
    patterns: dict[str, dict] = {}
    for trigger in spec.retraining.triggers:
        if trigger in ("drift", "quality"):
            patterns[trigger] = {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": sorted(alarm_arns.get(trigger, [])),
                "detail": {"state": {"value": ["ALARM"]}},
            }
        elif trigger == "new_data":
            assert spec.data is not None and spec.data.training is not None
            patterns[trigger] = {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [spec.data.training.bucket]},
                    "object": {"key": [{"prefix": spec.data.training.key}]},
                },
            }
    return patterns


@dataclass
class RetrainingTriggersArgs:
    """spec: the model (with `retraining`); pipeline_name / state_machine_arn: what retrains it;
    code_dir: the model code folder (the guard's source); region, account_id: where;
    drift_alarm_arns / quality_alarm_arns: the alarms that may trigger; tags."""

    spec: ModelSpec
    pipeline_name: pulumi.Input[str]  # a SageMaker pipeline's name, or "" with state_machine_arn
    pipeline: pulumi.Resource  # what the guard starts (pipeline or state machine)
    code_dir: str
    region: str
    account_id: pulumi.Input[str]
    state_machine_arn: Optional[pulumi.Input[str]] = None
    drift_alarm_arns: list = field(default_factory=list)
    quality_alarm_arns: list = field(default_factory=list)
    tags: Mapping[str, str] = field(default_factory=dict)


class RetrainingTriggers(pulumi.ComponentResource):
    def __init__(self, name: str, args: RetrainingTriggersArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:retraining:RetrainingTriggers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec, tags = args.spec, dict(args.tags)
        retraining = spec.retraining
        assert retraining is not None
        function_name = guard_name(spec.name)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-guard-logs", name=f"/aws/lambda/{function_name}", retention_in_days=LOG_RETENTION_DAYS,
            tags=tags, opts=child)
        role = aws.iam.Role(
            f"{name}-guard-role",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: service_trust_policy("lambda.amazonaws.com", account)),
            description=f"Retraining guard of model {spec.name} (modelform)", tags=tags, opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-guard-role-policy", role=role.id, opts=child,
            policy=pulumi.Output.all(args.account_id, args.pipeline_name, args.state_machine_arn or "").apply(lambda v: guard_policy(
                region=args.region, account_id=v[0], pipeline=v[1], state_machine_arn=v[2], function=function_name)))
        self.function = aws.lambda_.Function(
            f"{name}-guard",
            name=function_name,
            description=f"Starts {spec.name}'s retraining at most once per {retraining.cooldown_seconds} s",
            runtime="python3.12",
            handler="retraining_guard.handler",
            code=pulumi.AssetArchive({GUARD_FILE: pulumi.FileAsset(os.path.join(args.code_dir, GUARD_FILE))}),
            role=role.arn,
            timeout=30,
            memory_size=128,
            reserved_concurrent_executions=1,
            environment={"variables": {
                **({"STATE_MACHINE_ARN": args.state_machine_arn} if args.state_machine_arn else {"PIPELINE_NAME": args.pipeline_name}),
                "COOLDOWN_SECONDS": str(retraining.cooldown_seconds),
            }},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, log_group, args.pipeline]),
        )

        rules: dict[str, aws.cloudwatch.EventRule] = {}
        if "schedule" in retraining.triggers and retraining.schedule is not None:
            rules["schedule"] = aws.cloudwatch.EventRule(
                f"{name}-schedule", name=f"{spec.name}-retrain-schedule", schedule_expression=retraining.schedule.text,
                description=f"Scheduled retraining of {spec.name}", tags=tags, opts=child)
        alarm_arns = {"drift": args.drift_alarm_arns, "quality": args.quality_alarm_arns}
        resolved = pulumi.Output.all(drift=pulumi.Output.all(*args.drift_alarm_arns), quality=pulumi.Output.all(*args.quality_alarm_arns))
        for trigger in event_patterns(spec, {k: [] for k in alarm_arns}):
            if trigger in alarm_arns and not alarm_arns[trigger]:
                continue  # no such alarms (nothing is captured): EventBridge refuses an empty list
            rules[trigger] = aws.cloudwatch.EventRule(
                f"{name}-{trigger.replace('_', '-')}", name=f"{spec.name}-retrain-on-{trigger.replace('_', '-')}",
                description=f"Retrain {spec.name} on {trigger.replace('_', ' ')}",
                event_pattern=resolved.apply(lambda arns, trigger=trigger: json.dumps(
                    event_patterns(spec, {"drift": list(arns["drift"]), "quality": list(arns["quality"])})[trigger], sort_keys=True)),
                tags=tags, opts=child)
        for trigger, rule in rules.items():
            slug = trigger.replace("_", "-")
            aws.cloudwatch.EventTarget(f"{name}-{slug}-target", rule=rule.name, arn=self.function.arn, opts=child)
            aws.lambda_.Permission(
                f"{name}-{slug}-invoke", action="lambda:InvokeFunction", function=self.function.name,
                principal="events.amazonaws.com", source_arn=rule.arn, opts=child)
        self.register_outputs({"guardArn": self.function.arn})
