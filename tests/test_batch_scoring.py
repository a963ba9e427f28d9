"""Scheduled batch scoring: the schedule, the transform request it sends (checked against
botocore's model of CreateTransformJob, and accepted by SageMaker, Scheduler, SQS and EventBridge
emulated by moto on loopback), the failure inbox and its alarm, and the spec rules.

Given the samples: demand-forecaster scores s3://acme-ml-data/demand/scoring/ every night at 02:00
UTC with registry version 7 on two ml.c6i.2xlarge."""

from __future__ import annotations

import json

import boto3
import botocore.session
import kubernetes_validate
import pytest
from botocore.validate import ParamValidator
from moto.iam.access_control import IAMPolicy, PermissionResult

from modelform import naming
from modelform.batch_scoring import EXECUTION_ID, EXECUTION_ID_LENGTH, SCHEDULED_TIME, failed_job_pattern
from modelform.spec.schema import MODEL_NAME_PATTERN
from tests.conftest import DEPLOYMENT, HEADER, problems_of, resources_of, specs_with
from tests.model_code.conftest import aws, moto_endpoint  # noqa: F401 - fixtures

STACK = "demand-forecaster.prod"
ACCOUNT = "111122223333"


def batch_resources(plan: dict) -> dict[str, dict]:
    return {n: r for n, r in resources_of(plan, STACK).items() if n.startswith("demand-forecaster-batch")}


def concrete(text: str, execution_id: str = "d32c5kddcf5bb8c3", when: str = "2026-11-30T02:00:00Z") -> str:
    """A placeholder-filled plan value as AWS would see it at run time."""
    for placeholder, value in {
        EXECUTION_ID: execution_id,
        SCHEDULED_TIME: when,
        "<acme-ml-artifacts.bucket>": "acme-ml-artifacts-4f1c2d0",
        "<acme-ml-key.arn>": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f4a8c2e-5d1b-4e39-9a77-3c2d1e0b6a51",
        "<aws.accountId>": ACCOUNT,
    }.items():
        text = text.replace(placeholder, value)
    return text


@pytest.fixture(scope="module")
def schedule(sample_plans):
    return batch_resources(sample_plans["prod"])["demand-forecaster-batch-schedule"]["inputs"]


@pytest.fixture(scope="module")
def request_(schedule):
    return json.loads(schedule["target"]["input"])


def test_the_schedule_runs_nightly_in_utc_with_its_payload_under_the_platform_key(schedule):
    assert schedule["name"] == "demand-forecaster-batch"
    assert (schedule["scheduleExpression"], schedule["scheduleExpressionTimezone"]) == ("cron(0 2 * * ? *)", "UTC")
    assert schedule["flexibleTimeWindow"] == {"mode": "OFF"}
    assert schedule["kmsKeyArn"] == "<acme-ml-key.arn>"
    target = schedule["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:createTransformJob"
    assert target["roleArn"] == "<demand-forecaster-batch-schedule-role.arn>"
    assert target["retryPolicy"] == {"maximumRetryAttempts": 2, "maximumEventAgeInSeconds": 3600}
    assert target["deadLetterConfig"] == {"arn": "<demand-forecaster-batch-failures.arn>"}


def test_every_run_is_its_own_job_writing_its_own_folder_under_kms(request_):
    assert request_["TransformJobName"] == "demand-forecaster-batch-<aws.scheduler.execution-id>"
    output = request_["TransformOutput"]
    assert output["S3OutputPath"] == (
        "s3://<acme-ml-artifacts.bucket>/demand-forecaster/batch/<aws.scheduler.scheduled-time>/"
    )
    assert output["KmsKeyId"] == request_["TransformResources"]["VolumeKmsKeyId"] == "<acme-ml-key.arn>"
    # One prediction per input row, in order; each answer ends its own last line.
    assert (output["AssembleWith"], output["Accept"]) == ("None", "text/csv")


def test_the_request_reads_the_input_prefix_with_the_pinned_model(sample_plans, request_):
    assert request_["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://acme-ml-data/demand/scoring/"}},
        "ContentType": "text/csv",
        "SplitType": "Line",
        "CompressionType": "None",
    }
    assert request_["TransformResources"]["InstanceType"] == "ml.c6i.2xlarge"
    assert request_["TransformResources"]["InstanceCount"] == 2
    model = batch_resources(sample_plans["prod"])["demand-forecaster-batch-model"]["inputs"]
    assert request_["ModelName"] == model["name"]
    assert model["primaryContainer"] == {
        "modelPackageName": "arn:aws:sagemaker:us-east-1:<aws.accountId>:model-package/demand-forecaster/7"
    }
    assert model["enableNetworkIsolation"] is True
    assert model["executionRoleArn"] == "<demand-forecaster-batch-role.arn>"
    assert {"Key": "modelform:model", "Value": "demand-forecaster"} in request_["Tags"]


