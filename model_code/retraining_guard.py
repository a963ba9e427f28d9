"""AWS Lambda: start the model's retraining pipeline at most once per cooldown.

Configured by the environment: `PIPELINE_NAME` (a SageMaker pipeline) or `STATE_MACHINE_ARN` (a
Step Functions state machine, for `backend: eks` training), and `COOLDOWN_SECONDS`. EventBridge sends it
schedule events, CloudWatch alarm state changes (drift / quality alarms going to ALARM) and S3
"Object Created" events for new training data. However many arrive together, it starts at most
one execution:

- never while an execution is running (Executing or Stopping);
- never within `COOLDOWN_SECONDS` of the last start;
- concurrent invocations share one idempotency token per cooldown window
  (`ClientRequestToken`), so two racing invocations cannot start two executions; the function is
  also deployed with a reserved concurrency of 1.

Only the events the project's own rules send can start a retraining: a schedule
(`Scheduled Event` from `aws.events`), an alarm entering ALARM (`CloudWatch Alarm State Change`
from `aws.cloudwatch`), new training data (`Object Created` from `aws.s3`), and a manual request
(`{"source": "modelform", "detail-type": "Manual Retraining", "detail": {"reason": "..."}}`, e.g.
from `aws lambda invoke`). Anything else, including events that are not JSON objects, is logged and
ignored. The configuration is checked on the first invocation (`ConfigError`, one line); the
cooldown is at least `MIN_COOLDOWN_SECONDS`, the floor the spec language also enforces.

It logs and returns why it started or skipped: `{"started": bool, "reason": str, ...}`.
Imports only boto3 (present in the Lambda runtime).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from datetime import datetime, timezone
from typing import Any, Optional

import boto3

log = logging.getLogger("modelform.retraining_guard")
log.setLevel(logging.INFO)
RUNNING = ("Executing", "Stopping")
#: A retraining takes longer than an hour; a shorter cooldown would let alarms overlap runs.
MIN_COOLDOWN_SECONDS = 3600
#: (source, detail-type) of the events that may start a retraining.
KNOWN_EVENTS = {
    ("aws.events", "Scheduled Event"),
    ("aws.cloudwatch", "CloudWatch Alarm State Change"),
    ("aws.s3", "Object Created"),
    ("modelform", "Manual Retraining"),
}


class ConfigError(Exception):
    """The function's environment is wrong: one line, raised before anything is started."""


def load_config(environ) -> tuple[str, str, int]:
    """(kind, target, cooldown seconds) from the environment, or a ConfigError saying what is wrong."""
    pipeline, machine = environ.get("PIPELINE_NAME", ""), environ.get("STATE_MACHINE_ARN", "")
    if bool(pipeline) == bool(machine):
        raise ConfigError("set exactly one of PIPELINE_NAME and STATE_MACHINE_ARN")
    text = environ.get("COOLDOWN_SECONDS", "86400")
    if not text.isdigit() or int(text) < MIN_COOLDOWN_SECONDS:
        raise ConfigError(
            f"COOLDOWN_SECONDS must be a whole number of seconds >= {MIN_COOLDOWN_SECONDS} (got '{text}')"
        )
    return ("state_machine", machine, int(text)) if machine else ("pipeline", pipeline, int(text))


