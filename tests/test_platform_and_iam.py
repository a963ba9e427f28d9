"""Pure pieces of the platform and IAM components."""

from __future__ import annotations

import json

import pytest

from modules.iam import model_execution_policy, sagemaker_trust_policy
from modules.platform import platform_args, private_subnet_blocks, zone_names
from modules.secure_bucket import tls_only_policy
from tests.conftest import resources_of


@pytest.mark.parametrize(
    "cidr, zones, blocks",
    [
        ("10.40.0.0/16", 3, ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]),
        ("10.40.0.0/16", 2, ["10.40.0.0/18", "10.40.64.0/18"]),
        ("192.168.0.0/24", 6, ["192.168.0.0/28", "192.168.0.16/28", "192.168.0.32/28", "192.168.0.48/28", "192.168.0.64/28", "192.168.0.80/28"]),
    ],
)
def test_private_subnets_leave_half_the_vpc_free(cidr, zones, blocks):
    assert private_subnet_blocks(cidr, zones) == blocks


def test_zone_names():
    assert zone_names("eu-west-1", 3) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_platform_args_from_the_sample(sample_specs):
    args = platform_args(sample_specs.platform("prod"))
    assert (args.region, args.vpc_cidr, args.availability_zones, args.protect) == ("us-east-1", "10.40.0.0/16", 3, True)
    assert args.tags["modelform:platform"] == "acme-ml" and args.tags["cost-center"] == "4400"
    assert platform_args(sample_specs.platform("dev")).availability_zones == 2


def test_platform_network_in_the_plan(sample_plans):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    assert [resources[f"acme-ml-private-{z}"]["inputs"]["cidrBlock"] for z in "abc"] == ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]
    assert all(resources[f"acme-ml-private-{z}"]["inputs"]["mapPublicIpOnLaunch"] is False for z in "abc")
    group = resources["acme-ml-models"]["inputs"]
    assert "ingress" not in group
    assert group["egress"] == [{"description": "HTTPS to S3 (gateway endpoint)", "fromPort": 443, "prefixListIds": ["<acme-ml-s3-endpoint.prefixListId>"], "protocol": "tcp", "toPort": 443}]
    assert resources["acme-ml-key"]["inputs"]["enableKeyRotation"] is True
    assert resources["aws"]["inputs"]["region"] == "us-east-1"


def _statements(document: str) -> dict:
    return {s["Sid"]: s for s in json.loads(document)["Statement"]}


def test_execution_policy_is_scoped_to_the_model():
    statements = _statements(model_execution_policy(
        model="fraud", region="eu-west-1", account_id="123456789012", artifact_bucket="art", capture_bucket="cap",
        kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k", vpc_id="vpc-1"))
    assert statements["ReadOwnArtifacts"]["Resource"] == ["arn:aws:s3:::art/fraud/*"]
    assert statements["ListOwnArtifacts"]["Condition"] == {"StringLike": {"s3:prefix": ["fraud/*"]}}
    assert statements["WriteOwnDataCapture"]["Resource"] == ["arn:aws:s3:::cap/fraud/*"]
    assert statements["ReadOwnRegistry"]["Resource"] == [
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraud/*",
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/fraud",
    ]
    assert statements["AttachToPlatformVpc"]["Condition"] == {"ArnEquals": {"ec2:Vpc": "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-1"}}
    star = [sid for sid, s in statements.items() if "*" in s["Resource"]]
    assert star == ["EcrTokenIsIssuedOnlyForStar", "DescribeNetworkIsReadOnlyOnStar"]
    assert all(not a.endswith("*") for sid in star for a in statements[sid]["Action"])
    assert "ReadPinnedArtifacts" not in statements


def test_trust_policy_guards_against_confused_deputies():
    (statement,) = json.loads(sagemaker_trust_policy("123456789012"))["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_tls_only_policy():
    (statement,) = json.loads(tls_only_policy("arn:aws:s3:::b"))["Statement"]
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"] and statement["Effect"] == "Deny"
