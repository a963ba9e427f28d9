"""The platform component's pure pieces, and the one IAM builder every role's policy comes from."""

from __future__ import annotations

import json

import pytest

from modelform import iam
from modelform.execution_role import execution_statements, pinned_artifacts
from modelform.context import Resolved
from modelform.plan.engine import ZONE_PLACEHOLDERS
from modelform.platform import private_subnet_blocks
from modelform.secure_bucket import tls_only_policy
from modelform.spec import Rollout, RolloutStrategy, SageMakerDeployment, Target, Variant
from modelform.spec.parsers import parse_s3_uri
from tests.conftest import resources_of

WHERE = Resolved(
    region="eu-west-1",
    account_id="123456789012",
    artifact_bucket="art",
    capture_bucket="cap",
    kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
    vpc_id="vpc-1",
    subnet_ids=("s-1",),
    security_group_ids=("g-1",),
)


@pytest.mark.parametrize(
    "cidr, zones, blocks",
    [
        ("10.40.0.0/16", 3, ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]),
        ("10.40.0.0/16", 2, ["10.40.0.0/18", "10.40.64.0/18"]),
        (
            "192.168.0.0/24",
            6,
            [
                "192.168.0.0/28",
                "192.168.0.16/28",
                "192.168.0.32/28",
                "192.168.0.48/28",
                "192.168.0.64/28",
                "192.168.0.80/28",
            ],
        ),
    ],
)
def test_private_subnets_leave_half_the_vpc_free(cidr, zones, blocks):
    assert private_subnet_blocks(cidr, zones) == blocks


def test_subnets_go_into_the_zones_aws_lists_for_the_region(sample_plans):
    """Zones come from `aws.get_availability_zones` (placeholders in the plan), never invented."""
    resources = resources_of(sample_plans["prod"], "acme-ml.prod", "aws:ec2/subnet:Subnet")
    assert [resources[f"acme-ml-private-{i}"]["inputs"]["availabilityZone"] for i in (1, 2, 3)] == ZONE_PLACEHOLDERS[:3]
    assert len(resources_of(sample_plans["dev"], "acme-ml.dev", "aws:ec2/subnet:Subnet")) == 2


def test_platform_network_in_the_plan(sample_plans):
    resources = resources_of(sample_plans["prod"], "acme-ml.prod")
    subnets = [resources[f"acme-ml-private-{i}"]["inputs"] for i in (1, 2, 3)]
    assert [s["cidrBlock"] for s in subnets] == ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets)
    group = resources["acme-ml-models"]["inputs"]
    assert "ingress" not in group
    assert group["egress"] == [
        {
            "description": "HTTPS to S3 (gateway endpoint)",
            "fromPort": 443,
            "prefixListIds": ["<acme-ml-s3-endpoint.prefixListId>"],
            "protocol": "tcp",
            "toPort": 443,
        },
        {
            "description": "HTTPS to the AWS service endpoints",
            "fromPort": 443,
            "protocol": "tcp",
            "securityGroups": ["<acme-ml-egress-endpoints.id>"],
            "toPort": 443,
        },
    ]
    assert resources["acme-ml-key"]["inputs"]["enableKeyRotation"] is True
    assert resources["aws"]["inputs"]["region"] == "us-east-1"


def _statements(document: str) -> dict:
    return {s["Sid"]: s for s in json.loads(document)["Statement"]}


