"""Secure by default, checked on every sample plan in every environment: KMS on every bucket,
endpoint configuration and capture; a public access block, versioning, TLS-only policy and access
logs on every bucket; no IAM statement allowing `*` on `*`; tags everywhere; prod protects data."""

from __future__ import annotations

import json

import pytest

from tests.conftest import resources_of

ENVIRONMENTS = ("dev", "staging", "prod")


def taggable(type_token: str) -> bool:
    """Whether the provider SDK's resource class accepts `tags` (read from pulumi_aws itself)."""
    import inspect

    import pulumi_aws

    package, module_path, class_name = type_token.split(":")
    module = module_path.split("/")[0]
    sdk_module = getattr(pulumi_aws, module, None) or getattr(pulumi_aws, f"{module}_")
    resource_class = getattr(sdk_module, class_name)
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def _all(plan):
    return [r for s in plan["stacks"] for r in s["resources"]]


def _for_bucket(resources, type_, bucket):
    return [r for r in resources if r["type"] == type_ and r["inputs"].get("bucket") == f"<{bucket}.id>"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_bucket_is_private_encrypted_versioned_tls_only_and_logged(sample_plans, env):
    resources = _all(sample_plans[env])
    buckets = [r["name"] for r in resources if r["type"] == "aws:s3/bucket:Bucket"]
    assert buckets == ["acme-ml-access-logs", "acme-ml-artifacts", "acme-ml-capture"]
    for bucket in buckets:
        (encryption,) = _for_bucket(
            resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", bucket
        )
        (rule,) = encryption["inputs"]["rules"]
        if bucket == "acme-ml-access-logs":  # S3 access-log delivery writes only to SSE-S3 destinations
            assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}, bucket
        else:
            assert rule["applyServerSideEncryptionByDefault"] == {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": "<acme-ml-key.arn>",
            }, bucket
        (block,) = _for_bucket(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        assert all(
            block["inputs"][k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        (versioning,) = _for_bucket(resources, "aws:s3/bucketVersioning:BucketVersioning", bucket)
        assert versioning["inputs"]["versioningConfiguration"] == {"status": "Enabled"}
        (policy,) = _for_bucket(resources, "aws:s3/bucketPolicy:BucketPolicy", bucket)
        (deny,) = json.loads(policy["inputs"]["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [f"<{bucket}.arn>", f"<{bucket}.arn>/*"]
        (ownership,) = _for_bucket(resources, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership["inputs"]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        logging = _for_bucket(resources, "aws:s3/bucketLogging:BucketLogging", bucket)
        if bucket != "acme-ml-access-logs":
            assert [r["inputs"]["targetBucket"] for r in logging] == ["<acme-ml-access-logs.bucket>"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_endpoint_configs_and_capture_use_the_platform_key(sample_plans, env):
    configs = [
        r for r in _all(sample_plans[env]) if r["type"] == "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
    ]
    # fraud-detector default and sandbox (serverless, no capture), demand-forecaster default and
    # what-if (asynchronous, no capture; its answers are KMS-encrypted)
    assert len(configs) == 4
    for config in configs:
        assert config["inputs"]["kmsKeyArn"] == "<acme-ml-key.arn>"
        if "dataCaptureConfig" in config["inputs"]:
            assert config["inputs"]["dataCaptureConfig"]["kmsKeyId"] == "<acme-ml-key.arn>"
        if "asyncInferenceConfig" in config["inputs"]:
            assert config["inputs"]["asyncInferenceConfig"]["outputConfig"]["kmsKeyId"] == "<acme-ml-key.arn>"
    assert sum("dataCaptureConfig" in c["inputs"] for c in configs) == 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_iam_statement_allows_everything_on_everything(sample_plans, env):
    # A KMS key policy's "Resource": "*" means the key itself, and the account root must hold
    # kms:* there (AWS's default key policy); key policies are checked in test_platform_and_iam.
    documents = [
        json.loads(r["inputs"][key])
        for r in _all(sample_plans[env])
        for key in ("policy", "assumeRolePolicy")
        if isinstance(r["inputs"].get(key), str)
        and r["type"] not in ("aws:kms/key:Key", "aws:ecr/lifecyclePolicy:LifecyclePolicy", ENDPOINT)
    ]
    # 3 bucket policies; per trained model 5 roles (execution, training, monitoring, schedule, guard) x 2;
    # per EKS cluster the control-plane and node roles (trust only: AWS managed policies);
    # per EKS variant its pod role (fraud-detector 1, car-damage-estimator 2) x 2;
    # car-damage-estimator's EKS training: pod role, state machine role, guard role x 2;
    # car-damage-estimator's monitoring of its EKS capture: monitoring and schedule roles x 2;
    # the platform's VPC flow-log role x 2; per EKS cluster the load balancer controller's role x 2;
    # demand-forecaster's batch scoring: transform and schedule roles x 2, and its failure inbox's queue policy;
    # fraud-detector's API: its role x 2; the platform's API Gateway logging role x 2; car-damage-estimator's
    # batch scoring on EKS: its pod role x 2
    assert len(documents) == 60
    for document in documents:
        for statement in document["Statement"]:
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            assert not (any("*" == a or a.endswith(":*") for a in actions if a) and "*" in resources), statement


ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_endpoint_policies_admit_only_this_account(sample_plans, env):
    """An interface endpoint's policy bounds what passes through it: any call, but only by this
    account's principals or on this account's resources."""
    endpoints = [r for r in _all(sample_plans[env]) if r["type"] == ENDPOINT and r["inputs"].get("policy")]
    assert len(endpoints) == 10
    for endpoint in endpoints:
        statements = json.loads(endpoint["inputs"]["policy"])["Statement"]
        assert [s["Condition"] for s in statements] == [
            {"StringEquals": {"aws:PrincipalAccount": "<aws.accountId>"}},
            {"StringEquals": {"aws:ResourceAccount": "<aws.accountId>"}},
        ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tags_on_every_taggable_resource(sample_plans, env):
    """Every AWS resource whose SDK class takes tags gets the standard tags from its stack's
    provider (`default_tags`), and its own tags never override them."""
    taggable_types = set()
    for stack in sample_plans[env]["stacks"]:
        (provider,) = [r for r in stack["resources"] if r["type"] == "pulumi:providers:aws"]
        standard = provider["inputs"]["defaultTags"]["tags"]
        assert standard["managed-by"] == "modelform" and standard["modelform:environment"] == env
        if stack["kind"] == "Model":
            model = stack["stack"].split(".")[0]
            assert standard["modelform:model"] == model and {"modelform:owner", "modelform:team"} <= set(standard)
        else:
            assert standard["modelform:platform"] == "acme-ml"
        for resource in stack["resources"]:
            if not resource["type"].startswith("aws:") or not taggable(resource["type"]):
                continue
            taggable_types.add(resource["type"])
            assert resource["options"]["provider"] == provider["urn"], resource["urn"]
            own = resource["inputs"].get("tags", {})
            assert not set(own) & set(standard), f"{resource['urn']} overrides standard tags: {own}"
    fraud = resources_of(sample_plans[env], f"fraud-detector.{env}", "pulumi:providers:aws")["aws"]
    assert fraud["inputs"]["defaultTags"]["tags"]["cost-center"] == "4411"  # the spec's own tags too
    # The SDK, not a hand list, decides; these are types that a hand list once missed.
    assert {"aws:sfn/stateMachine:StateMachine", "aws:cloudwatch/eventRule:EventRule"} <= taggable_types
    assert len(taggable_types) >= 20, sorted(taggable_types)


@pytest.mark.parametrize("env, protected", [("dev", False), ("staging", False), ("prod", True)])
def test_data_bearing_resources_are_protected_in_prod_only(sample_plans, env, protected):
    data = [
        r
        for r in _all(sample_plans[env])
        if r["type"] in ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:sagemaker/modelPackageGroup:ModelPackageGroup")
    ]
    assert len(data) == 7
    for resource in data:
        options = resource.get("options", {})
        assert (options.get("protect", False), options.get("retainOnDelete", False)) == (protected, protected), (
            resource["urn"]
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_mandatory_findings_for_the_samples(sample_plans, env):
    assert [f for f in sample_plans[env]["findings"] if f["enforcement"] == "mandatory"] == []
    assert [f for f in sample_plans[env]["findings"] if f["policy"] != "stated-exception"] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stated_exceptions_stand_next_to_every_resource_they_concern(sample_plans, env):
    stated = {}
    for finding in sample_plans[env]["findings"]:
        if finding["policy"] == "stated-exception":
            assert finding["enforcement"] == "advisory"
            stated.setdefault(finding["message"].split(":", 1)[0], []).append(finding["urn"].rsplit("::", 1)[1])
    assert sorted(stated["CKV_AWS_144"]) == ["acme-ml-access-logs", "acme-ml-artifacts", "acme-ml-capture"]
    assert (
        sorted(stated["CKV_AWS_117"])
        == sorted(stated["CKV_AWS_272"])
        == [
            "car-damage-estimator-retraining-guard",
            "demand-forecaster-retraining-guard",
            "fraud-detector-retraining-guard",
        ]
    )
    assert sorted(stated["CKV_K8S_43"]) == [
        "car-damage-estimator-batch-cronjob",
        "car-damage-estimator-default-current-deployment",
        "car-damage-estimator-default-shadow-deployment",
        "car-damage-estimator-training-state-machine",
        "fraud-detector-eu-enterprise-capacity-cronjob",
        "fraud-detector-eu-enterprise-current-deployment",
    ]
    # Read from each object's own skip annotations: the batch CronJob mounts no token, so it has no CKV_K8S_38.
    assert stated["CKV_K8S_38"] == ["fraud-detector-eu-enterprise-capacity-cronjob"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_log_groups_are_encrypted_and_kept_as_the_platform_says(sample_plans, env):
    groups = [r for r in _all(sample_plans[env]) if r["type"] == "aws:cloudwatch/logGroup:LogGroup"]
    # three guards, one state machine, the VPC's flow logs, three APIs' access logs (fraud-detector's two,
    # car-damage-estimator's), and in prod the web ACLs' logs of the two REST APIs
    assert len(groups) == (10 if env == "prod" else 8)
    for group in groups:
        assert group["inputs"]["kmsKeyId"] == "<acme-ml-key.arn>", group["urn"]
        assert group["inputs"]["retentionInDays"] == 365, group["urn"]


def test_the_key_lets_cloudwatch_logs_encrypt_only_this_accounts_log_groups(sample_plans):
    key = resources_of(sample_plans["prod"], "acme-ml.prod")["acme-ml-key"]["inputs"]
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    logs = statements["LogsEncryptThisAccountsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:<aws.accountId>:log-group:*"}
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_guards_trace_and_encrypt_their_environment(sample_plans, env):
    functions = [r for r in _all(sample_plans[env]) if r["type"] == "aws:lambda/function:Function"]
    assert len(functions) == 3
    for function in functions:
        assert function["inputs"]["tracingConfig"] == {"mode": "Active"}, function["urn"]
        assert function["inputs"]["kmsKeyArn"] == "<acme-ml-key.arn>", function["urn"]


def test_the_training_state_machine_logs_and_traces(sample_plans):
    machine = resources_of(sample_plans["prod"], "car-damage-estimator.prod")[
        "car-damage-estimator-training-state-machine"
    ]["inputs"]
    assert machine["loggingConfiguration"] == {
        "includeExecutionData": True,
        "level": "ALL",
        "logDestination": "<car-damage-estimator-training-logs.arn>:*",
    }
    assert machine["tracingConfiguration"] == {"enabled": True}


def test_the_vpcs_default_security_group_allows_nothing(sample_plans):
    (group,) = resources_of(
        sample_plans["prod"], "acme-ml.prod", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
    ).values()
    assert group["inputs"]["ingress"] == [] and group["inputs"]["egress"] == []
    assert group["inputs"]["vpcId"] == "<acme-ml-vpc.id>"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_buckets_keep_what_the_platform_says_and_send_their_events(sample_plans, env):
    resources = resources_of(sample_plans[env], f"acme-ml.{env}")
    expected = {"acme-ml-access-logs": 365, "acme-ml-capture": 365, "acme-ml-artifacts": None}
    for bucket, expire in expected.items():
        (rule,) = resources[f"{bucket}-lifecycle"]["inputs"]["rules"]
        assert rule["status"] == "Enabled" and rule["filter"] == {}
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 90}
        assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
        assert rule.get("expiration") == ({"days": expire} if expire else None), bucket
        assert resources[f"{bucket}-events"]["inputs"] == {"bucket": f"<{bucket}.id>", "eventbridge": True}


def test_vpc_flow_logs_go_to_an_encrypted_log_group(sample_plans):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    flow = resources["acme-ml-flow-log"]["inputs"]
    assert (flow["trafficType"], flow["logDestinationType"], flow["vpcId"]) == (
        "ALL",
        "cloud-watch-logs",
        "<acme-ml-vpc.id>",
    )
    assert flow["logDestination"] == "<acme-ml-flow-logs.arn>" and flow["iamRoleArn"] == "<acme-ml-flow-logs-role.arn>"
    assert resources["acme-ml-flow-logs"]["inputs"]["kmsKeyId"] == "<acme-ml-key.arn>"


def test_guard_failures_land_in_an_encrypted_dead_letter_queue(sample_plans):
    resources = resources_of(sample_plans["prod"], "fraud-detector.prod")
    queue = resources["fraud-detector-retraining-guard-dlq"]["inputs"]
    assert queue["kmsMasterKeyId"] == "<acme-ml-key.arn>" and queue["name"] == "fraud-detector-retraining-guard-dlq"
    guard = resources["fraud-detector-retraining-guard"]["inputs"]
    assert guard["deadLetterConfig"] == {"targetArn": "<fraud-detector-retraining-guard-dlq.arn>"}
