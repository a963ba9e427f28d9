"""Every role of a full prod plan, evaluated with an independent IAM policy evaluator (moto's)
against the calls its runtime really makes, named as AWS names them at run time, and against
calls it must never be able to make (another model's data, registry, jobs or role).

The rows are written from what each runtime does (the SageMaker job that a pipeline step starts,
the endpoint container's data capture, the guard Lambda's log stream, a pod's model fetch), not
from the policies. moto's evaluator checks actions, resources and `StringEquals` conditions (it
ignores other condition operators, so prefix and VPC conditions are pinned by the IAM tests);
a row's `context` carries the condition keys the real request carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from tests.conftest import resources_of

ACCOUNT = "111122223333"
REGION = "us-east-1"
ARTIFACTS = "acme-ml-artifacts-4f1c2d0"
CAPTURE = "acme-ml-capture-9b7e1aa"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f4a8c2e-5d1b-4e39-9a77-3c2d1e0b6a51"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
LOGS = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
VPC_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
#: What the platform's placeholders stand for once deployed.
DEPLOYED = {
    "<aws.accountId>": ACCOUNT,
    "<acme-ml-artifacts.bucket>": ARTIFACTS,
    "<acme-ml-capture.bucket>": CAPTURE,
    "<acme-ml-key.arn>": KEY,
    "<acme-ml-vpc.id>": "vpc-0a1b2c3d",
    "<acme-ml-flow-logs.arn>": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/modelform/acme-ml/vpc-flow-logs",
    **{
        f"<{model}-retraining-guard-dlq.arn>": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{model}-retraining-guard-dlq"
        for model in ("fraud-detector", "demand-forecaster", "car-damage-estimator")
    },
    "<demand-forecaster-batch-failures.arn>": f"arn:aws:sqs:{REGION}:{ACCOUNT}:demand-forecaster-batch-failures",
}
#: The suffix SageMaker Pipelines appends to a step's job name prefix, and a pipeline execution id.
SUFFIX = "a1b2c3d4e5f6"
EXECUTION = "k3x9q2w8e7r1"


@dataclass(frozen=True)
class Call:
    action: str
    resource: str
    context: dict = field(default_factory=dict)

    def __str__(self):
        return f"{self.action} on {self.resource}" + (f" with {self.context}" if self.context else "")


def deployed(text: str) -> str:
    for placeholder, value in DEPLOYED.items():
        text = text.replace(placeholder, value)
    return text


def policy_of(plan: dict, stack: str, role: str) -> IAMPolicy:
    (policy,) = [
        r
        for r in resources_of(plan, stack, "aws:iam/rolePolicy:RolePolicy").values()
        if r["inputs"]["role"] == f"<{role}.id>"
    ]
    return IAMPolicy(deployed(policy["inputs"]["policy"]))


def trust_of(plan: dict, stack: str, role: str) -> IAMPolicy:
    return IAMPolicy(deployed(resources_of(plan, stack, "aws:iam/role:Role")[role]["inputs"]["assumeRolePolicy"]))


def verdicts(policy: IAMPolicy, calls: list[Call]) -> dict[str, PermissionResult]:
    return {
        str(c): policy.is_action_permitted(c.action, c.resource, incoming_condition_values=c.context) for c in calls
    }


def assert_allowed(policy: IAMPolicy, calls: list[Call]):
    refused = [call for call, verdict in verdicts(policy, calls).items() if verdict is not PermissionResult.PERMITTED]
    assert refused == [], "the runtime needs these calls"


def assert_refused(policy: IAMPolicy, calls: list[Call]):
    allowed = [call for call, verdict in verdicts(policy, calls).items() if verdict is PermissionResult.PERMITTED]
    assert allowed == [], "these calls must stay out of reach"


def step_jobs(plan: dict, stack: str, pipeline: str) -> list[Call]:
    """The jobs a pipeline's steps start, named as SageMaker names them at run time: the step's job
    name plus a suffix, or `pipelines-<execution>-<step>-<suffix>` when the step names none."""
    definition = json.loads(resources_of(plan, stack)[pipeline]["inputs"]["pipelineDefinition"])
    calls = []
    for step in _steps(definition["Steps"]):
        kind = {
            "Training": ("training-job", "TrainingJobName", "CreateTrainingJob"),
            "Processing": ("processing-job", "ProcessingJobName", "CreateProcessingJob"),
        }.get(step["Type"])
        if kind is None:
            continue
        resource, field_name, action = kind
        given = step["Arguments"].get(field_name)
        name = f"{given}-{SUFFIX}" if given else f"pipelines-{EXECUTION}-{step['Name']}-{SUFFIX}"
        calls += [
            Call(f"sagemaker:{action}", f"{SM}:{resource}/{name.lower()}"),
            Call(f"sagemaker:{action.replace('Create', 'Describe')}", f"{SM}:{resource}/{name.lower()}"),
        ]
    return calls


def _steps(steps):
    for step in steps:
        yield step
        yield from _steps(step.get("Arguments", {}).get("IfSteps", []) + step.get("Arguments", {}).get("ElseSteps", []))


def key_use(actions=("kms:Decrypt", "kms:GenerateDataKey")) -> list[Call]:
    return [Call(action, KEY) for action in actions]


# --- the matrix: per role, what its runtime does and what it must not -------------------------------


def test_sagemaker_execution_role(sample_plans):
    plan, model, stack = sample_plans["prod"], "fraud-detector", "fraud-detector.prod"
    policy = policy_of(plan, stack, f"{model}-sagemaker-execution")
    assert_allowed(
        policy,
        [
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/pipelines-{EXECUTION}/output/model.tar.gz"),
            Call("s3:ListBucket", f"arn:aws:s3:::{ARTIFACTS}", {"s3:prefix": f"{model}/models/"}),
            Call("s3:PutObject", f"arn:aws:s3:::{CAPTURE}/{model}/default/current/2026/11/29/12/capture.jsonl"),
            Call("s3:GetBucketLocation", f"arn:aws:s3:::{CAPTURE}"),
            Call("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
            *key_use(("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")),
            Call("sagemaker:DescribeModelPackage", f"{SM}:model-package/{model}/12"),
            Call("ecr:GetAuthorizationToken", "*"),
            Call("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:763104351884:repository/pytorch-inference"),
            Call("logs:CreateLogStream", f"{LOGS}/aws/sagemaker/Endpoints/{model}-default:log-stream:current/i-0abc"),
            Call("logs:PutLogEvents", f"{LOGS}/aws/sagemaker/Endpoints/{model}-default:log-stream:current/i-0abc"),
            Call("ec2:CreateNetworkInterface", f"{VPC_ARN}:network-interface/*"),
            Call("ec2:DescribeSubnets", "*"),
        ],
    )
    assert_refused(
        policy,
        [
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/demand-forecaster/models/x/model.tar.gz"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/x/model.tar.gz"),
            Call("s3:PutObject", f"arn:aws:s3:::{CAPTURE}/demand-forecaster/default/x.jsonl"),
            Call("sagemaker:DescribeModelPackage", f"{SM}:model-package/demand-forecaster/3"),
            Call("kms:Decrypt", OTHER_KEY),
            Call("logs:PutLogEvents", f"{LOGS}/aws/sagemaker/Endpoints/demand-forecaster-default:log-stream:x"),
            Call("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{model}-sagemaker-training"),
        ],
    )


def test_async_endpoint_writes_only_its_answers_and_announces_only_on_its_topics(sample_plans):
    model = "demand-forecaster"
    policy = policy_of(sample_plans["prod"], f"{model}.prod", f"{model}-sagemaker-execution")
    folder = f"arn:aws:s3:::{ARTIFACTS}/{model}/async/what-if"
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{model}-what-if-async"
    assert_allowed(
        policy,
        [
            Call("s3:GetObject", f"{folder}/input/scenario-7.csv"),  # clients put requests there
            Call("s3:PutObject", f"{folder}/output/7.out"),
            Call("s3:PutObject", f"{folder}/failures/7.out"),
            Call("sns:Publish", f"{topic}-success"),
            Call("sns:Publish", f"{topic}-errors"),
        ],
    )
    assert_refused(
        policy,
        [
            Call("s3:PutObject", f"{folder}/input/scenario-7.csv"),  # never rewrites a request
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/fraud-detector/async/x/output/1.out"),
            Call("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:{model}-alerts"),
            Call("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:fraud-detector-sandbox-async-success"),
        ],
    )


#: A batch run's job, as Scheduler names it: the prefix and its execution id for the attempt.
BATCH_JOB = "demand-forecaster-batch-d32c5kddcf5bb8c3"


def test_batch_transform_role(sample_plans):
    plan, model, stack = sample_plans["prod"], "demand-forecaster", "demand-forecaster.prod"
    policy = policy_of(plan, stack, f"{model}-batch-role")
    assert_allowed(
        policy,
        [
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/pipelines-{EXECUTION}/output/model.tar.gz"),
            Call("sagemaker:DescribeModelPackage", f"{SM}:model-package/{model}/7"),
            Call("s3:ListBucket", "arn:aws:s3:::acme-ml-data", {"s3:prefix": "demand/scoring/"}),
            Call("s3:GetObject", "arn:aws:s3:::acme-ml-data/demand/scoring/2026-11-30/stores.csv"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/batch/2026-11-30T02:00:00Z/stores.csv.out"),
            Call("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
            *key_use(("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")),
            Call("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:763104351884:repository/pytorch-inference"),
            Call("logs:CreateLogGroup", f"{LOGS}/aws/sagemaker/TransformJobs"),
            Call("logs:PutLogEvents", f"{LOGS}/aws/sagemaker/TransformJobs:log-stream:{BATCH_JOB}/i-0abc-1"),
            Call("ec2:CreateNetworkInterface", f"{VPC_ARN}:network-interface/*"),
        ],
    )
    assert_refused(
        policy,
        [
            Call("s3:GetObject", "arn:aws:s3:::acme-ml-data/demand/train/part-0.csv"),  # training data, not input
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/x/model.tar.gz"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/fraud-detector/batch/x.out"),
            Call("s3:PutObject", "arn:aws:s3:::acme-ml-data/demand/scoring/x.csv"),
            Call("sagemaker:DescribeModelPackage", f"{SM}:model-package/fraud-detector/12"),
            Call("logs:PutLogEvents", f"{LOGS}/aws/sagemaker/TransformJobs:log-stream:fraud-detector-batch-x/i-0"),
            Call("kms:Decrypt", OTHER_KEY),
        ],
    )


def test_batch_schedule_role_starts_only_its_own_transform_jobs(sample_plans):
    plan, model, stack = sample_plans["prod"], "demand-forecaster", "demand-forecaster.prod"
    policy = policy_of(plan, stack, f"{model}-batch-schedule-role")
    inbox = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{model}-batch-failures"
    assert_allowed(
        policy,
        [
            Call("sagemaker:CreateTransformJob", f"{SM}:transform-job/{BATCH_JOB}"),
            Call("sagemaker:AddTags", f"{SM}:transform-job/{BATCH_JOB}"),
            Call("sqs:SendMessage", inbox),
            *key_use(("kms:Decrypt", "kms:GenerateDataKey")),
        ],
    )
    assert_refused(
        policy,
        [
            Call("sagemaker:CreateTransformJob", f"{SM}:transform-job/fraud-detector-batch-d32c5kddcf5bb8c3"),
            Call("sagemaker:CreateTrainingJob", f"{SM}:training-job/{BATCH_JOB}"),
            Call("sagemaker:StopTransformJob", f"{SM}:transform-job/{BATCH_JOB}"),
            Call("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:fraud-detector-retraining-guard-dlq"),
            Call("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{model}-batch-role"),
        ],
    )


def test_api_role_invokes_only_its_endpoint(sample_plans):
    policy = policy_of(sample_plans["prod"], "fraud-detector.prod", "fraud-detector-default-api-role")
    assert_allowed(policy, [Call("sagemaker:InvokeEndpoint", f"{SM}:endpoint/fraud-detector-default")])
    assert_refused(
        policy,
        [
            Call("sagemaker:InvokeEndpoint", f"{SM}:endpoint/fraud-detector-sandbox"),
            Call("sagemaker:InvokeEndpoint", f"{SM}:endpoint/demand-forecaster-default"),
            Call("sagemaker:InvokeEndpointAsync", f"{SM}:endpoint/fraud-detector-default"),
            Call("sagemaker:UpdateEndpoint", f"{SM}:endpoint/fraud-detector-default"),
        ],
    )


def test_api_gateway_logging_role_writes_only_api_logs(sample_plans):
    policy = policy_of(sample_plans["prod"], "acme-ml.prod", "acme-ml-apigateway-logs-role")
    access = f"{LOGS}/aws/apigateway/fraud-detector-default"
    execution = f"{LOGS}API-Gateway-Execution-Logs_a1b2c3d4e5/prod"
    assert_allowed(
        policy,
        [
            Call("logs:CreateLogGroup", execution),
            Call("logs:CreateLogStream", f"{execution}:log-stream:{SUFFIX}"),
            Call("logs:PutLogEvents", f"{access}:log-stream:{SUFFIX}"),
            Call("logs:DescribeLogGroups", "*"),
        ],
    )
    assert_refused(
        policy,
        [
            Call("logs:PutLogEvents", f"{LOGS}/aws/sagemaker/Endpoints/fraud-detector-default:log-stream:x"),
            Call("logs:DeleteLogGroup", access),
            Call("logs:GetLogEvents", f"{access}:log-stream:x"),
        ],
    )


@pytest.mark.parametrize("model", ["fraud-detector", "demand-forecaster"])
def test_training_pipeline_role_starts_the_jobs_its_steps_name(sample_plans, model):
    plan, stack = sample_plans["prod"], f"{model}.prod"
    policy = policy_of(plan, stack, f"{model}-training-role")
    jobs = step_jobs(plan, stack, f"{model}-training-pipeline")
    assert len(jobs) == 4  # train and evaluate: create and describe
    role = f"arn:aws:iam::{ACCOUNT}:role/{model}-sagemaker-training"
    data = {"fraud-detector": "acme-ml-data/fraud", "demand-forecaster": "acme-retail-data/demand"}[model]
    assert_allowed(
        policy,
        [
            *jobs,
            Call("iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
            Call("sagemaker:DescribePipelineExecution", f"{SM}:pipeline/{model}-retraining/execution/{EXECUTION}"),
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/code/0123456789ab/sourcedir.tar.gz"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/{model}-train-{SUFFIX}/output/model.tar.gz"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/checkpoints/checkpoint.pt"),
            Call(
                "s3:GetObject",
                f"arn:aws:s3:::{ARTIFACTS}/{model}/evaluations/{model}-evaluate-{SUFFIX}/evaluation.json",
            ),
            Call("sagemaker:CreateModelPackage", f"{SM}:model-package/{model}/13"),
            Call(
                "logs:PutLogEvents", f"{LOGS}/aws/sagemaker/TrainingJobs:log-stream:{model}-train-{SUFFIX}/algo-1-1732"
            ),
            Call("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
            *key_use(),
        ],
    )
    assert_refused(
        policy,
        [
            Call("sagemaker:CreateTrainingJob", f"{SM}:training-job/other-model-train-{SUFFIX}"),
            Call("sagemaker:CreateModelPackage", f"{SM}:model-package/other-model/1"),
            Call(
                "iam:PassRole",
                f"arn:aws:iam::{ACCOUNT}:role/other-model-sagemaker-training",
                {"iam:PassedToService": "sagemaker.amazonaws.com"},
            ),
            Call("iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"}),
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/other-model/code/0123456789ab/sourcedir.tar.gz"),
            Call("s3:GetObject", f"arn:aws:s3:::{data}-other/x.csv"),
        ],
    )


def test_unnamed_pipeline_jobs_would_be_refused(sample_plans):
    """What the matrix catches: a step without a job name gets `pipelines-<execution>-...` at run
    time, which the role (scoped to the model's names) cannot start. The plan names every one."""
    plan, stack = sample_plans["prod"], "fraud-detector.prod"
    policy = policy_of(plan, stack, "fraud-detector-training-role")
    unnamed = Call("sagemaker:CreateTrainingJob", f"{SM}:training-job/pipelines-{EXECUTION}-train-{SUFFIX}")
    assert policy.is_action_permitted(unnamed.action, unnamed.resource) is not PermissionResult.PERMITTED
    definition = json.loads(
        resources_of(plan, stack)["fraud-detector-training-pipeline"]["inputs"]["pipelineDefinition"]
    )
    named = {
        s["Name"]: s["Arguments"].get("TrainingJobName") or s["Arguments"].get("ProcessingJobName")
        for s in _steps(definition["Steps"])
        if s["Type"] in ("Training", "Processing")
    }
    assert named == {"Train": "fraud-detector-train", "Evaluate": "fraud-detector-evaluate"}


@pytest.mark.parametrize("model", ["fraud-detector", "demand-forecaster", "car-damage-estimator"])
def test_monitoring_pipeline_role(sample_plans, model):
    plan, stack = sample_plans["prod"], f"{model}.prod"
    policy = policy_of(plan, stack, f"{model}-monitoring-role")
    jobs = step_jobs(plan, stack, f"{model}-monitoring-pipeline")
    assert jobs
    assert_allowed(
        policy,
        [
            *jobs,
            Call(
                "iam:PassRole",
                f"arn:aws:iam::{ACCOUNT}:role/{model}-sagemaker-monitoring",
                {"iam:PassedToService": "sagemaker.amazonaws.com"},
            ),
            Call("s3:GetObject", f"arn:aws:s3:::{CAPTURE}/{model}/default/current/2026/11/29/12/capture.jsonl"),
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/code/0123456789ab/monitoring/job.py"),
            Call("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "modelform"}),
            Call(
                "logs:PutLogEvents", f"{LOGS}/aws/sagemaker/ProcessingJobs:log-stream:{model}-monitor-{SUFFIX}/algo-1"
            ),
            *key_use(),
        ],
    )
    assert_refused(
        policy,
        [
            Call("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/SageMaker"}),
            Call("s3:GetObject", f"arn:aws:s3:::{CAPTURE}/other-model/default/x.jsonl"),
            Call("sagemaker:CreateProcessingJob", f"{SM}:processing-job/other-model-monitor-{SUFFIX}"),
            Call("sagemaker:CreateTrainingJob", f"{SM}:training-job/{model}-train-{SUFFIX}"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/x/model.tar.gz"),
        ],
    )


def test_monitoring_schedule_role_starts_only_the_monitoring_pipeline(sample_plans):
    plan, stack = sample_plans["prod"], "fraud-detector.prod"
    policy = policy_of(plan, stack, "fraud-detector-monitoring-schedule-role")
    assert_allowed(policy, [Call("sagemaker:StartPipelineExecution", "<fraud-detector-monitoring-pipeline.arn>")])
    assert_refused(
        policy,
        [
            Call("sagemaker:StartPipelineExecution", "<fraud-detector-training-pipeline.arn>"),
            Call("sagemaker:StartPipelineExecution", f"{SM}:pipeline/demand-forecaster-monitoring"),
        ],
    )


@pytest.mark.parametrize("model", ["fraud-detector", "demand-forecaster"])
def test_guard_starts_only_its_own_pipeline(sample_plans, model):
    plan, stack = sample_plans["prod"], f"{model}.prod"
    policy = policy_of(plan, stack, f"{model}-retraining-guard-role")
    stream = f"{LOGS}/aws/lambda/{model}-retraining-guard:log-stream:2026/11/29/[$LATEST]0a1b2c3d"
    assert_allowed(
        policy,
        [
            Call("sagemaker:ListPipelineExecutions", f"{SM}:pipeline/{model}-retraining"),
            Call("sagemaker:StartPipelineExecution", f"{SM}:pipeline/{model}-retraining"),
            Call("logs:CreateLogStream", stream),
            Call("logs:PutLogEvents", stream),
        ],
    )
    assert_refused(
        policy,
        [
            Call("sagemaker:StartPipelineExecution", f"{SM}:pipeline/other-model-retraining"),
            Call("sagemaker:StartPipelineExecution", f"{SM}:pipeline/{model}-monitoring"),
            Call("logs:PutLogEvents", f"{LOGS}/aws/lambda/other-model-retraining-guard:log-stream:x"),
        ],
    )


def test_eks_training_roles(sample_plans):
    plan, model, stack = sample_plans["prod"], "car-damage-estimator", "car-damage-estimator.prod"
    guard = policy_of(plan, stack, f"{model}-retraining-guard-role")
    machine = f"<{model}-training-state-machine.arn>"
    assert_allowed(guard, [Call("states:StartExecution", machine), Call("states:ListExecutions", machine)])
    assert_refused(guard, [Call("states:StartExecution", "<other-model-training-state-machine.arn>")])

    state_machine = policy_of(plan, stack, f"{model}-training-role")
    assert_allowed(
        state_machine,
        [
            Call("eks:DescribeCluster", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/acme-ml-gpu-training"),
            Call(
                "s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/evaluations/eks/evaluate-{EXECUTION}/evaluation.json"
            ),
            Call("sagemaker:CreateModelPackage", f"{SM}:model-package/{model}/5"),
        ],
    )
    assert_refused(
        state_machine,
        [
            Call("eks:DescribeCluster", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/acme-ml-serving-eu"),
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/other-model/evaluations/eks/x/evaluation.json"),
            Call("sagemaker:CreateModelPackage", f"{SM}:model-package/other-model/5"),
        ],
    )

    pods = policy_of(plan, stack, f"{model}-training-pod-role")
    assert_allowed(
        pods,
        [
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/code/0123456789ab/sourcedir.tar.gz"),
            Call("s3:GetObject", "arn:aws:s3:::acme-claims-data/damage/train/part-0.parquet"),
            Call("s3:ListBucket", "arn:aws:s3:::acme-claims-data", {"s3:prefix": "damage/train/"}),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/eks/train-{EXECUTION}/model.tar.gz"),
            Call(
                "s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/evaluations/eks/evaluate-{EXECUTION}/evaluation.json"
            ),
            *key_use(),
        ],
    )
    assert_refused(
        pods,
        [
            Call("s3:GetObject", "arn:aws:s3:::acme-claims-data/other/x.parquet"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/other-model/models/x/model.tar.gz"),
            Call("s3:PutObject", "arn:aws:s3:::acme-claims-data/damage/train/poisoned.parquet"),
        ],
    )


def test_eks_pods_write_data_capture_only_under_their_own_prefix(sample_plans):
    """The serving container's capture (model_code/serve/capture.py): PutObject with SSE-KMS under
    `<capture>/<model>/<deployment>/<variant>/`, which needs a data key from the platform key."""
    plan, stack = sample_plans["prod"], "car-damage-estimator.prod"
    own = f"arn:aws:s3:::{CAPTURE}/car-damage-estimator/default/current/2026/11/30/12/00-00-000000-abc.jsonl"
    policy = policy_of(plan, stack, "car-damage-estimator-default-current-pod-role")
    assert_allowed(policy, [Call("s3:PutObject", own), Call("kms:GenerateDataKey", KEY)])
    assert_refused(
        policy,
        [
            Call("s3:PutObject", f"arn:aws:s3:::{CAPTURE}/car-damage-estimator/default/shadow/x.jsonl"),
            Call("s3:PutObject", f"arn:aws:s3:::{CAPTURE}/fraud-detector/default/current/x.jsonl"),
            Call("s3:GetObject", own),
            Call("s3:DeleteObject", own),
            Call("kms:GenerateDataKey", OTHER_KEY),
        ],
    )
    # A deployment without capture writes nothing.
    fraud = policy_of(plan, "fraud-detector.prod", "fraud-detector-eu-enterprise-current-pod-role")
    assert_refused(
        fraud,
        [
            Call("s3:PutObject", f"arn:aws:s3:::{CAPTURE}/fraud-detector/eu-enterprise/current/x.jsonl"),
            Call("kms:GenerateDataKey", KEY),
        ],
    )


@pytest.mark.parametrize(
    "model, deployment, variant, version, namespace",
    [
        ("car-damage-estimator", "default", "current", 4, "claims"),
        ("fraud-detector", "eu-enterprise", "current", 12, "models"),
    ],
)
def test_eks_endpoint_pod_roles_fetch_only_their_version(sample_plans, model, deployment, variant, version, namespace):
    plan, stack = sample_plans["prod"], f"{model}.prod"
    role = f"{model}-{deployment}-{variant}-pod-role"
    policy = policy_of(plan, stack, role)
    assert_allowed(
        policy,
        [
            Call("sagemaker:DescribeModelPackage", f"{SM}:model-package/{model}/{version}"),
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/{model}-train-{SUFFIX}/output/model.tar.gz"),
            Call("kms:Decrypt", KEY),
        ],
    )
    assert_refused(
        policy,
        [
            Call("sagemaker:DescribeModelPackage", f"{SM}:model-package/{model}/{version + 1}"),
            Call("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/other-model/models/x/model.tar.gz"),
            Call("s3:PutObject", f"arn:aws:s3:::{ARTIFACTS}/{model}/models/x/model.tar.gz"),
            Call("kms:Encrypt", KEY),
        ],
    )
    trust = trust_of(plan, stack, role)
    issuer = "<acme-ml-serving-eu-control-plane.oidcIssuer>"  # both serve on cluster serving-eu
    own = {
        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{model}-{deployment}-{variant}",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    assert (
        trust.is_action_permitted("sts:AssumeRoleWithWebIdentity", incoming_condition_values=own)
        is PermissionResult.PERMITTED
    )
    other = {**own, f"{issuer}:sub": f"system:serviceaccount:{namespace}:other-model-default-current"}
    assert (
        trust.is_action_permitted("sts:AssumeRoleWithWebIdentity", incoming_condition_values=other)
        is not PermissionResult.PERMITTED
    )


@pytest.mark.parametrize(
    "role, service",
    [
        ("fraud-detector-sagemaker-execution", "sagemaker.amazonaws.com"),
        ("fraud-detector-training-role", "sagemaker.amazonaws.com"),
        ("fraud-detector-monitoring-role", "sagemaker.amazonaws.com"),
        ("fraud-detector-monitoring-schedule-role", "events.amazonaws.com"),
        ("fraud-detector-retraining-guard-role", "lambda.amazonaws.com"),
    ],
)
def test_service_roles_trust_only_their_service_acting_for_this_account(sample_plans, role, service):
    trust = trust_of(sample_plans["prod"], "fraud-detector.prod", role)
    (statement,) = trust._policy_json["Statement"]
    assert statement["Principal"] == {"Service": service}
    assert (
        trust.is_action_permitted("sts:AssumeRole", incoming_condition_values={"aws:SourceAccount": ACCOUNT})
        is PermissionResult.PERMITTED
    )
    assert (
        trust.is_action_permitted("sts:AssumeRole", incoming_condition_values={"aws:SourceAccount": "999999999999"})
        is not PermissionResult.PERMITTED
    )


def test_every_role_of_the_prod_plan_is_in_the_matrix(sample_plans):
    """A new role must come with its rows: this list is the matrix's coverage."""
    covered = {
        "fraud-detector-sagemaker-execution",
        "fraud-detector-training-role",
        "fraud-detector-monitoring-role",
        "fraud-detector-monitoring-schedule-role",
        "fraud-detector-retraining-guard-role",
        "fraud-detector-eu-enterprise-current-pod-role",
        "demand-forecaster-training-role",
        "demand-forecaster-monitoring-role",
        "car-damage-estimator-monitoring-role",
        "demand-forecaster-retraining-guard-role",
        "car-damage-estimator-retraining-guard-role",
        "car-damage-estimator-training-role",
        "car-damage-estimator-training-pod-role",
        "car-damage-estimator-default-current-pod-role",
        "demand-forecaster-batch-role",
        "demand-forecaster-batch-schedule-role",
        "car-damage-estimator-batch-pod-role",  # rows: tests/test_batch_scoring.py
        "fraud-detector-default-api-role",
        "acme-ml-apigateway-logs-role",
        "acme-ml-flow-logs-role",
        "acme-ml-serving-eu-addons-load-balancer-controller-role",
    }
    same_shape = {  # the same component as a covered role, for another model or variant
        "demand-forecaster-sagemaker-execution",
        "demand-forecaster-monitoring-schedule-role",
        "car-damage-estimator-default-shadow-pod-role",
        "car-damage-estimator-monitoring-schedule-role",
        "acme-ml-gpu-training-addons-load-balancer-controller-role",
    }
    managed_only = {
        f"acme-ml-{cluster}-{kind}-role" for cluster in ("serving-eu", "gpu-training") for kind in ("cluster", "node")
    }
    roles = {
        name
        for stack in sample_plans["prod"]["stacks"]
        for name in resources_of(sample_plans["prod"], stack["stack"], "aws:iam/role:Role")
    }
    assert roles == covered | same_shape | managed_only


def test_cluster_and_node_roles_carry_only_the_aws_managed_policies_eks_documents(sample_plans):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    for cluster in ("serving-eu", "gpu-training"):
        attached = {r["inputs"]["role"]: [] for r in resources.values() if r["type"].endswith("RolePolicyAttachment")}
        for r in resources.values():
            if r["type"].endswith("RolePolicyAttachment"):
                attached[r["inputs"]["role"]].append(r["inputs"]["policyArn"].rsplit("/", 1)[1])
        assert sorted(attached[f"acme-ml-{cluster}-cluster-role"]) == ["AmazonEKSClusterPolicy"]
        assert sorted(attached[f"acme-ml-{cluster}-node-role"]) == [
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
        ]
        assert sorted(r["name"] for r in resources.values() if r["type"] == "aws:iam/rolePolicy:RolePolicy") == [
            "acme-ml-apigateway-logs-role-policy",
            "acme-ml-flow-logs-role-policy",
            "acme-ml-gpu-training-addons-load-balancer-controller-role-policy",
            "acme-ml-serving-eu-addons-load-balancer-controller-role-policy",
        ]  # the flow-log role's and the controllers' (below); the EKS cluster and node roles have none


def test_flow_logs_role_writes_only_the_flow_log_group(sample_plans):
    policy = policy_of(sample_plans["prod"], "acme-ml.prod", "acme-ml-flow-logs-role")
    stream = f"{LOGS}/modelform/acme-ml/vpc-flow-logs:log-stream:eni-0a1b2c3d-all"
    assert_allowed(
        policy,
        [Call("logs:CreateLogStream", stream), Call("logs:PutLogEvents", stream), Call("logs:DescribeLogGroups", "*")],
    )
    assert_refused(
        policy,
        [
            Call("logs:PutLogEvents", f"{LOGS}/aws/lambda/fraud-detector-retraining-guard:log-stream:x"),
            Call("logs:DeleteLogGroup", f"{LOGS}/modelform/acme-ml/vpc-flow-logs"),
        ],
    )
    trust = trust_of(sample_plans["prod"], "acme-ml.prod", "acme-ml-flow-logs-role")
    assert trust._policy_json["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}


def test_load_balancer_controller_changes_only_its_clusters_load_balancers(sample_plans):
    plan, stack = sample_plans["prod"], "acme-ml.prod"
    policy = policy_of(plan, stack, "acme-ml-serving-eu-addons-load-balancer-controller-role")
    elb = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
    balancer = f"{elb}:loadbalancer/app/k8s-models-fraud-0a1b2c3d4e/50dc6c495c0c9188"
    ours = {"aws:ResourceTag/elbv2.k8s.aws/cluster": "acme-ml-serving-eu"}
    tagging = {"aws:RequestTag/elbv2.k8s.aws/cluster": "acme-ml-serving-eu"}
    assert_allowed(
        policy,
        [
            Call("elasticloadbalancing:DescribeLoadBalancers", "*"),
            Call("ec2:DescribeSubnets", "*"),
            Call("elasticloadbalancing:CreateLoadBalancer", balancer, tagging),
            Call("elasticloadbalancing:ModifyLoadBalancerAttributes", balancer, ours),
            Call("elasticloadbalancing:RegisterTargets", f"{elb}:targetgroup/k8s-models-fraud/73e2d6bc24d8a067", ours),
            Call("ec2:AuthorizeSecurityGroupIngress", f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-1", ours),
            Call(
                "elasticloadbalancing:CreateRule",
                f"{elb}:listener/app/k8s-models-fraud/50dc6c495c0c9188/f2f7dc8efc522ab2",
            ),
        ],
    )
    other = {"aws:ResourceTag/elbv2.k8s.aws/cluster": "acme-ml-gpu-training"}
    assert_refused(
        policy,
        [
            Call("elasticloadbalancing:DeleteLoadBalancer", balancer, other),
            Call("elasticloadbalancing:CreateLoadBalancer", balancer, {"aws:RequestTag/elbv2.k8s.aws/cluster": "x"}),
            Call("ec2:DeleteSecurityGroup", f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-1", other),
            Call(
                "elasticloadbalancing:DeleteLoadBalancer",
                "arn:aws:elasticloadbalancing:eu-west-1:999999999999:loadbalancer/app/x/1",
                ours,
            ),
            Call(
                "iam:CreateServiceLinkedRole",
                f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/x",
                {"iam:AWSServiceName": "autoscaling.amazonaws.com"},
            ),
        ],
    )
    trust = trust_of(plan, stack, "acme-ml-serving-eu-addons-load-balancer-controller-role")
    issuer = "<acme-ml-serving-eu-control-plane.oidcIssuer>"
    own = {
        f"{issuer}:sub": "system:serviceaccount:kube-system:aws-load-balancer-controller",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    assert (
        trust.is_action_permitted("sts:AssumeRoleWithWebIdentity", incoming_condition_values=own)
        is PermissionResult.PERMITTED
    )
