"""`make scan`: independent scanners over a prod plan of specs/: checkov on every Kubernetes
object (the EKS endpoints' manifests and the training Jobs the state machines run) and
parliament, an IAM policy linter, on every role's policy.

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

ACCOUNT = "111122223333"

#: checkov check id -> why it does not apply to what modelform declares.
CHECKOV_EXCEPTIONS: dict[str, str] = {
    "CKV_K8S_43": "images are referenced by tag, not digest: the serving image's tag is its code version (a content "
    "hash) in the ECR repository modelform/serve (init containers use the same image), and the AWS training "
    "image is pinned to a framework release; digests are unknown at plan time, before CI builds the image",
}
#: (parliament issue, policy statement Sid) -> why it does not apply.
PARLIAMENT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("RESOURCE_MISMATCH", "StartOnlyThisStateMachine"): "states:ListExecutions is authorized on the state machine "
    "(resource type stateMachine in the AWS service authorization reference; the guard lists its own state "
    "machine's executions); parliament's action database knows only the mapRun resource type for it",
}


def plan(environment: str) -> dict:
    from modelform.plan import plan_environment
    from modelform.spec import load_specs

    os.chdir(REPO)
    return plan_environment(load_specs(["specs"]).raise_for_errors(), environment, progress=False)


def deployed(document: dict) -> str:
    """The plan's text with placeholders replaced by values of the shape AWS gives them."""
    text = json.dumps(document)
    region = next(r["inputs"]["region"] for s in document["stacks"] for r in s["resources"]
                  if r["type"] == "pulumi:providers:aws")
    by_name = {r["name"]: r for s in document["stacks"] for r in s["resources"]}

    def value(match: re.Match) -> str:
        name, prop = match["name"], match["prop"]
        resource = by_name.get(name)
        kind = resource["type"] if resource else ""
        inputs = resource["inputs"] if resource else {}
        if prop == "bucket":
            return f"{name}-4f1c2d0"
        if prop == "arn" and kind == "aws:kms/key:Key":
            return f"arn:aws:kms:{region}:{ACCOUNT}:key/0f4a8c2e-5d1b-4e39-9a77-3c2d1e0b6a51"
        if prop == "arn" and kind == "aws:sagemaker/pipeline:Pipeline":
            return f"arn:aws:sagemaker:{region}:{ACCOUNT}:pipeline/{inputs['pipelineName']}"
        if prop == "arn" and kind == "aws:sfn/stateMachine:StateMachine":
            return f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{inputs['name']}"
        if prop == "arn" and kind == "aws:iam/role:Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{inputs['name']}"
        return match[0]

    text = text.replace("<aws.accountId>", ACCOUNT)
    return re.sub(r"<(?P<name>[\w-]+)\.(?P<prop>\w+)>", value, text)


def kubernetes_objects(document: dict) -> list[dict]:
    objects = [r["inputs"] for s in document["stacks"] for r in s["resources"]
               if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]]
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


def run_checkov(checkov: str, objects: list[dict]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        for index, manifest in enumerate(objects):
            Path(folder, f"{index:03d}-{manifest['kind']}-{manifest['metadata']['name']}.yaml").write_text(
                yaml.safe_dump(manifest))
        result = subprocess.run([checkov, "-d", folder, "--framework", "kubernetes", "--output", "json",
                                 "--skip-download"], capture_output=True, text=True)
    report = json.loads(result.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    return {
        "objects": len(objects),
        "passed": sum(len(r.get("results", {}).get("passed_checks", [])) for r in reports),
        "failed": len(failed),
        "excepted": sum(1 for c in failed if c["check_id"] in CHECKOV_EXCEPTIONS),
        "unexplained": sorted({f"{c['check_id']} {c['check_name']} ({c['resource']})" for c in failed
                               if c["check_id"] not in CHECKOV_EXCEPTIONS}),
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
    result = subprocess.run([python, "-c", program], input=json.dumps(policies), capture_output=True, text=True,
                            check=True)
    findings = json.loads(result.stdout)
    statements = {urn: {s.get("Sid", ""): s for s in json.loads(text)["Statement"]} for urn, text in policies.items()}

    def sid_of(finding: dict) -> str:
        for sid, statement in statements[finding["urn"]].items():
            if any(str(v) in finding["detail"] for v in statement.get("Action", []) + statement.get("Resource", [])):
                return sid
        return ""

    unexplained = [f for f in findings if (f["issue"], sid_of(f)) not in PARLIAMENT_EXCEPTIONS]
    return {"policies": len(policies), "findings": len(findings), "excepted": len(findings) - len(unexplained),
            "unexplained": [f"{f['issue']} in {f['urn'].rsplit('::', 1)[1]}: {f['detail'][:160]}"
                            for f in unexplained]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scanners", required=True, help="bin/ folder of the scanners' virtual environment")
    parser.add_argument("--env", default="prod")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()
    bin_dir = Path(args.scanners).resolve()
    document = json.loads(deployed(plan(args.env)))
    policies = {r["urn"]: r["inputs"]["policy"] for s in document["stacks"] for r in s["resources"]
                if r["type"] == "aws:iam/rolePolicy:RolePolicy"}
    summary = {
        "env": args.env,
        "checkov_kubernetes": run_checkov(str(bin_dir / "checkov"), kubernetes_objects(document)),
        "parliament": run_parliament(str(bin_dir / "python"), policies),
        "exceptions": {"checkov": CHECKOV_EXCEPTIONS,
                       "parliament": {f"{issue} {sid}": why for (issue, sid), why in PARLIAMENT_EXCEPTIONS.items()}},
    }
    text = json.dumps(summary, indent=2) + "\n"
    print(text, end="")
    if args.json:
        Path(args.json).write_text(text)
    unexplained = summary["checkov_kubernetes"]["unexplained"] + summary["parliament"]["unexplained"]
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