def test_the_request_is_a_create_transform_job_botocore_accepts_for_the_longest_model_name(request_):
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTransformJob")
    longest = "m" * 32
    assert __import__("re").fullmatch(MODEL_NAME_PATTERN, longest)
    request = json.loads(concrete(json.dumps(request_), execution_id="x" * EXECUTION_ID_LENGTH))
    request["TransformJobName"] = request["TransformJobName"].replace("demand-forecaster", longest)
    report = ParamValidator().validate(request, shape.input_shape)
    assert not report.has_errors(), report.generate_report()
    job_name = shape.input_shape.members["TransformJobName"]
    assert len(request["TransformJobName"]) <= job_name.metadata["max"] == 63


def test_failures_land_in_the_inbox_and_raise_the_alarm(sample_plans):
    resources = batch_resources(sample_plans["prod"])
    rule = resources["demand-forecaster-batch-failed"]["inputs"]
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Transform Job State Change"],
        "detail": {
            "TransformJobStatus": ["Failed", "Stopped"],
            "TransformJobName": [{"prefix": "demand-forecaster-batch-"}],
        },
    }
    target = resources["demand-forecaster-batch-failed-target"]["inputs"]
    assert target["arn"] == "<demand-forecaster-batch-failures.arn>"
    assert resources["demand-forecaster-batch-failures-policy"]["inputs"]["queueUrl"] == (
        "<demand-forecaster-batch-failures.url>"
    )
    queue = resources["demand-forecaster-batch-failures"]["inputs"]
    assert queue["kmsMasterKeyId"] == "<acme-ml-key.arn>" and queue["messageRetentionSeconds"] == 14 * 24 * 3600
    policy = json.loads(resources["demand-forecaster-batch-failures-policy"]["inputs"]["policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": "<demand-forecaster-batch-failed.arn>"}}
    alarm = resources["demand-forecaster-batch-failures-alarm"]["inputs"]
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["dimensions"] == {"QueueName": "demand-forecaster-batch-failures"}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["alarmActions"] == ["<demand-forecaster-monitoring-alerts.arn>"]


@pytest.mark.parametrize("role, service", [("batch-role", "sagemaker"), ("batch-schedule-role", "scheduler")])
def test_batch_roles_trust_only_their_service_for_this_account(sample_plans, role, service):
    trust = json.loads(batch_resources(sample_plans["prod"])[f"demand-forecaster-{role}"]["inputs"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "<aws.accountId>"}}


def test_models_without_batch_get_none(sample_plans):
    for model in ("fraud-detector",):
        names = [n for n in resources_of(sample_plans["prod"], f"{model}.prod") if "-code-" not in n]  # code files
        assert not [n for n in names if "-batch" in n]


# --- on loopback: what AWS's APIs (moto) make of the plan's requests --------------------------------


