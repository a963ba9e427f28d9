"""Asynchronous and serverless SageMaker deployments: what the plan declares for each (checked
against botocore's models of the requests, and accepted by moto's Application Auto Scaling and
SNS on loopback), and the rules that keep each kind within what AWS offers.

Given the samples: demand-forecaster's `what-if` answers planners' scenarios asynchronously and
scales to zero; fraud-detector's `sandbox` is serverless with one warm invocation, five on
a partner's launch day."""

from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelform.spec.types import SageMakerDeployment
from tests.conftest import HEADER, problems_of, resources_of
from tests.model_code.conftest import aws, moto_endpoint  # noqa: F401 - fixtures

ASYNC, SERVERLESS = "demand-forecaster-what-if", "fraud-detector-sandbox"
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


def resources(plan: dict, endpoint: str) -> dict[str, dict]:
    stack = f"{endpoint.split('-what-if')[0].split('-sandbox')[0]}.{plan['env']}"
    return {n: r["inputs"] for n, r in resources_of(plan, stack).items() if n.startswith(endpoint)}


def valid(operation: str, request: dict) -> None:
    report = ParamValidator().validate(request, SAGEMAKER.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


# --- asynchronous ---------------------------------------------------------------------------------


def test_async_answers_go_to_the_models_prefix_under_kms_and_are_announced(sample_plans):
    planned = resources(sample_plans["prod"], ASYNC)
    config = planned[f"{ASYNC}-config"]["asyncInferenceConfig"]
    output = config["outputConfig"]
    assert output["s3OutputPath"] == "s3://<acme-ml-artifacts.bucket>/demand-forecaster/async/what-if/output/"
    assert output["s3FailurePath"] == "s3://<acme-ml-artifacts.bucket>/demand-forecaster/async/what-if/failures/"
    assert output["kmsKeyId"] == "<acme-ml-key.arn>"
    assert output["notificationConfig"] == {
        "successTopic": f"<{ASYNC}-async-success.arn>",
        "errorTopic": f"<{ASYNC}-async-errors.arn>",
    }
    assert config["clientConfig"] == {"maxConcurrentInvocationsPerInstance": 4}
    for outcome in ("success", "errors"):
        topic = planned[f"{ASYNC}-async-{outcome}"]
        assert topic == {"name": f"{ASYNC}-async-{outcome}", "kmsMasterKeyId": "<acme-ml-key.arn>"}
    # The endpoint configuration is a CreateEndpointConfig request botocore accepts.
    (variant,) = planned[f"{ASYNC}-config"]["productionVariants"]
    valid(
        "CreateEndpointConfig",
        {
            "EndpointConfigName": planned[f"{ASYNC}-config"]["name"],
            "ProductionVariants": [
                {
                    "VariantName": variant["variantName"],
                    "ModelName": variant["modelName"],
                    "InstanceType": variant["instanceType"],
                    "InitialInstanceCount": variant["initialInstanceCount"],
                }
            ],
            "AsyncInferenceConfig": {
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
                "OutputConfig": {
                    "KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/0f4a8c2e",
                    "S3OutputPath": "s3://acme-ml-artifacts-4f1c2d0/demand-forecaster/async/what-if/output/",
                    "S3FailurePath": "s3://acme-ml-artifacts-4f1c2d0/demand-forecaster/async/what-if/failures/",
                    "NotificationConfig": {
                        "SuccessTopic": f"arn:aws:sns:us-east-1:111122223333:{ASYNC}-async-success",
                        "ErrorTopic": f"arn:aws:sns:us-east-1:111122223333:{ASYNC}-async-errors",
                    },
                },
            },
        },
    )


def test_async_scales_on_its_backlog_and_back_from_zero(sample_plans):
    planned = resources(sample_plans["prod"], ASYNC)
    prefix = f"{ASYNC}-current"
    target = planned[f"{prefix}-scaling"]
    assert (target["minCapacity"], target["maxCapacity"]) == (0, 4)
    # A new fleet starts with one instance (AWS's minimum), then may scale in to none.
    (variant,) = planned[f"{ASYNC}-config"]["productionVariants"]
    assert variant["initialInstanceCount"] == 1
    tracking = planned[f"{prefix}-backlog-per-instance"]["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == 5
    assert tracking["customizedMetricSpecification"] == {
        "metricName": "ApproximateBacklogSizePerInstance",
        "namespace": "AWS/SageMaker",
        "dimensions": [{"name": "EndpointName", "value": ASYNC}],
        "statistic": "Average",
    }
    assert f"{prefix}-invocations-per-instance" not in planned  # real-time endpoints' policy
    step = planned[f"{prefix}-scale-from-zero"]
    assert step["policyType"] == "StepScaling"
    assert step["stepScalingPolicyConfiguration"]["stepAdjustments"] == [
        {"metricIntervalLowerBound": "0", "scalingAdjustment": 1}
    ]
    alarm = planned[f"{prefix}-backlog-without-capacity"]
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/SageMaker", "HasBacklogWithoutCapacity")
    assert alarm["dimensions"] == {"EndpointName": ASYNC}
    assert alarm["alarmActions"] == [f"<{prefix}-scale-from-zero.arn>"]


def test_the_execution_role_writes_async_answers_and_announces_them_only_for_its_own_endpoint(sample_plans):
    policy = json.loads(
        resources_of(sample_plans["prod"], "demand-forecaster.prod")["demand-forecaster-sagemaker-execution-policy"][
            "inputs"
        ]["policy"]
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WriteOwnAsyncAnswers"]["Resource"] == [
        "arn:aws:s3:::<acme-ml-artifacts.bucket>/demand-forecaster/async/what-if/failures/*",
        "arn:aws:s3:::<acme-ml-artifacts.bucket>/demand-forecaster/async/what-if/output/*",
    ]
    assert by_sid["AnnounceOwnAsyncOutcomes"] == {
        "Sid": "AnnounceOwnAsyncOutcomes",
        "Effect": "Allow",
        "Action": ["sns:Publish"],
        "Resource": [
            f"arn:aws:sns:us-east-1:<aws.accountId>:{ASYNC}-async-errors",
            f"arn:aws:sns:us-east-1:<aws.accountId>:{ASYNC}-async-success",
        ],
    }
    fraud = json.loads(
        resources_of(sample_plans["prod"], "fraud-detector.prod")["fraud-detector-sagemaker-execution-policy"][
            "inputs"
        ]["policy"]
    )
    assert "AnnounceOwnAsyncOutcomes" not in {s["Sid"] for s in fraud["Statement"]}


# --- serverless -----------------------------------------------------------------------------------


def test_a_serverless_variant_has_memory_and_concurrency_and_no_instances(sample_plans):
    planned = resources(sample_plans["prod"], SERVERLESS)
    config = planned[f"{SERVERLESS}-config"]
    (variant,) = config["productionVariants"]
    assert variant["serverlessConfig"] == {"memorySizeInMb": 2048, "maxConcurrency": 10, "provisionedConcurrency": 1}
    assert "instanceType" not in variant and "initialInstanceCount" not in variant
    assert "dataCaptureConfig" not in config
    valid(
        "CreateEndpointConfig",
        {
            "EndpointConfigName": config["name"],
            "ProductionVariants": [
                {
                    "VariantName": "current",
                    "ModelName": variant["modelName"],
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 10, "ProvisionedConcurrency": 1},
                }
            ],
            "KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/0f4a8c2e",
        },
    )


def test_a_serverless_model_is_outside_the_vpc_as_a_stated_exception(sample_plans):
    model = resources(sample_plans["prod"], SERVERLESS)[f"{SERVERLESS}-current-model"]
    assert "vpcConfig" not in model and "enableNetworkIsolation" not in model
    findings = [f for f in sample_plans["prod"]["findings"] if f["urn"].endswith(f"::{SERVERLESS}-current-model")]
    assert [(f["policy"], f["enforcement"], f["message"].split(":")[0]) for f in findings] == [
        ("stated-exception", "advisory", "CKV_AWS_370")
    ]
    # Every other model stays network-isolated in the VPC, enforced.
    isolated = [
        r["inputs"]
        for s in sample_plans["prod"]["stacks"]
        for r in s["resources"]
        if r["type"] == "aws:sagemaker/model:Model" and not r["name"].startswith(SERVERLESS)
    ]
    assert isolated and all(m["enableNetworkIsolation"] is True and m["vpcConfig"] for m in isolated)


def test_provisioned_concurrency_is_raised_for_the_launch_day_and_restored(sample_plans):
    planned = resources(sample_plans["prod"], SERVERLESS)
    prefix = f"{SERVERLESS}-current"
    target = planned[f"{prefix}-provisioned-concurrency"]
    assert target["scalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 1)
    start, end = planned[f"{prefix}-partner-launch-start"], planned[f"{prefix}-partner-launch-end"]
    assert (start["schedule"], start["scalableTargetAction"]) == (
        "at(2027-01-11T08:00:00)",
        {"minCapacity": 5, "maxCapacity": 5},
    )
    assert (end["schedule"], end["scalableTargetAction"]) == (
        "at(2027-01-11T20:00:00)",
        {"minCapacity": 1, "maxCapacity": 1},
    )


# --- on loopback ----------------------------------------------------------------------------------


def test_application_auto_scaling_accepts_the_planned_targets_and_policies(aws, sample_plans):  # noqa: F811
    client = boto3.client("application-autoscaling", region_name="us-east-1")
    planned = {**resources(sample_plans["prod"], ASYNC), **resources(sample_plans["prod"], SERVERLESS)}
    requests = {
        name: {
            "ServiceNamespace": "sagemaker",
            "ResourceId": planned[name]["resourceId"],
            "ScalableDimension": planned[name]["scalableDimension"],
            "MinCapacity": planned[name]["minCapacity"],
            "MaxCapacity": planned[name]["maxCapacity"],
        }
        for name in (f"{ASYNC}-current-scaling", f"{SERVERLESS}-current-provisioned-concurrency")
    }
    # moto's enum of scalable dimensions predates serverless provisioned concurrency: that request
    # is checked against botocore's model of the API instead.
    model = botocore.session.get_session().get_service_model("application-autoscaling")
    for request in requests.values():
        report = ParamValidator().validate(request, model.operation_model("RegisterScalableTarget").input_shape)
        assert not report.has_errors(), report.generate_report()
    client.register_scalable_target(**requests[f"{ASYNC}-current-scaling"])
    tracking = planned[f"{ASYNC}-current-backlog-per-instance"]
    metric = tracking["targetTrackingScalingPolicyConfiguration"]["customizedMetricSpecification"]
    client.put_scaling_policy(
        PolicyName=tracking["name"],
        ServiceNamespace="sagemaker",
        ResourceId=tracking["resourceId"],
        ScalableDimension=tracking["scalableDimension"],
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 5.0,
            "CustomizedMetricSpecification": {
                "MetricName": metric["metricName"],
                "Namespace": metric["namespace"],
                "Dimensions": [{"Name": d["name"], "Value": d["value"]} for d in metric["dimensions"]],
                "Statistic": metric["statistic"],
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )
    step = planned[f"{ASYNC}-current-scale-from-zero"]
    client.put_scaling_policy(
        PolicyName=step["name"],
        ServiceNamespace="sagemaker",
        ResourceId=step["resourceId"],
        ScalableDimension=step["scalableDimension"],
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": 600,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
        },
    )
    targets = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["ScalableDimension"], t["MinCapacity"]) for t in targets] == [
        (f"endpoint/{ASYNC}/variant/current", "sagemaker:variant:DesiredInstanceCount", 0),
    ]
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert sorted(p["PolicyType"] for p in policies) == ["StepScaling", "TargetTrackingScaling"]


