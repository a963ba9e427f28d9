"""`make scan`: independent scanners over a prod plan of specs/: checkov on the AWS resources (the
plan as a Terraform plan, `terraform_plan.py`) and on every Kubernetes object (the EKS endpoints'
manifests and the training Jobs the state machines run), and parliament, an IAM policy linter, on
every role's policy.

    python bench/scan.py --scanners .venv-scan/bin --json bench/results/scan.json

The scanners pin their own worlds, so they live in their own virtual environment (`make scan`
creates it). Placeholders of values that exist only after deployment are replaced by realistic
ones first (an account id, ARNs of the resource types they come from), so that the linters judge
the policies, not the placeholders. Each remaining finding must be a stated exception below, with
its reason; anything else fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from modelform.plan.exceptions import STATED_EXCEPTIONS  # noqa: E402

ACCOUNT = "111122223333"

#: The design decisions the plan states as findings, next to the resources they concern.
STATED = {e.check: e.reason for e in STATED_EXCEPTIONS}
#: checkov on the Kubernetes objects: none; the stated exceptions are skip annotations on the objects.
CHECKOV_EXCEPTIONS: dict[str, str] = {}
#: checkov on the AWS side (the plan as a Terraform plan): the stated exceptions, and the scanner's
#: limitation with a plan converted from Pulumi (it does not relate a bucket to its separate
#: aws_s3_bucket_* configuration resources; modelform's own plan policies and tests check those).
CHECKOV_AWS_EXCEPTIONS: dict[str, str] = {
    **{
        check: STATED[check]
        for check in (
            "CKV_AWS_144",
            "CKV_AWS_117",
            "CKV_AWS_272",
            "CKV_AWS_120",
            "CKV_AWS_225",
            "CKV2_AWS_51",
            "CKV2_AWS_20",
            "CKV_AWS_91",
        )
    },
    "CKV2_AWS_4": "each REST API stage's method settings log errors and publish metrics (tests/test_model_api.py); "
    "they name the stage by its name, a value known when planning, not by a reference checkov can follow",
    "CKV2_AWS_6": "every bucket has a full public access block (SecureBucket; the plan's s3-public-access-block "
    "policy and tests/test_security_posture.py check each): checkov does not relate the separate "
    "aws_s3_bucket_* resources of a plan converted from Pulumi to their bucket",
    "CKV_AWS_145": "every bucket but the access-log bucket is SSE-KMS with the platform key (SecureBucket; the "
    "s3-kms-encryption policy checks it); same scanner limitation as CKV2_AWS_6",
    "CKV_AWS_19": "every bucket has default encryption (SSE-KMS, SSE-S3 for the access-log bucket, which S3 log "
    "delivery requires); same scanner limitation as CKV2_AWS_6",
    "CKV_AWS_18": "the data buckets log to the access-log bucket (SecureBucket); the access-log bucket does not "
    "log itself; same scanner limitation as CKV2_AWS_6",
    "CKV_AWS_21": "every bucket is versioned (SecureBucket); same scanner limitation as CKV2_AWS_6",
    "CKV2_AWS_61": "every bucket has a lifecycle configuration (expiry per the Platform spec's retention, noncurrent "
    "versions, incomplete uploads); same scanner limitation as CKV2_AWS_6",
    "CKV2_AWS_62": "every bucket sends its events to EventBridge (aws_s3_bucket_notification); same scanner "
    "limitation as CKV2_AWS_6",
    "CKV2_AWS_5": "the model and training security groups are attached by SageMaker models, processing and "
    "training jobs through their VPC configuration, which a Terraform plan does not show as an attachment",
}
#: (parliament issue, policy statement Sid) -> why it does not apply.
PARLIAMENT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("RESOURCE_MISMATCH", "StartOnlyThisStateMachine"): "states:ListExecutions is authorized on the state machine "
    "(resource type stateMachine in the AWS service authorization reference; the guard lists its own state "
    "machine's executions); parliament's action database knows only the mapRun resource type for it",
    ("RESOURCE_MISMATCH", "CreateSecurityGroupsInThePlatformVpc"): "ec2:CreateSecurityGroup is authorized on the "
    "new security group and on the VPC it is created in (both resource types in the AWS service authorization "
    "reference); parliament's action database knows only the security group",
    ("UNKNOWN_CONDITION_FOR_ACTION", "TagNewBalancers"): "elasticloadbalancing:CreateAction is the condition key "
    "AWS documents for tagging on create (AddTags during CreateLoadBalancer/CreateTargetGroup), as AWS's published "
    "load balancer controller policy uses it; parliament's database does not know it",
}


def plan(environment: str) -> dict:
    from modelform.plan import plan_environment
    from modelform.spec import load_specs

    os.chdir(REPO)
    return plan_environment(load_specs(["specs"]).raise_for_errors(), environment, progress=False)


def deployed(document: dict) -> str:
    """The plan's text with placeholders replaced by values of the shape AWS gives them."""
    text = json.dumps(document)
    region = next(
        r["inputs"]["region"] for s in document["stacks"] for r in s["resources"] if r["type"] == "pulumi:providers:aws"
    )
    by_name = {r["name"]: r for s in document["stacks"] for r in s["resources"] if r["type"].startswith("aws:")}

    def value(match: re.Match) -> str:
        name, prop = match["name"], match["prop"]
        resource = by_name.get(name)
        kind = resource["type"] if resource else ""
        inputs = resource["inputs"] if resource else {}
        if prop == "bucket" or (prop == "id" and kind == "aws:s3/bucket:Bucket"):
            return f"{name}-4f1c2d0"
        if prop == "arn" and kind == "aws:kms/key:Key":
            return f"arn:aws:kms:{region}:{ACCOUNT}:key/0f4a8c2e-5d1b-4e39-9a77-3c2d1e0b6a51"
        if prop == "arn" and kind == "aws:sagemaker/pipeline:Pipeline":
            return f"arn:aws:sagemaker:{region}:{ACCOUNT}:pipeline/{inputs['pipelineName']}"
        if prop == "arn" and kind == "aws:sfn/stateMachine:StateMachine":
            return f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{inputs['name']}"
        if prop == "arn" and kind == "aws:cloudwatch/logGroup:LogGroup":
            return f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{inputs['name']}"
        if prop == "arn" and kind == "aws:sqs/queue:Queue":
            return f"arn:aws:sqs:{region}:{ACCOUNT}:{inputs['name']}"
        if prop == "arn" and kind == "aws:iam/role:Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{inputs['name']}"
        return match[0]

    text = text.replace("<aws.accountId>", ACCOUNT)
    result = json.loads(re.sub(r"<(?P<name>[\w-]+)\.(?P<prop>\w+)>", value, text))
    for stack in result["stacks"]:  # autonamed buckets get the name AWS would show
        for resource in stack["resources"]:
            if resource["type"] == "aws:s3/bucket:Bucket":
                resource["inputs"].setdefault("bucket", f"{resource['name']}-4f1c2d0")
    return json.dumps(result)


