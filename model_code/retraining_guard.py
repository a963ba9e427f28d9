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


def describe_trigger(event: dict) -> str:
    """One line saying what asked for retraining."""
    source, kind = event.get("source", ""), event.get("detail-type", "")
    detail = event.get("detail") or {}
    if kind == "Scheduled Event":
        return f"schedule ({', '.join(event.get('resources', [])) or 'rule'})"
    if kind == "CloudWatch Alarm State Change":
        state = (detail.get("state") or {}).get("value", "?")
        return f"alarm {detail.get('alarmName', '?')} is {state}"
    if kind == "Object Created":
        bucket = (detail.get("bucket") or {}).get("name", "?")
        key = (detail.get("object") or {}).get("key", "?")
        return f"new data s3://{bucket}/{key}"
    return f"event {source or '?'} {kind or '?'}"


def _is_actionable(event: dict) -> Optional[str]:
    """Why an event must not trigger anything, or None."""
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        state = ((event.get("detail") or {}).get("state") or {}).get("value")
        if state != "ALARM":
            return f"alarm state is {state}, not ALARM"
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


def handler(event: dict, context: Any = None, *, client=None, now: Optional[float] = None) -> dict:
    cooldown = int(os.environ.get("COOLDOWN_SECONDS", "86400"))
    target = (
        _StateMachine(os.environ["STATE_MACHINE_ARN"], client)
        if os.environ.get("STATE_MACHINE_ARN")
        else _SageMakerPipeline(os.environ["PIPELINE_NAME"], client)
    )
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