def test_execution_policy_is_scoped_to_the_model():
    statements = _statements(iam.policy_document(execution_statements("fraud", WHERE)))
    assert statements["ReadOwnArtifacts"]["Resource"] == ["arn:aws:s3:::art/fraud/*"]
    assert statements["ListOwnArtifacts"]["Condition"] == {"StringLike": {"s3:prefix": ["fraud/*"]}}
    assert statements["WriteOwnDataCapture"]["Resource"] == ["arn:aws:s3:::cap/fraud/*"]
    assert statements["ReadOwnRegistry"]["Resource"] == [
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/fraud",
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraud/*",
    ]
    assert statements["AttachToPlatformVpc"]["Condition"] == {
        "ArnEquals": {"ec2:Vpc": "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-1"}
    }
    star = sorted(sid for sid, s in statements.items() if "*" in s["Resource"])
    assert star == ["DescribeNetworkIsReadOnlyOnStar", "EcrTokenIsIssuedOnlyForStar"]
    assert all(not a.endswith("*") for sid in star for a in statements[sid]["Action"])
    assert "ReadPinnedArtifacts" not in statements


def test_key_grants_only_for_aws_services():
    statements = _statements(iam.policy_document(execution_statements("fraud", WHERE)))
    assert "kms:CreateGrant" not in statements["UsePlatformKey"]["Action"]
    assert statements["GrantKeyOnlyToAwsServices"] == {
        "Sid": "GrantKeyOnlyToAwsServices",
        "Effect": "Allow",
        "Action": ["kms:CreateGrant"],
        "Resource": [WHERE.kms_key_arn],
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }


def test_pinned_artifacts_are_readable_one_object_each():
    artifact = parse_s3_uri("s3://acme-models/fraud/v7/model.tar.gz")
    rollout = Rollout(RolloutStrategy.ALL_AT_ONCE, None, 0)
    deployments = tuple(
        SageMakerDeployment(name, Target.SAGEMAKER, "ml.m5.large", 1, variants, None, rollout, 0)
        for name, variants in (
            ("a", (Variant("pinned", None, artifact, 1.0), Variant("current", 3, None, 1.0))),
            ("b", (Variant("pinned", None, artifact, 1.0),)),
        )
    )
    assert pinned_artifacts(deployments) == (artifact,)
    statements = _statements(iam.policy_document(execution_statements("fraud", WHERE, pinned_artifacts(deployments))))
    assert statements["ReadPinnedArtifacts"]["Resource"] == ["arn:aws:s3:::acme-models/fraud/v7/model.tar.gz"]


def test_service_trust_guards_against_confused_deputies():
    (statement,) = json.loads(iam.service_trust("sagemaker.amazonaws.com", "123456789012"))["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    (bare,) = json.loads(iam.service_trust("ec2.amazonaws.com"))["Statement"]
    assert "Condition" not in bare and bare["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_service_account_trust_names_one_service_account():
    (statement,) = json.loads(
        iam.service_account_trust(
            "arn:aws:iam::1:oidc-provider/oidc.eks/id/X", "https://oidc.eks/id/X", "models", "fraud-default-current"
        )
    )["Statement"]
    assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::1:oidc-provider/oidc.eks/id/X"}
    assert statement["Condition"] == {
        "StringEquals": {
            "oidc.eks/id/X:sub": "system:serviceaccount:models:fraud-default-current",
            "oidc.eks/id/X:aud": "sts.amazonaws.com",
        }
    }


def test_policy_documents_are_sorted_merged_and_deduplicated():
    text = iam.policy_document(
        [
            iam.allow("B", ["s3:PutObject", "s3:GetObject", "s3:GetObject"], ["arn:aws:s3:::x/*"]),
            iam.allow("A", ["kms:Decrypt"], ["k2", "k1"]),
            iam.allow("A", ["kms:Decrypt"], ["k1", "k3"]),
        ]
    )
    document = json.loads(text)
    assert document["Version"] == "2012-10-17"
    assert [s["Sid"] for s in document["Statement"]] == ["A", "B"]
    assert document["Statement"][0]["Resource"] == ["k1", "k2", "k3"]
    assert document["Statement"][1]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert text == json.dumps(document, sort_keys=True)


def test_policy_builder_refuses_conflicting_or_empty_statements():
    with pytest.raises(ValueError, match="two different statements named A"):
        iam.policy_document([iam.allow("A", ["kms:Decrypt"], ["k"]), iam.allow("A", ["kms:Encrypt"], ["k"])])
    with pytest.raises(ValueError, match="statement A has no actions"):
        iam.allow("A", [], ["k"])
    with pytest.raises(ValueError, match="statement A has no resources"):
        iam.allow("A", ["kms:Decrypt"], [])


def test_typed_locations_become_arns_without_string_slicing():
    assert iam.location_objects_arn(parse_s3_uri("s3://data/fraud/train/")) == "arn:aws:s3:::data/fraud/train/*"
    assert iam.location_objects_arn(parse_s3_uri("s3://data/")) == "arn:aws:s3:::data/*"
    listing = iam.list_prefixes("List", [("data", "fraud/train/"), ("data", "fraud/labels/"), ("other", "")])
    assert [json.loads(iam.policy_document([s]))["Statement"][0]["Condition"] for s in listing] == [
        {"StringLike": {"s3:prefix": ["fraud/labels/*", "fraud/train/*"]}},
        {"StringLike": {"s3:prefix": ["*"]}},
    ]


def test_tls_only_policy():
    (statement,) = json.loads(tls_only_policy("arn:aws:s3:::b"))["Statement"]
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"] and statement["Effect"] == "Deny"
    assert statement["Principal"] == {"AWS": "*"} and statement["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_no_component_writes_policy_json_by_hand():
    """Every policy document comes from the builder: no component imports json to write one."""
    from pathlib import Path

    import modelform

    package = Path(modelform.__file__).parent
    offenders = []
    for path in package.glob("*.py"):
        text = path.read_text()
        if path.name != "iam.py" and ('"Statement"' in text or "'Statement'" in text or '"2012-10-17"' in text):
            offenders.append(path.name)
    assert offenders == []


# --- accounts per environment ------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, account", [("dev", "111122223333"), ("staging", "111122223333"), ("prod", "444455556666")]
)
def test_every_stack_deploys_into_its_environments_account(sample_plans, env, account):
    plan = sample_plans[env]
    assert {s["stack"]: s.get("account") for s in plan["stacks"]} == {s["stack"]: account for s in plan["stacks"]}
    for stack in plan["stacks"]:
        (provider,) = [r for r in stack["resources"] if r["type"] == "pulumi:providers:aws"]
        assert provider["inputs"]["allowedAccountIds"] == [account]  # other credentials fail before any change
        roles = provider["inputs"].get("assumeRoles")
        if env == "prod":
            assert roles == [{"roleArn": "arn:aws:iam::444455556666:role/acme-ml-deploy", "sessionName": "modelform"}]
        else:
            assert roles is None


def test_kubernetes_sees_the_identity_aws_sees(sample_plans):
    """The kubeconfig's token is asked for as the role the AWS provider assumes."""
    import json as json_module

    from modelform.eks_cluster import kubeconfig

    config = json_module.loads(kubeconfig("c", "https://x", "ca", "us-east-1", "arn:aws:iam::444455556666:role/r"))
    assert config["users"][0]["user"]["exec"]["args"][-2:] == ["--role-arn", "arn:aws:iam::444455556666:role/r"]
    plain = json_module.loads(kubeconfig("c", "https://x", "ca", "us-east-1"))
    assert "--role-arn" not in plain["users"][0]["user"]["exec"]["args"]


@pytest.mark.parametrize(
    "account, message",
    [
        (
            '{id: "111122223333", assume_role: "arn:aws:iam::999999999999:role/deploy"}',
            "account.assume_role: the role is in account 999999999999, not in account 111122223333 where the "
            "stacks deploy",
        ),
        ("{id: 111122223333}", "account.id: must be a string (got integer 111122223333); quote it: '111122223333'"),
        ('{id: "1234"}', "account.id: '1234' must be a 12-digit AWS account id, quoted (e.g. '111122223333')"),
    ],
)
def test_account_rules(repo, account, message):
    from tests.conftest import DEPLOYMENT, HEADER, PLATFORM, problems_of

    platform = PLATFORM.replace("region: us-east-1\n", f"region: us-east-1\naccount: {account}\n")
    problems = problems_of(repo, HEADER + DEPLOYMENT, platform=platform)
    assert [p.split(": ", 1)[1] for p in problems] == [message]


def test_the_deploy_role_lives_in_the_environments_account(repo):
    from tests.conftest import DEPLOYMENT, HEADER, PLATFORM, problems_of

    platform = PLATFORM.replace(
        "region: us-east-1\n",
        'region: us-east-1\naccount: {id: "111122223333"}\ndeploy_role_arn: arn:aws:iam::444455556666:role/deploy\n',
    )
    assert [p.split(": ", 1)[1] for p in problems_of(repo, HEADER + DEPLOYMENT, platform=platform)] == [
        "deploy_role_arn: the deploy role is in account 444455556666, but the clusters are in account "
        "111122223333: an EKS access entry takes a role of the cluster's account"
    ]
