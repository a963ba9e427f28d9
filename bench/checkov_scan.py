"""An independent scanner over the Kubernetes objects modelform declares: checkov (from PyPI,
offline), run on the manifests of every EKS endpoint of a plan.

    python bench/checkov_scan.py --checkov /path/to/checkov --env prod --json bench/results/checkov.json

checkov is not a project dependency (it is large and pins its own world): install it in a
separate virtual environment and pass its path. Each check checkov fails must be listed in
`EXCEPTIONS` with the reason it does not apply; anything else fails this script.
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

#: checkov check id -> why it does not apply to what modelform declares.
EXCEPTIONS: dict[str, str] = {
    "CKV_K8S_43": "images are referenced by tag, not digest: the serving image's tag is its code version (a content "
    "hash) in the ECR repository modelform/serve (init containers use the same image), and the AWS "
    "training image is pinned to a framework release; digests are unknown at plan time, before CI builds the image",
}


def manifests(environment: str) -> list[dict]:
    from modelform.plan import plan_environment
    from modelform.spec import load_specs

    os.chdir(REPO)
    plan = plan_environment(load_specs(["specs"]).raise_for_errors(), environment, progress=False)
    objects = [
        r["inputs"]
        for s in plan["stacks"]
        for r in s["resources"]
        if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]
    ]
    for stack in plan["stacks"]:  # the Jobs that EKS training state machines run
        for resource in stack["resources"]:
            if resource["type"] == "aws:sfn/stateMachine:StateMachine":
                for state in json.loads(resource["inputs"]["definition"])["States"].values():
                    job = state.get("Parameters", {}).get("Job")
                    if job:
                        # Step Functions fills in `<field>.$` values; checkov sees the field itself.
                        text = re.sub(r'"(\w+)\.\$"', r'"\1"', json.dumps(job)).replace("$$.Execution.Name", "x")
                        objects.append(json.loads(text))
    return objects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", required=True, help="path to the checkov executable")
    parser.add_argument("--env", default="prod")
    parser.add_argument("--json")
    args = parser.parse_args()
    objects = manifests(args.env)
    with tempfile.TemporaryDirectory() as folder:
        for index, manifest in enumerate(objects):
            Path(folder, f"{index:03d}-{manifest['kind']}-{manifest['metadata']['name']}.yaml").write_text(
                yaml.safe_dump(manifest)
            )
        result = subprocess.run(
            [args.checkov, "-d", folder, "--framework", "kubernetes", "--output", "json", "--skip-download"],
            capture_output=True,
            text=True,
        )
    report = json.loads(result.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    passed = sum(len(r.get("results", {}).get("passed_checks", [])) for r in reports)
    unexplained = sorted({(c["check_id"], c["check_name"]) for c in failed if c["check_id"] not in EXCEPTIONS})
    summary = {
        "scanner": "checkov",
        "env": args.env,
        "objects": len(objects),
        "passed_checks": passed,
        "failed_checks": len(failed),
        "exceptions": EXCEPTIONS,
        "unexplained": [{"check": check, "name": name} for check, name in unexplained],
        "failed_by_resource": sorted({f"{c['check_id']} {c['resource']}" for c in failed}),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "failed_by_resource"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