def kubernetes_objects(document: dict) -> list[dict]:
    objects = [
        r["inputs"]
        for s in document["stacks"]
        for r in s["resources"]
        if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]
    ]
    for stack in document["stacks"]:  # the Jobs that EKS training state machines run
        for resource in stack["resources"]:
            if resource["type"] == "aws:sfn/stateMachine:StateMachine":
                for state in json.loads(resource["inputs"]["definition"])["States"].values():
                    job = state.get("Parameters", {}).get("Job")
                    if job:
                        # Step Functions fills in `<field>.$` values; checkov sees the field itself.
                        text = re.sub(r'"(\w+)\.\$"', r'"\1"', json.dumps(job)).replace("$$.Execution.Name", "x")
                        objects.append(json.loads(text))
    return objects


def stated_for_resources(document: dict) -> set[tuple[str, str]]:
    """(check, resource name in the Terraform plan) of the exceptions the plan states for single
    resources (its `stated-exception` findings): accepted for those resources only."""
    from terraform_plan import address_name

    stated = set()
    for finding in document["findings"]:
        if finding["policy"] == "stated-exception":
            stack = finding["urn"].split("::", 1)[0].removeprefix("urn:pulumi:")
            stated.add((finding["message"].split(":", 1)[0], address_name(stack, finding["urn"].rsplit("::", 1)[1])))
    return stated


