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
from dataclasses import dataclass
from enum import Enum
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from . import iam, naming
from .context import ModelContext
from .monitoring import AlarmKind
from .spec import ModelSpec, RetrainingSpec, Trigger

GUARD_FILE = "retraining_guard.py"
#: Which alarms each alarm-driven trigger listens to.
TRIGGER_ALARMS = {Trigger.DRIFT: AlarmKind.DRIFT, Trigger.QUALITY: AlarmKind.QUALITY}


class RunnerKind(Enum):
    """What retrains a model: the SageMaker pipeline (`backend: sagemaker`) or the Step
    Functions state machine (`backend: eks`). The guard is told which through its environment."""

    PIPELINE = "PIPELINE_NAME"
    STATE_MACHINE = "STATE_MACHINE_ARN"


@dataclass(frozen=True)
class RetrainingRunner:
    kind: RunnerKind
    resource: pulumi.Resource  # the pipeline or the state machine (the guard waits for it)
    identifier: pulumi.Input[str]  # the pipeline's name, or the state machine's ARN


def event_patterns(spec: ModelSpec, alarm_arns: Mapping[Trigger, list[str]]) -> dict[Trigger, dict]:
    """The EventBridge pattern of each event-driven trigger (pure; the schedule has none).

    `alarm_arns`: the ARNs of the alarms each alarm-driven trigger listens to."""
    assert spec.retraining is not None
    patterns: dict[Trigger, dict] = {}
    for trigger in spec.retraining.triggers:
        if trigger in TRIGGER_ALARMS:
            patterns[trigger] = {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": sorted(alarm_arns.get(trigger, [])),
                "detail": {"state": {"value": ["ALARM"]}},
            }
        elif trigger is Trigger.NEW_DATA:
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


def guard_statements(
    model: str, region: str, account_id: str, runner: RunnerKind, identifier: str, dead_letters: str, kms_key_arn: str
) -> list[iam.Statement]:
    """The guard may list and start executions of one pipeline (or one state machine), write its
    own logs, send its traces, and leave events it could not handle in its dead-letter queue."""
    if runner is RunnerKind.STATE_MACHINE:
        start = iam.allow("StartOnlyThisStateMachine", ["states:ListExecutions", "states:StartExecution"], [identifier])
    else:
        start = iam.allow(
            "StartOnlyThisPipeline",
            ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
            [iam.sagemaker_arn(region, account_id, f"pipeline/{identifier}")],
        )
    function = naming.guard_function(model)
    return [
        start,
        iam.allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [iam.log_group_arn(region, account_id, f"/aws/lambda/{function}") + ":*"],
        ),
        iam.send_traces(),
        iam.allow("DeadLettersToOwnQueue", ["sqs:SendMessage"], [dead_letters]),
        *iam.use_key(kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
    ]


class RetrainingTriggers(pulumi.ComponentResource):
    """The guard Lambda and one EventBridge rule per trigger of `retraining`.

    runner: what the guard starts. alarm_arns: the model's alarms of each kind (drift, quality)."""

    def __init__(
        self,
        name: str,
        context: ModelContext,
        retraining: RetrainingSpec,
        *,
        runner: RetrainingRunner,
        alarm_arns: Mapping[AlarmKind, list],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:retraining:RetrainingTriggers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = context.spec
        model = spec.name
        function_name = naming.guard_function(model)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-guard-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=context.platform_spec.retention.log_groups,
            kms_key_id=context.platform.kms_key_arn,
            opts=child,
        )
        # Events the guard fails on after Lambda's retries land here (KMS with the platform key).
        dead_letters = aws.sqs.Queue(
            f"{name}-guard-dlq",
            name=naming.guard_dead_letters(model),
            kms_master_key_id=context.platform.kms_key_arn,
            message_retention_seconds=14 * 24 * 3600,
            opts=child,
        )
        role, policy = iam.scoped_role(
            f"{name}-guard-role",
            trust=context.account_id.apply(lambda account: iam.service_trust("lambda.amazonaws.com", account)),
            policy=pulumi.Output.all(
                context.account_id, runner.identifier, dead_letters.arn, context.platform.kms_key_arn
            ).apply(
                lambda v: iam.policy_document(
                    guard_statements(model, context.region, v[0], runner.kind, v[1], v[2], v[3])
                )
            ),
            description=f"Retraining guard of model {model} (modelform)",
            parent=self,
        )
        self.function = aws.lambda_.Function(
            f"{name}-guard",
            name=function_name,
            description=f"Starts {model}'s retraining at most once per {retraining.cooldown_seconds} s",
            runtime="python3.12",
            handler="retraining_guard.handler",
            code=pulumi.AssetArchive({GUARD_FILE: pulumi.FileAsset(os.path.join(context.code_folder, GUARD_FILE))}),
            role=role.arn,
            timeout=30,
            memory_size=128,
            reserved_concurrent_executions=1,
            tracing_config={"mode": "Active"},
            dead_letter_config={"target_arn": dead_letters.arn},
            kms_key_arn=context.platform.kms_key_arn,  # its environment names what it starts
            environment={
                "variables": {
                    runner.kind.value: runner.identifier,
                    "COOLDOWN_SECONDS": str(retraining.cooldown_seconds),
                }
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, log_group, runner.resource]),
        )

        rules: dict[Trigger, aws.cloudwatch.EventRule] = {}
        if Trigger.SCHEDULE in retraining.triggers and retraining.schedule is not None:
            rules[Trigger.SCHEDULE] = aws.cloudwatch.EventRule(
                f"{name}-schedule",
                name=naming.retraining_schedule(model),
                schedule_expression=retraining.schedule.text,
                description=f"Scheduled retraining of {model}",
                opts=child,
            )
        listened = {trigger: list(alarm_arns.get(kind, [])) for trigger, kind in TRIGGER_ALARMS.items()}
        resolved = pulumi.Output.all(*[pulumi.Output.all(*listened[t]) for t in TRIGGER_ALARMS]).apply(
            lambda arns: {trigger: list(found) for trigger, found in zip(TRIGGER_ALARMS, arns)}
        )
        for trigger in event_patterns(spec, {}):
            if trigger in listened and not listened[trigger]:
                continue  # no such alarms (nothing is captured): EventBridge refuses an empty list
            slug = trigger.replace("_", "-")
            rules[trigger] = aws.cloudwatch.EventRule(
                f"{name}-{slug}",
                name=naming.retraining_rule(model, slug),
                description=f"Retrain {model} on {trigger.replace('_', ' ')}",
                event_pattern=resolved.apply(
                    lambda arns, trigger=trigger: json.dumps(event_patterns(spec, arns)[trigger], sort_keys=True)
                ),
                opts=child,
            )
        for trigger, rule in rules.items():
            slug = trigger.replace("_", "-")
            aws.cloudwatch.EventTarget(f"{name}-{slug}-target", rule=rule.name, arn=self.function.arn, opts=child)
            aws.lambda_.Permission(
                f"{name}-{slug}-invoke",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )
        self.register_outputs({"guardArn": self.function.arn})
