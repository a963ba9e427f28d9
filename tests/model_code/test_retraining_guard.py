"""The retraining guard: a burst of alarms starts one execution; nothing starts inside the
cooldown or while one runs; every answer says why (moto on loopback, and a recorded stub)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest

from model_code import retraining_guard

ALARM = {
    "source": "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    "detail": {"alarmName": "fraud-detector-default-drift", "state": {"value": "ALARM"}},
}


@pytest.fixture
def pipeline(aws, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", "fraud-detector-retraining")
    monkeypatch.setenv("COOLDOWN_SECONDS", "86400")
    client = boto3.client("sagemaker")
    client.create_pipeline(
        PipelineName="fraud-detector-retraining",
        RoleArn="arn:aws:iam::123456789012:role/fraud-detector-sagemaker-training",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
    )
    return client


def test_a_burst_of_alarms_starts_exactly_one_execution(pipeline):
    answers = [retraining_guard.handler(ALARM) for _ in range(50)]
    assert sum(a["started"] for a in answers) == 1
    assert answers[0]["started"] and answers[0]["trigger"] == "alarm fraud-detector-default-drift is ALARM"
    # moto reports the execution as started and not running: the cooldown is what skips them here
    assert all(
        a["reason"].startswith(("skipped: an execution is already running", "skipped: cooldown")) for a in answers[1:]
    )
    executions = pipeline.list_pipeline_executions(PipelineName="fraud-detector-retraining")[
        "PipelineExecutionSummaries"
    ]
    assert len(executions) == 1
    second = [retraining_guard.handler(ALARM) for _ in range(50)]
    assert not any(a["started"] for a in second)
    assert (
        len(pipeline.list_pipeline_executions(PipelineName="fraud-detector-retraining")["PipelineExecutionSummaries"])
        == 1
    )


class RecordedSageMaker:
    """Executions as a list; start appends one (idempotent per token, like SageMaker)."""

    def __init__(self, executions):
        self.executions = executions
        self.tokens = {}

    def list_pipeline_executions(self, **_):
        return {"PipelineExecutionSummaries": sorted(self.executions, key=lambda e: e["StartTime"], reverse=True)}

    def start_pipeline_execution(self, **request):
        if request["ClientRequestToken"] not in self.tokens:
            arn = f"arn:execution/{len(self.executions) + 1}"
            self.tokens[request["ClientRequestToken"]] = arn
            self.executions.append(
                {
                    "PipelineExecutionArn": arn,
                    "PipelineExecutionStatus": "Executing",
                    "StartTime": datetime.fromtimestamp(1_800_000_000, timezone.utc),
                }
            )
        return {"PipelineExecutionArn": self.tokens[request["ClientRequestToken"]]}


def test_cooldown_after_a_finished_execution(monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", "p")
    monkeypatch.setenv("COOLDOWN_SECONDS", "3600")
    finished = {
        "PipelineExecutionArn": "arn:execution/0",
        "PipelineExecutionStatus": "Succeeded",
        "StartTime": datetime.fromtimestamp(1_000_000_000, timezone.utc),
    }
    client = RecordedSageMaker([finished])
    inside = retraining_guard.handler(ALARM, client=client, now=1_000_000_000 + 600)
    assert (inside["started"], inside["reason"]) == (
        False,
        "skipped: cooldown, the last execution started 600 s ago (next allowed in 3000 s)",
    )
    before = retraining_guard.handler(ALARM, client=client, now=1_000_000_000 + 3599)
    assert (before["started"], before["reason"]) == (
        False,
        "skipped: cooldown, the last execution started 3599 s ago (next allowed in 1 s)",
    )
    # Exactly one cooldown after the last start, a retraining may start again.
    after = retraining_guard.handler(
        {"source": "aws.events", "detail-type": "Scheduled Event", "resources": ["arn:rule/r"]},
        client=client,
        now=1_000_000_000 + 3600,
    )
    assert (after["started"], after["reason"], after["trigger"]) == (True, "started", "schedule (arn:rule/r)")


def test_racing_invocations_share_one_idempotency_token(monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", "p")
    monkeypatch.setenv("COOLDOWN_SECONDS", "3600")
    client = RecordedSageMaker([])
    # Both invocations listed executions before either started one: the token makes them one.
    listed_empty = RecordedSageMaker([])
    first = retraining_guard.handler(ALARM, client=client, now=7200.0)
    client.list_pipeline_executions = listed_empty.list_pipeline_executions
    second = retraining_guard.handler(ALARM, client=client, now=7300.0)
    assert first["execution_arn"] == second["execution_arn"] and len(client.executions) == 1


@pytest.mark.parametrize(
    "event, expected",
    [
        (
            {
                "source": "aws.cloudwatch",
                "detail-type": "CloudWatch Alarm State Change",
                "detail": {"alarmName": "a", "state": {"value": "OK"}},
            },
            "ignored: alarm state is OK, not ALARM",
        ),
    ],
)
def test_events_that_do_not_ask_for_retraining(monkeypatch, event, expected):
    monkeypatch.setenv("PIPELINE_NAME", "p")
    assert retraining_guard.handler(event, client=RecordedSageMaker([]))["reason"] == expected


def test_new_data_trigger_is_described():
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "acme-ml-data"}, "object": {"key": "fraud/train/2026-11-27.csv"}},
    }
    assert retraining_guard.describe_trigger(event) == "new data s3://acme-ml-data/fraud/train/2026-11-27.csv"


class RecordedStepFunctions:
    class exceptions:
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self):
        self.executions = []

    def list_executions(self, **_):
        return {"executions": list(self.executions)}

    def start_execution(self, stateMachineArn, name, input):
        if any(e["name"] == name for e in self.executions):
            raise self.exceptions.ExecutionAlreadyExists()
        arn = stateMachineArn.replace(":stateMachine:", ":execution:") + f":{name}"
        self.executions.append(
            {
                "executionArn": arn,
                "name": name,
                "status": "RUNNING",
                "startDate": datetime.fromtimestamp(1_900_000_000, timezone.utc),
            }
        )
        return {"executionArn": arn}


def test_state_machines_for_eks_training(monkeypatch):
    monkeypatch.delenv("PIPELINE_NAME", raising=False)
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:car-retraining")
    monkeypatch.setenv("COOLDOWN_SECONDS", "3600")
    client = RecordedStepFunctions()
    answers = [retraining_guard.handler(ALARM, client=client, now=7200.0) for _ in range(20)]
    assert sum(a["started"] for a in answers) == 1 and len(client.executions) == 1
    assert {a["reason"] for a in answers[1:]} == {"skipped: an execution is already running"}
    # Two racing invocations that both saw no execution: the execution name makes them one.
    raced = RecordedStepFunctions()
    first = retraining_guard.handler(ALARM, client=raced, now=7200.0)
    raced.list_executions = lambda **_: {"executions": []}
    second = retraining_guard.handler(ALARM, client=raced, now=7300.0)
    assert first["execution_arn"] == second["execution_arn"] and len(raced.executions) == 1


@pytest.mark.parametrize(
    "event, expected",
    [
        ({}, "ignored: unknown event (source None, detail-type None); only the project's rules start retraining"),
        (
            {"source": "acme.app", "detail-type": "Retrain now"},
            "ignored: unknown event (source 'acme.app', detail-type 'Retrain now'); only the project's rules start "
            "retraining",
        ),
        (None, "ignored: the event is a NoneType, not a JSON object"),
        ([], "ignored: the event is a list, not a JSON object"),
        ("retrain", "ignored: the event is a str, not a JSON object"),
        (
            {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": "ALARM"},
            "ignored: alarm state is None, not ALARM",
        ),
        (
            {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "b"}}},
            "ignored: an Object Created event without a bucket and key",
        ),
    ],
)
def test_only_the_projects_own_events_can_start_a_retraining(monkeypatch, event, expected):
    monkeypatch.setenv("PIPELINE_NAME", "p")
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    client = RecordedSageMaker([])
    answer = retraining_guard.handler(event, client=client)
    assert (answer["started"], answer["reason"]) == (False, expected)


def test_a_schedule_and_a_manual_request_start_one(monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", "p")
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    manual = {"source": "modelform", "detail-type": "Manual Retraining", "detail": {"reason": "new labels"}}
    answer = retraining_guard.handler(manual, client=RecordedSageMaker([]), now=1_900_000_000.0)
    assert answer["started"] is True and answer["trigger"] == "manual request (new labels)"
    schedule = {"source": "aws.events", "detail-type": "Scheduled Event", "resources": ["arn:rule/r"]}
    assert retraining_guard.handler(schedule, client=RecordedSageMaker([]), now=1_900_000_000.0)["started"] is True


@pytest.mark.parametrize(
    "environment, message",
    [
        (
            {"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "0"},
            "COOLDOWN_SECONDS must be a whole number of seconds >= 3600 (got '0')",
        ),
        (
            {"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "24h"},
            "COOLDOWN_SECONDS must be a whole number of seconds >= 3600 (got '24h')",
        ),
        (
            {"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "1.5"},
            "COOLDOWN_SECONDS must be a whole number of seconds >= 3600 (got '1.5')",
        ),
        (
            {"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": ""},
            "COOLDOWN_SECONDS must be a whole number of seconds >= 3600 (got '')",
        ),
        ({}, "set exactly one of PIPELINE_NAME and STATE_MACHINE_ARN"),
        ({"PIPELINE_NAME": "p", "STATE_MACHINE_ARN": "arn"}, "set exactly one of PIPELINE_NAME and STATE_MACHINE_ARN"),
    ],
)
def test_a_wrong_configuration_is_one_clear_error_before_anything_starts(environment, message):
    with pytest.raises(retraining_guard.ConfigError) as raised:
        retraining_guard.load_config(environment)
    assert str(raised.value) == message
