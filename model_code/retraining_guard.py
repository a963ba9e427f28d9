"""AWS Lambda: start the model's retraining pipeline at most once per cooldown.

Configured by the environment: `PIPELINE_NAME`, `COOLDOWN_SECONDS`. EventBridge sends it
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


def handler(event: dict, context: Any = None, *, client=None, now: Optional[float] = None) -> dict:
    pipeline = os.environ["PIPELINE_NAME"]
    cooldown = int(os.environ.get("COOLDOWN_SECONDS", "86400"))
    sagemaker = client or boto3.client("sagemaker")
    now = time.time() if now is None else now
    trigger = describe_trigger(event)

    def answer(started: bool, reason: str, **extra) -> dict:
        result = {"started": started, "reason": reason, "trigger": trigger, "pipeline": pipeline, **extra}
        log.info(json.dumps(result, sort_keys=True))
        return result

    ignored = _is_actionable(event)
    if ignored:
        return answer(False, f"ignored: {ignored}")
    recent = sagemaker.list_pipeline_executions(
        PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending", MaxResults=10
    ).get("PipelineExecutionSummaries", [])
    running = [e for e in recent if e.get("PipelineExecutionStatus") in RUNNING]
    if running:
        return answer(False, "skipped: an execution is already running", execution_arn=running[0]["PipelineExecutionArn"])
    if recent:
        last = recent[0]["StartTime"]
        last_seconds = last.timestamp() if isinstance(last, datetime) else float(last)
        if now - last_seconds < cooldown:
            wait = int(cooldown - (now - last_seconds))
            return answer(False, f"skipped: cooldown, the last execution started {int(now - last_seconds)} s ago "
                                 f"(next allowed in {wait} s)", execution_arn=recent[0]["PipelineExecutionArn"])
    window = int(now // cooldown)
    token = hashlib.sha256(f"{pipeline}:{window}".encode()).hexdigest()[:32]
    response = sagemaker.start_pipeline_execution(
        PipelineName=pipeline,
        PipelineExecutionDisplayName=f"{pipeline}-{datetime.fromtimestamp(now, timezone.utc):%Y%m%d-%H%M%S}"[:82],
        PipelineExecutionDescription=f"modelform retraining guard: {trigger}"[:3072],
        ClientRequestToken=token,
    )
    return answer(True, "started", execution_arn=response["PipelineExecutionArn"])
