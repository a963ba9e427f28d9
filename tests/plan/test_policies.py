"""The plan's policy checks catch what a component forgot (given a broken plan, then a finding)."""

from __future__ import annotations

import json

from modelform.plan.stack_plan import PlannedResource
from modelform.plan.policies import check_plan, referenced_name
from modelform.plan.stack_plan import StackPlan


def _r(type_: str, name: str, inputs: dict, **options) -> PlannedResource:
    return PlannedResource(f"urn:{name}", type_, name, None, inputs, options)


def _bucket(name: str, algorithm: str | None = "aws:kms", block: bool = True) -> list[PlannedResource]:
    resources = [_r("aws:s3/bucket:Bucket", name, {})]
    if algorithm:
        resources.append(
            _r(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                f"{name}-sse",
                {
                    "bucket": f"<{name}.id>",
                    "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}],
                },
            )
        )
    if block:
        resources.append(
            _r(
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                f"{name}-pab",
                {
                    "bucket": f"<{name}.id>",
                    "blockPublicAcls": True,
                    "blockPublicPolicy": True,
                    "ignorePublicAcls": True,
                    "restrictPublicBuckets": True,
                },
            )
        )
    return resources


def _findings(resources, env="dev"):
    """The checks' findings (stated exceptions, which follow the resource type alone, are tested apart)."""
    findings = check_plan([StackPlan("s.dev", "Model", "x", resources, {})], [], env)
    return [(f.policy, f.urn) for f in findings if f.policy != "stated-exception"]


def test_a_sound_bucket_has_no_findings():
    assert _findings(_bucket("b")) == []


def test_bucket_without_kms_or_public_access_block():
    assert _findings(_bucket("b", algorithm="AES256", block=False)) == [
        ("s3-kms-encryption", "urn:b"),
        ("s3-public-access-block", "urn:b"),
    ]
    assert _findings(_bucket("b", algorithm=None)) == [("s3-kms-encryption", "urn:b")]


def test_sse_s3_is_accepted_only_for_access_log_destinations():
    logging = _r("aws:s3/bucketLogging:BucketLogging", "x-logs", {"bucket": "<x.id>", "targetBucket": "<logs.bucket>"})
    assert _findings(_bucket("logs", algorithm="AES256") + [logging]) == []


def test_star_on_star_iam():
    document = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    role_policy = _r("aws:iam/rolePolicy:RolePolicy", "p", {"policy": json.dumps(document)})
    assert _findings([role_policy]) == [("iam-no-star-on-star", "urn:p")]
    document["Statement"][0]["Effect"] = "Deny"
    assert _findings([_r("aws:iam/rolePolicy:RolePolicy", "p", {"policy": json.dumps(document)})]) == []


def test_sagemaker_encryption_and_isolation():
    config = _r(
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "c", {"dataCaptureConfig": {"enableCapture": True}}
    )
    model = _r("aws:sagemaker/model:Model", "m", {"enableNetworkIsolation": False})
    assert _findings([config, model]) == [
        ("sagemaker-kms", "urn:c"),
        ("sagemaker-kms", "urn:c"),
        ("sagemaker-network-isolation", "urn:m"),
    ]


def test_prod_data_must_be_protected():
    key = _r("aws:kms/key:Key", "k", {})
    assert _findings([key], env="prod") == [("prod-data-protected", "urn:k")]
    assert _findings([_r("aws:kms/key:Key", "k", {}, protect=True, retainOnDelete=True)], env="prod") == []
    assert _findings([key], env="dev") == []


def test_referenced_name():
    assert referenced_name("<acme-ml-artifacts.id>") == "acme-ml-artifacts"
    assert referenced_name("s3://<a.bucket>/x") is None and referenced_name(3) is None


def test_a_stated_exception_is_a_finding_next_to_each_resource_it_concerns():
    findings = check_plan([StackPlan("s.dev", "Model", "x", _bucket("b"), {})], [], "dev")
    (stated,) = [f for f in findings if f.policy == "stated-exception"]
    assert (stated.enforcement, stated.urn) == ("advisory", "urn:b")
    assert stated.message.startswith("CKV_AWS_144: no cross-region replication")