def _field(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`, or None where a step is missing or not a mapping."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def describe_trigger(event: Any) -> str:
    """One line saying what asked for retraining (whatever the event holds)."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__}, not an event"
    source, kind = event.get("source") or "?", event.get("detail-type") or "?"
    if kind == "Scheduled Event":
        resources = event.get("resources") if isinstance(event.get("resources"), list) else []
        return f"schedule ({', '.join(map(str, resources)) or 'rule'})"
    if kind == "CloudWatch Alarm State Change":
        return (
            f"alarm {_field(event, 'detail', 'alarmName') or '?'} is {_field(event, 'detail', 'state', 'value') or '?'}"
        )
    if kind == "Object Created":
        bucket, key = _field(event, "detail", "bucket", "name") or "?", _field(event, "detail", "object", "key") or "?"
        return f"new data s3://{bucket}/{key}"
    if kind == "Manual Retraining":
        return f"manual request ({_field(event, 'detail', 'reason') or 'no reason given'})"
    return f"event {source} {kind}"


def _is_actionable(event: Any) -> Optional[str]:
    """Why an event must not trigger anything, or None."""
    if not isinstance(event, dict):
        return f"the event is a {type(event).__name__}, not a JSON object"
    shape = (event.get("source"), event.get("detail-type"))
    if shape not in KNOWN_EVENTS:
        return (
            f"unknown event (source {shape[0]!r}, detail-type {shape[1]!r}); only the project's rules start retraining"
        )
    if shape[1] == "CloudWatch Alarm State Change":
        state = _field(event, "detail", "state", "value")
        if state != "ALARM":
            return f"alarm state is {state}, not ALARM"
    if shape[1] == "Object Created":
        if not (_field(event, "detail", "bucket", "name") and _field(event, "detail", "object", "key")):
            return "an Object Created event without a bucket and key"
    return None


class _SageMakerPipeline:
    def __init__(self, name: str, client=None):
        self.name, self.client = name, client or boto3.client("sagemaker")

    def recent(self) -> list[tuple[str, str, Any]]:
        """(status, arn, start time) of the latest executions, newest first."""
        summaries = self.client.list_pipeline_executions(
            PipelineName=self.name, SortBy="CreationTime", SortOrder="Descending", MaxResults=10
        ).get("PipelineExecutionSummaries", [])
        return [(e.get("PipelineExecutionStatus", ""), e["PipelineExecutionArn"], e["StartTime"]) for e in summaries]

    def is_running(self, status: str) -> bool:
        return status in RUNNING

    def start(self, token: str, display: str, description: str) -> str:
        return self.client.start_pipeline_execution(
            PipelineName=self.name,
            PipelineExecutionDisplayName=display[:82],
            PipelineExecutionDescription=description[:3072],
            ClientRequestToken=token,
        )["PipelineExecutionArn"]


class _StateMachine:
    def __init__(self, arn: str, client=None):
        self.name, self.client = arn, client or boto3.client("stepfunctions")

    def recent(self) -> list[tuple[str, str, Any]]:
        executions = self.client.list_executions(stateMachineArn=self.name, maxResults=10).get("executions", [])
        ordered = sorted(executions, key=lambda e: _seconds(e["startDate"]), reverse=True)
        return [(e["status"], e["executionArn"], e["startDate"]) for e in ordered]

    def is_running(self, status: str) -> bool:
        return status == "RUNNING"

    def start(self, token: str, display: str, description: str) -> str:
        # The execution name is the idempotency token: Step Functions refuses a second execution
        # of the same name, so racing invocations start one. The training Job is named after it.
        try:
            return self.client.start_execution(
                stateMachineArn=self.name, name=token, input=json.dumps({"reason": description})
            )["executionArn"]
        except self.client.exceptions.ExecutionAlreadyExists:
            return f"{self.name.replace(':stateMachine:', ':execution:')}:{token}"


def _seconds(moment: Any) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def handler(event: Any, context: Any = None, *, client=None, now: Optional[float] = None) -> dict:
    kind, name, cooldown = load_config(os.environ)
    target = _StateMachine(name, client) if kind == "state_machine" else _SageMakerPipeline(name, client)
    now = time.time() if now is None else now
    trigger = describe_trigger(event)

    def answer(started: bool, reason: str, **extra) -> dict:
        result = {"started": started, "reason": reason, "trigger": trigger, "pipeline": target.name, **extra}
        log.info(json.dumps(result, sort_keys=True))
        return result

    ignored = _is_actionable(event)
    if ignored:
        return answer(False, f"ignored: {ignored}")
    recent = target.recent()
    running = [arn for status, arn, _ in recent if target.is_running(status)]
    if running:
        return answer(False, "skipped: an execution is already running", execution_arn=running[0])
    if recent:
        last_seconds = _seconds(recent[0][2])
        if now - last_seconds < cooldown:
            wait = int(cooldown - (now - last_seconds))
            return answer(
                False,
                f"skipped: cooldown, the last execution started {int(now - last_seconds)} s ago "
                f"(next allowed in {wait} s)",
                execution_arn=recent[0][1],
            )
    window = int(now // cooldown)
    token = hashlib.sha256(f"{target.name}:{window}".encode()).hexdigest()[:32]
    display = f"retrain-{datetime.fromtimestamp(now, timezone.utc):%Y%m%d-%H%M%S}"
    return answer(True, "started", execution_arn=target.start(token, display, f"modelform retraining guard: {trigger}"))
