"""Monitoring and retraining infrastructure of every sample spec in every environment: alarm
metrics, statistics and thresholds; the alert topic on every alarm; EventBridge rule patterns
and targets; the guard's least-privilege policy; the monitoring pipeline."""

from __future__ import annotations

import json

import pytest

from modelform.monitoring import alarm_period, monitoring_alarms
from modelform.retraining import event_patterns
from tests.conftest import resources_of

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"

# (model) -> {alarm name: (metric name, metric dimension, statistic, comparison, threshold)}
MONITORING_ALARMS = {
    "fraud-detector": {
        "fraud-detector-default-quality-auc-min": ("Quality", "auc", "Average", "LessThanThreshold", 0.85),
        "fraud-detector-default-quality-precision-min": ("Quality", "precision", "Average", "LessThanThreshold", 0.7),
        "fraud-detector-default-drift": ("Drift", "max", "Maximum", "GreaterThanThreshold", 0.2),
        "fraud-detector-default-schema-breaks": ("SchemaBreaks", "count", "Maximum", "GreaterThanThreshold", 0),
    },
    "demand-forecaster": {
        "demand-forecaster-default-quality-rmse-max": ("Quality", "rmse", "Average", "GreaterThanThreshold", 900),
        "demand-forecaster-default-quality-mae-max": ("Quality", "mae", "Average", "GreaterThanThreshold", 500),
        "demand-forecaster-default-drift": ("Drift", "max", "Maximum", "GreaterThanThreshold", 0.1),
        "demand-forecaster-default-schema-breaks": ("SchemaBreaks", "count", "Maximum", "GreaterThanThreshold", 0),
    },
}
PERIODS = {"fraud-detector": 3600, "demand-forecaster": 86400}  # rate(1 hour); a cron runs daily
# (model, env) -> the retraining rules and their trigger kinds
TRIGGERS = {
    ("fraud-detector", "dev"): ["schedule"],
    ("fraud-detector", "staging"): ["drift", "quality", "schedule"],
    ("fraud-detector", "prod"): ["drift", "quality", "schedule"],
    ("demand-forecaster", "dev"): ["schedule"],
    ("demand-forecaster", "staging"): ["drift", "new-data", "schedule"],
    ("demand-forecaster", "prod"): ["drift", "new-data", "schedule"],
}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("model", sorted(MONITORING_ALARMS))
def test_quality_and_drift_alarms(sample_plans, model, env):
    alarms = {
        n: r["inputs"]
        for n, r in resources_of(sample_plans[env], f"{model}.{env}", ALARM).items()
        if "-quality-" in n or n.endswith(("-drift", "-schema-breaks"))
    }
    assert {
        n: (a["metricName"], a["dimensions"]["metric"], a["statistic"], a["comparisonOperator"], a["threshold"])
        for n, a in alarms.items()
    } == MONITORING_ALARMS[model]
    for alarm in alarms.values():
        assert alarm["namespace"] == "modelform" and alarm["dimensions"]["model"] == model
        assert alarm["dimensions"]["deployment"] == "default" and alarm["period"] == PERIODS[model]
        assert alarm["treatMissingData"] == "missing"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("model", sorted(MONITORING_ALARMS))
def test_every_alarm_notifies_the_alert_topic(sample_plans, model, env):
    resources = resources_of(sample_plans[env], f"{model}.{env}")
    topic = resources[f"{model}-monitoring-alerts"]["inputs"]
    assert topic["name"] == f"{model}-alerts" and topic["kmsMasterKeyId"] == "<acme-ml-key.arn>"
    alarms = [r for r in resources.values() if r["type"] == ALARM]
    # An asynchronous endpoint's scale-from-zero alarm drives its step policy instead: it is not news.
    scaling = [a for a in alarms if a["name"].endswith("-backlog-without-capacity")]
    assert all(
        a["inputs"]["alarmActions"] == [f"<{a['name'][: -len('backlog-without-capacity')]}scale-from-zero.arn>"]
        for a in scaling
    )
    alarms = [a for a in alarms if a not in scaling]
    assert len(alarms) >= 5
    assert all(a["inputs"]["alarmActions"] == [f"<{model}-monitoring-alerts.arn>"] for a in alarms)
    subscriptions = [
        r["inputs"] for r in resources.values() if r["type"] == "aws:sns/topicSubscription:TopicSubscription"
    ]
    expected = {
        "fraud-detector": ["ml-oncall@acme.example"],
        "demand-forecaster": ["supply-chain-ml@acme.example", "ml-oncall@acme.example"],
    }[model]
    assert [s["endpoint"] for s in subscriptions] == expected and {s["protocol"] for s in subscriptions} == {"email"}