def test_simulate_refuses_what_it_cannot_model(capsys):
    from modelform.cli import main

    assert (
        main(["simulate", "fraud-detector", "--deployment", "sandbox", "--spike", "10x@2027-01-11T08:00:00Z/1h"]) != 0
    )
    err = capsys.readouterr().err.strip()
    assert "deployment 'sandbox' is serverless: the simulator replays real-time fleets" in err
    assert len(err.splitlines()) == 1


def test_the_typed_deployments(sample_specs):
    what_if = next(d for d in sample_specs.model("demand-forecaster", "prod").deployments if d.name == "what-if")
    sandbox = next(d for d in sample_specs.model("fraud-detector", "prod").deployments if d.name == "sandbox")
    assert isinstance(what_if, SageMakerDeployment) and not what_if.real_time and what_if.serverless is None
    assert what_if.asynchronous.target_backlog_per_instance == 5
    assert sandbox.instance_type is None and sandbox.serverless.memory_mb == 2048
    assert [(w.name, w.floor, w.ceiling) for w in sandbox.serverless.scheduled] == [("partner-launch", 5, 5)]


# --- rules ----------------------------------------------------------------------------------------

SERVERLESS_DEPLOYMENT = """\
deployments:
  - name: sandbox
    target: sagemaker
    serverless: {memory_mb: 2048, max_concurrency: 10}
    variants: [{name: current, model_version: 1}]
"""
ASYNC_DEPLOYMENT = """\
deployments:
  - name: scenarios
    target: sagemaker
    instance_type: ml.m5.large
    variants: [{name: current, model_version: 1}]
    async: {}
    autoscaling: {min_instances: 0, max_instances: 2}
"""