def test_scheduler_sagemaker_sqs_and_eventbridge_accept_the_planned_requests(aws, sample_plans, schedule):  # noqa: F811
    region = "us-east-1"
    resources = batch_resources(sample_plans["prod"])
    sqs = boto3.client("sqs", region_name=region)
    queue = sqs.create_queue(
        QueueName=naming.batch_failures("demand-forecaster"),
        Attributes={
            "MessageRetentionPeriod": str(
                resources["demand-forecaster-batch-failures"]["inputs"]["messageRetentionSeconds"]
            )
        },
    )
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events", region_name=region)
    pattern = resources["demand-forecaster-batch-failed"]["inputs"]["eventPattern"]
    events.put_rule(Name=naming.batch_failed_rule("demand-forecaster"), EventPattern=pattern)

    events.put_targets(Rule=naming.batch_failed_rule("demand-forecaster"), Targets=[{"Id": "inbox", "Arn": queue_arn}])

    def event(status: str, job: str) -> dict:
        detail = {"TransformJobName": job, "TransformJobStatus": status, "FailureReason": "ClientError: no rows"}
        return {
            "Source": "aws.sagemaker",
            "DetailType": "SageMaker Transform Job State Change",
            "Detail": json.dumps(detail),
        }

    outcomes = [
        (status, job)
        for status in ("Failed", "Stopped", "Completed", "InProgress")
        for job in ("demand-forecaster-batch-d32c5kddcf5bb8c3", "fraud-detector-batch-d32c5kddcf5bb8c3")
    ]
    events.put_events(Entries=[event(status, job) for status, job in outcomes])
    received = sqs.receive_message(QueueUrl=queue["QueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
    inbox = sorted(
        (json.loads(m["Body"])["detail"]["TransformJobStatus"], json.loads(m["Body"])["detail"]["TransformJobName"])
        for m in received.get("Messages", [])
    )
    # Only this model's jobs that failed or were stopped reach its inbox, with SageMaker's reason.
    assert inbox == [
        ("Failed", "demand-forecaster-batch-d32c5kddcf5bb8c3"),
        ("Stopped", "demand-forecaster-batch-d32c5kddcf5bb8c3"),
    ]

    sagemaker = boto3.client("sagemaker", region_name=region)
    role = f"arn:aws:iam::{ACCOUNT}:role/demand-forecaster-batch-role"
    request = json.loads(concrete(schedule["target"]["input"]))
    sagemaker.create_model(
        ModelName=request["ModelName"],
        ExecutionRoleArn=role,
        PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"},
    )
    created = sagemaker.create_transform_job(**request)
    assert created["TransformJobArn"].endswith(":transform-job/demand-forecaster-batch-d32c5kddcf5bb8c3")
    described = sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert described["TransformOutput"]["S3OutputPath"] == (
        "s3://acme-ml-artifacts-4f1c2d0/demand-forecaster/batch/2026-11-30T02:00:00Z/"
    )

    scheduler = boto3.client("scheduler", region_name=region)
    target = schedule["target"]
    scheduler.create_schedule(
        Name=schedule["name"],
        ScheduleExpression=schedule["scheduleExpression"],
        ScheduleExpressionTimezone=schedule["scheduleExpressionTimezone"],
        FlexibleTimeWindow={"Mode": "OFF"},
        KmsKeyArn=concrete(schedule["kmsKeyArn"]),
        Target={
            "Arn": target["arn"],
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/demand-forecaster-batch-schedule-role",
            "Input": concrete(target["input"], execution_id=EXECUTION_ID, when=SCHEDULED_TIME),
            "RetryPolicy": {
                "MaximumRetryAttempts": target["retryPolicy"]["maximumRetryAttempts"],
                "MaximumEventAgeInSeconds": target["retryPolicy"]["maximumEventAgeInSeconds"],
            },
            "DeadLetterConfig": {"Arn": queue_arn},
        },
    )
    stored = scheduler.get_schedule(Name=schedule["name"])
    assert stored["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:createTransformJob"
    assert "<aws.scheduler.execution-id>" in stored["Target"]["Input"]  # replaced by Scheduler at each run


def test_the_failed_job_pattern_is_the_one_the_plan_carries(sample_plans):
    rule = batch_resources(sample_plans["prod"])["demand-forecaster-batch-failed"]["inputs"]
    assert json.loads(rule["eventPattern"]) == failed_job_pattern("demand-forecaster")


# --- rules ----------------------------------------------------------------------------------------

BATCH = """\
batch:
  schedule: cron(0 2 * * ? *)
  input: s3://acme-data/scoring/
  instance_type: ml.m5.xlarge
"""


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            "  model_version: 1\n  artifact: s3://models/m.tar.gz\n",
            "specs/m.yaml:17:13: batch.artifact: batch scoring has exactly one of model_version and artifact "
            "(found both)",
        ),
        ("", "specs/m.yaml:13:3: batch: batch scoring has exactly one of model_version and artifact (found neither)"),
    ],
)
def test_batch_pins_exactly_one_model(repo, extra, expected):
    assert problems_of(repo, HEADER + DEPLOYMENT + BATCH + extra) == [expected]