@pytest.mark.parametrize("model, env", sorted(TRIGGERS))
def test_retraining_rules_target_the_guard(sample_plans, model, env):
    resources = resources_of(sample_plans[env], f"{model}.{env}")
    rules = {
        n[len(f"{model}-retraining-") :]: r["inputs"]
        for n, r in resources.items()
        if r["type"] == RULE and "-retraining-" in n
    }
    assert sorted(rules) == TRIGGERS[(model, env)]
    targets = {r["inputs"]["rule"]: r["inputs"]["arn"] for r in resources.values() if r["type"] == TARGET}
    for kind, rule in rules.items():
        assert targets[rule["name"]] == f"<{model}-retraining-guard.arn>"
        assert rule["name"] == f"{model}-retrain-" + ("schedule" if kind == "schedule" else f"on-{kind}")
        assert (
            resources[f"{model}-retraining-{kind}-invoke"]["inputs"]["sourceArn"] == f"<{model}-retraining-{kind}.arn>"
        )
    if "schedule" in rules:
        assert (
            rules["schedule"]["scheduleExpression"]
            == {"fraud-detector": "rate(7 days)", "demand-forecaster": "cron(0 3 ? * SUN *)"}[model]
        )
    if "drift" in rules:
        assert json.loads(rules["drift"]["eventPattern"]) == {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "resources": [f"<{model}-default-drift.arn>"],
            "detail": {"state": {"value": ["ALARM"]}},
        }
    if "quality" in rules:
        assert json.loads(rules["quality"]["eventPattern"])["resources"] == [
            "<fraud-detector-default-quality-auc-min.arn>",
            "<fraud-detector-default-quality-precision-min.arn>",
        ]
    if "new-data" in rules:
        assert json.loads(rules["new-data"]["eventPattern"]) == {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": ["acme-ml-data"]}, "object": {"key": [{"prefix": "demand/train/"}]}},
        }


def test_the_guard_is_least_privileged_and_serialised(sample_plans):
    resources = resources_of(sample_plans["prod"], "fraud-detector.prod")
    function = resources["fraud-detector-retraining-guard"]["inputs"]
    assert (function["runtime"], function["handler"], function["reservedConcurrentExecutions"]) == (
        "python3.12",
        "retraining_guard.handler",
        1,
    )
    assert function["environment"]["variables"] == {
        "PIPELINE_NAME": "fraud-detector-retraining",
        "COOLDOWN_SECONDS": "86400",
    }
    assert function["code"] == {
        "assetArchive": {"retraining_guard.py": {"fileAsset": "model_code/retraining_guard.py"}}
    }
    statements = json.loads(resources["fraud-detector-retraining-guard-role-policy"]["inputs"]["policy"])["Statement"]
    assert statements == [
        {
            "Sid": "DeadLettersToOwnQueue",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": ["<fraud-detector-retraining-guard-dlq.arn>"],
        },
        {
            "Sid": "SendTracesIsOnlyOnStar",
            "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "Resource": ["*"],
        },
        {
            "Sid": "StartOnlyThisPipeline",
            "Effect": "Allow",
            "Action": ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
            "Resource": ["arn:aws:sagemaker:us-east-1:<aws.accountId>:pipeline/fraud-detector-retraining"],
        },
        {
            "Sid": "UsePlatformKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": ["<acme-ml-key.arn>"],
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                "arn:aws:logs:us-east-1:<aws.accountId>:log-group:/aws/lambda/fraud-detector-retraining-guard:*"
            ],
        },
    ]
    assert resources["fraud-detector-retraining-guard-logs"]["inputs"]["retentionInDays"] == 365


def test_the_monitoring_pipeline_runs_the_job_on_a_schedule(sample_plans):
    resources = resources_of(sample_plans["prod"], "fraud-detector.prod")
    definition = json.loads(resources["fraud-detector-monitoring-pipeline"]["inputs"]["pipelineDefinition"])
    (step,) = definition["Steps"]
    arguments = step["Arguments"]
    assert step["Name"] == "Monitor-default"
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "monitoring"]
    container_arguments = arguments["AppSpecification"]["ContainerArguments"]
    for flag, value in (
        ("--problem-type", "binary_classification"),
        ("--drift-method", "psi"),
        ("--model", "fraud-detector"),
        ("--deployment", "default"),
        ("--ground-truth", "/opt/ml/processing/ground-truth"),
    ):
        assert container_arguments[container_arguments.index(flag) + 1] == value
    assert "--publish" in container_arguments
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in arguments["ProcessingInputs"]}
    assert inputs["current"] == "s3://<acme-ml-capture.bucket>/fraud-detector/default/"
    assert (
        inputs["baseline"] == "s3://acme-ml-data/fraud/train/"
        and inputs["ground-truth"] == "s3://acme-ml-data/fraud/labels/"
    )
    assert resources["fraud-detector-monitoring-schedule"]["inputs"]["scheduleExpression"] == "rate(1 hour)"
    policy = json.loads(resources["fraud-detector-monitoring-role-policy"]["inputs"]["policy"])
    (publish,) = [s for s in policy["Statement"] if s["Sid"] == "PublishOnlyModelformMetrics"]
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": "modelform"}}


def test_pure_helpers(sample_specs):
    fraud = sample_specs.model("fraud-detector", "prod")
    assert [a.name for a in monitoring_alarms(fraud)] == list(MONITORING_ALARMS["fraud-detector"])
    assert alarm_period(fraud) == 3600
    patterns = event_patterns(fraud, {"drift": ["arn:d"], "quality": []})
    assert sorted(patterns) == ["drift", "quality"] and patterns["drift"]["resources"] == ["arn:d"]
    car = sample_specs.model("car-damage-estimator", "prod")
    assert [a.name for a in monitoring_alarms(car)] == [  # EKS capture: published like SageMaker's
        "car-damage-estimator-default-quality-mae-max",
        "car-damage-estimator-default-quality-r2-min",
        "car-damage-estimator-default-drift",
        "car-damage-estimator-default-schema-breaks",
    ]