def test_valid_async_and_serverless_deployments(repo):
    assert problems_of(repo, HEADER + SERVERLESS_DEPLOYMENT) == []
    assert problems_of(repo, HEADER + ASYNC_DEPLOYMENT) == []


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            ("    target: sagemaker\n", "    target: sagemaker\n    instance_type: ml.m5.large\n"),
            "specs/m.yaml:10:20: deployments[0].instance_type: does not apply to serverless deployments (SageMaker "
            "runs and scales them per request)",
        ),
        (
            ("serverless: {memory_mb: 2048, max_concurrency: 10}", "serverless: {memory_mb: 2000}"),
            "specs/m.yaml:10:29: deployments[0].serverless.memory_mb: must be one of 1024, 2048, 3072, 4096, 5120, "
            "6144 (got integer 2000)",
        ),
        (
            ("max_concurrency: 10}", "max_concurrency: 10, provisioned_concurrency: 11}"),
            "specs/m.yaml:10:81: deployments[0].serverless.provisioned_concurrency: provisioned_concurrency (11) is "
            "greater than max_concurrency (10)",
        ),
        (
            (
                "max_concurrency: 10}",
                "max_concurrency: 10, scheduled: [{name: peak, start: '2027-01-01T00:00:00Z', "
                "end: '2027-01-02T00:00:00Z', provisioned_concurrency: 4}]}",
            ),
            "specs/m.yaml:10:17: deployments[0].serverless.provisioned_concurrency: required with scheduled windows: "
            "each window's end restores it",
        ),
        (
            ("model_version: 1}]", "model_version: 1}, {name: next, model_version: 2}]"),
            "specs/m.yaml:11:15: deployments[0].variants: a serverless endpoint serves one variant (got 2)",
        ),
        (
            ("variants:", "data_capture_percent: 5\n    variants:"),
            "specs/m.yaml:11:27: deployments[0].data_capture_percent: SageMaker does not capture data of serverless "
            "endpoints: set it to 0",
        ),
        (
            ("    target: sagemaker\n", "    target: sagemaker\n    async: {}\n"),
            "specs/m.yaml:11:17: deployments[0].serverless: a deployment is asynchronous or serverless, not both",
        ),
        (
            ("target: sagemaker", "target: eks\n    cluster: serving"),
            "specs/m.yaml:11:17: deployments[0].serverless: does not apply to target eks",
        ),
    ],
)
def test_serverless_rules(repo, edit, expected):
    old, new = edit
    assert old in SERVERLESS_DEPLOYMENT
    assert problems_of(repo, HEADER + SERVERLESS_DEPLOYMENT.replace(old, new)) == [expected]


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            ("model_version: 1}]", "model_version: 1}, {name: next, model_version: 2}]"),
            "specs/m.yaml:11:15: deployments[0].variants: an asynchronous endpoint serves one variant (got 2)",
        ),
        (
            (
                "    async: {}\n",
                "    async: {}\n    data_capture_percent: 5\n    shadow: {name: next, model_version: 2}\n",
            ),
            "specs/m.yaml:14:13: deployments[0].shadow: shadow tests copy real-time requests; an asynchronous "
            "endpoint has none to copy",
        ),
        (
            ("    async: {}\n", ""),
            "specs/m.yaml:12:34: deployments[0].autoscaling.min_instances: only asynchronous deployments scale to "
            "zero (a real-time endpoint must answer the next request)",
        ),
    ],
)
def test_async_rules(repo, edit, expected):
    old, new = edit
    assert old in ASYNC_DEPLOYMENT
    assert problems_of(repo, HEADER + ASYNC_DEPLOYMENT.replace(old, new)) == [expected]