def test_batch_needs_a_batch_transform_instance_type(repo):
    text = HEADER + DEPLOYMENT + BATCH.replace("ml.m5.xlarge", "ml.m5.xlarg") + "  model_version: 1\n"
    (problem,) = problems_of(repo, text)
    assert problem.startswith(
        "specs/m.yaml:15:18: batch.instance_type: 'ml.m5.xlarg' is not a SageMaker batch transform instance type"
    )
    assert "did you mean 'ml.m5.xlarge'" in problem


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("schedule", "every night", "is not an EventBridge schedule"),
        ("input", "acme-data/scoring/", "s3://"),
        ("instance_count", "0", "must be at least 1 (got 0)"),
    ],
)
def test_bad_batch_values_name_the_field(repo, field, value, message):
    lines = [line if not line.startswith(f"  {field}:") else f"  {field}: {value}" for line in BATCH.splitlines()]
    if field == "instance_count":
        lines.append(f"  instance_count: {value}")
    text = HEADER + DEPLOYMENT + "\n".join(lines) + "\n  model_version: 1\n"
    (problem,) = problems_of(repo, text)
    assert f": batch.{field}: " in problem and message in problem


def test_batch_without_anyone_to_notify_is_a_warning(repo):
    repo.write("m.yaml", HEADER + DEPLOYMENT + BATCH + "  model_version: 1\n")
    specs = repo.validate()
    assert specs.errors == []
    assert [str(w) for w in specs.warnings] == [
        "specs/m.yaml:13:3: batch: batch scoring's failure alarms notify the model's alert topic, which only "
        "monitoring.notify subscribes people to: nobody hears of a failed run"
    ]


# --- on EKS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eks_batch(sample_specs, sample_plans):
    """car-damage-estimator scores the day's claims every working night on its serving cluster."""
    resources = {
        n: r for n, r in resources_of(sample_plans["prod"], "car-damage-estimator.prod").items() if "-batch" in n
    }
    return sample_specs, sample_plans["prod"], resources


def test_on_eks_a_cronjob_runs_the_scorer_of_the_serving_image(eks_batch):
    _, _, resources = eks_batch
    cronjob = resources["car-damage-estimator-batch-cronjob"]["inputs"]
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"]) == ("30 1 * * MON-FRI", "Etc/UTC")
    assert (spec["concurrencyPolicy"], spec["jobTemplate"]["spec"]["backoffLimit"]) == ("Forbid", 0)
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (score,) = pod["containers"]
    assert score["args"][:2] == ["-m", "model_code.batch_score"]
    arguments = dict(zip(score["args"][2::2], score["args"][3::2]))
    assert arguments["--input"] == "s3://acme-ml-data/claims/scoring/"
    assert arguments["--output"] == "s3://<acme-ml-artifacts.bucket>/car-damage-estimator/batch/"
    assert arguments["--failures"] == "<car-damage-estimator-batch-failures.url>"
    assert arguments["--kms-key"] == "<acme-ml-key.arn>"
    assert {
        "name": "JOB_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}},
    } in score["env"]
    assert score["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert pod["nodeSelector"] == {"modelform/gpu": "true"}
    (fetch,) = pod["initContainers"]
    assert fetch["args"][fetch["args"].index("--model-package") + 1].endswith(":model-package/car-damage-estimator/4")
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"] + pod["initContainers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    account = resources["car-damage-estimator-batch-serviceaccount"]["inputs"]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "<car-damage-estimator-batch-pod-role.arn>"
    }
    policy = resources["car-damage-estimator-batch-networkpolicy"]["inputs"]
    assert policy["spec"]["ingress"] == [] and policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_on_eks_the_objects_validate_strictly_and_no_sagemaker_batch_is_declared(eks_batch):
    specs, _, resources = eks_batch
    version = specs.platform("prod").cluster("serving-eu").kubernetes_version
    objects = [r["inputs"] for r in resources.values() if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]]
    assert sorted(o["kind"] for o in objects) == ["CronJob", "NetworkPolicy", "ServiceAccount"]
    for manifest in objects:
        kubernetes_validate.validate(manifest, version, strict=True)
    types = {r["type"] for r in resources.values()}
    assert not types & {
        "aws:scheduler/schedule:Schedule",
        "aws:sagemaker/model:Model",
        "aws:cloudwatch/eventRule:EventRule",
    }
    assert resources["car-damage-estimator-batch-failures-alarm"]["inputs"]["dimensions"] == {
        "QueueName": "car-damage-estimator-batch-failures"
    }