def run_checkov(
    checkov: str,
    framework: str,
    files: dict[str, str],
    exceptions: dict[str, str],
    per_resource: frozenset[tuple[str, str]] = frozenset(),
) -> dict:
    """checkov over `files` (name -> text) with one framework; its findings against `exceptions`
    (by check) and `per_resource` ((check, resource name) pairs)."""
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            Path(folder, name).write_text(text)
        command = [checkov, "--framework", framework, "--output", "json", "--skip-download"]
        command += ["-d", folder] if framework == "kubernetes" else ["-f", *(str(Path(folder, n)) for n in files)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    report = json.loads(result.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]

    def excepted(check: dict) -> bool:
        resource = check["resource"].split(".", 1)[-1]
        return check["check_id"] in exceptions or (check["check_id"], resource) in per_resource

    return {
        "files": len(files),
        "passed": sum(len(r.get("results", {}).get("passed_checks", [])) for r in reports),
        "skipped_by_annotation": sum(len(r.get("results", {}).get("skipped_checks", [])) for r in reports),
        "failed": len(failed),
        "excepted": sum(1 for c in failed if excepted(c)),
        "unexplained": sorted(
            {f"{c['check_id']} {c['check_name']} ({c['resource']})" for c in failed if not excepted(c)}
        ),
    }


def run_parliament(python: str, policies: dict[str, str]) -> dict:
    """parliament runs in the scanners' environment; it reads {urn: policy} and prints findings."""
    program = (
        "import json, sys\n"
        "from parliament import analyze_policy_string\n"
        "found = []\n"
        "for urn, text in json.load(sys.stdin).items():\n"
        "    for f in analyze_policy_string(text).findings:\n"
        "        found.append({'urn': urn, 'issue': f.issue, 'detail': str(f.detail)})\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run(
        [python, "-c", program], input=json.dumps(policies), capture_output=True, text=True, check=True
    )
    findings = json.loads(result.stdout)
    statements = {urn: {s.get("Sid", ""): s for s in json.loads(text)["Statement"]} for urn, text in policies.items()}

    def sid_of(finding: dict) -> str:
        """The statement a finding is about: one whose actions it names (quoted, or after "for
        action"), and, when it names a condition key, the one that carries that key."""
        detail = finding["detail"]
        named = [
            (sid, statement)
            for sid, statement in statements[finding["urn"]].items()
            if any(f"'{a}'" in detail or f"for action {a}" in detail for a in statement.get("Action", []))
        ]
        for sid, statement in named:
            keys = {key for operator in (statement.get("Condition") or {}).values() for key in operator}
            if any(key in detail for key in keys):
                return sid
        return named[0][0] if named else ""

    unexplained = [f for f in findings if (f["issue"], sid_of(f)) not in PARLIAMENT_EXCEPTIONS]
    return {
        "policies": len(policies),
        "findings": len(findings),
        "excepted": len(findings) - len(unexplained),
        "unexplained": [f"{f['issue']} in {f['urn'].rsplit('::', 1)[1]}: {f['detail'][:160]}" for f in unexplained],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scanners", required=True, help="bin/ folder of the scanners' virtual environment")
    parser.add_argument("--env", default="prod")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()
    from terraform_plan import to_terraform_plan

    bin_dir = Path(args.scanners).resolve()
    planned = plan(args.env)
    document = json.loads(deployed(planned))
    manifests = {
        f"{i:03d}-{m['kind']}-{m['metadata']['name']}.yaml": yaml.safe_dump(m)
        for i, m in enumerate(kubernetes_objects(document))
    }
    policies = {
        r["urn"]: r["inputs"]["policy"]
        for s in document["stacks"]
        for r in s["resources"]
        if r["type"] == "aws:iam/rolePolicy:RolePolicy"
    }
    summary = {
        "env": args.env,
        "checkov_aws": run_checkov(
            str(bin_dir / "checkov"),
            "terraform_plan",
            {"plan.json": json.dumps(to_terraform_plan(planned, document))},
            CHECKOV_AWS_EXCEPTIONS,
            frozenset(stated_for_resources(document)),
        ),
        "checkov_kubernetes": run_checkov(str(bin_dir / "checkov"), "kubernetes", manifests, CHECKOV_EXCEPTIONS),
        "parliament": run_parliament(str(bin_dir / "python"), policies),
        "exceptions": {
            "checkov_aws": CHECKOV_AWS_EXCEPTIONS,
            "checkov_kubernetes": CHECKOV_EXCEPTIONS,
            "parliament": {f"{issue} {sid}": why for (issue, sid), why in PARLIAMENT_EXCEPTIONS.items()},
        },
    }
    text = json.dumps(summary, indent=2) + "\n"
    print(text, end="")
    if args.json:
        Path(args.json).write_text(text)
    unexplained = [
        finding
        for part in ("checkov_aws", "checkov_kubernetes", "parliament")
        for finding in summary[part]["unexplained"]
    ]
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