def test_applications_hear_of_async_answers_through_the_planned_topics(aws, sample_plans):  # noqa: F811
    """The topics as planned (KMS) accept subscriptions and SageMaker's notifications (moto's SNS and SQS)."""
    planned = resources(sample_plans["prod"], ASYNC)
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    inbox = sqs.create_queue(QueueName="what-if-planner")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    arns = {}
    for outcome in ("success", "errors"):
        topic = planned[f"{ASYNC}-async-{outcome}"]
        arns[outcome] = sns.create_topic(
            Name=topic["name"], Attributes={"KmsMasterKeyId": "arn:aws:kms:us-east-1:123456789012:key/k"}
        )["TopicArn"]
        sns.subscribe(TopicArn=arns[outcome], Protocol="sqs", Endpoint=inbox_arn)
    assert sns.get_topic_attributes(TopicArn=arns["success"])["Attributes"]["KmsMasterKeyId"].endswith(":key/k")
    # What SageMaker publishes when an asynchronous request has been answered.
    notification = {
        "awsRegion": "us-east-1",
        "invocationStatus": "Completed",
        "requestParameters": {"endpointName": ASYNC, "inputLocation": "s3://artifacts/in/scenario-7.csv"},
        "responseParameters": {"outputLocation": "s3://artifacts/demand-forecaster/async/what-if/output/7.out"},
    }
    sns.publish(TopicArn=arns["success"], Message=json.dumps(notification))
    (message,) = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1)["Messages"]
    delivered = json.loads(json.loads(message["Body"])["Message"])
    assert delivered["responseParameters"]["outputLocation"].endswith("/async/what-if/output/7.out")
    assert json.loads(message["Body"])["TopicArn"].endswith(":demand-forecaster-what-if-async-success")