def test_on_eks_the_pod_role_reads_the_input_writes_its_output_and_reports(eks_batch):
    _, _, resources = eks_batch
    text = resources["car-damage-estimator-batch-pod-role-policy"]["inputs"]["policy"]
    for placeholder, value in {
        "<acme-ml-artifacts.bucket>": "acme-ml-artifacts-4f1c2d0",
        "<acme-ml-key.arn>": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k",
        "<aws.accountId>": ACCOUNT,
        "<car-damage-estimator-batch-failures.arn>": (
            f"arn:aws:sqs:us-east-1:{ACCOUNT}:car-damage-estimator-batch-failures"
        ),
    }.items():
        text = text.replace(placeholder, value)
    policy = IAMPolicy(text)
    allowed = [
        ("s3:GetObject", "arn:aws:s3:::acme-ml-data/claims/scoring/2026-11-30/claims.csv"),
        ("s3:GetObject", "arn:aws:s3:::acme-ml-artifacts-4f1c2d0/car-damage-estimator/models/x/model.tar.gz"),
        (
            "s3:PutObject",
            "arn:aws:s3:::acme-ml-artifacts-4f1c2d0/car-damage-estimator/batch/2026-11-30T01:30:00Z/claims.csv.out",
        ),
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:car-damage-estimator-batch-failures"),
        (
            "sagemaker:DescribeModelPackage",
            f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/car-damage-estimator/4",
        ),
    ]
    refused = [
        ("s3:PutObject", "arn:aws:s3:::acme-ml-data/claims/scoring/x.csv"),
        ("s3:GetObject", "arn:aws:s3:::acme-ml-data/claims/train/part-0.csv"),
        ("s3:PutObject", "arn:aws:s3:::acme-ml-artifacts-4f1c2d0/car-damage-estimator/models/x/model.tar.gz"),
        ("s3:GetObject", "arn:aws:s3:::acme-ml-artifacts-4f1c2d0/fraud-detector/models/x/model.tar.gz"),
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:fraud-detector-batch-failures"),
    ]
    for action, resource in allowed:
        assert policy.is_action_permitted(action, resource) is PermissionResult.PERMITTED, (action, resource)
    for action, resource in refused:
        assert policy.is_action_permitted(action, resource) is not PermissionResult.PERMITTED, (action, resource)


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "  target: eks\n  cluster: serving-eu\n",
            "  target: eks\n",
            "batch.cluster: required for target eks",
        ),
        (
            "  target: eks\n  cluster: serving-eu\n",
            "  target: eks\n  cluster: serving-us\n",
            "batch.cluster: cluster 'serving-us' is not a cluster of platform 'acme-ml'",
        ),
        (
            "  schedule: cron(30 1 ? * MON-FRI *)\n",
            "  schedule: cron(0 0 L * ? *)\n",
            "batch.schedule: 'cron(0 0 L * ? *)': Kubernetes cron has no L, W or # (last, weekday, nth)",
        ),
        (
            "\n  model_version: 4\n",
            "\n  model_version: 4\n  instance_type: ml.m5.xlarge\n",
            "batch.instance_type: does not apply to target eks",
        ),
    ],
)
def test_eks_batch_rules(old, new, expected):
    specs = specs_with("car-damage-estimator.yaml", old, new)
    problems = [f"{e.path}: {e.message}" for e in specs.errors]
    assert len(problems) == 1 and problems[0].startswith(expected), problems
