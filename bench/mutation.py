"""Do the tests pin what matters? Apply a curated list of one-line mutations, one at a time, to the
rules, policies, IAM, naming, capacity, the readiness check, the diff, the guard, the monitoring
job and the serving container, run the tests that cover that module after each, and report how
many mutations the tests kill (a failing run) and which survive.

Snapshots are not refreshed, and the mutated line is restored after each run (also on Ctrl-C).
A survivor is either a missing assertion (add one) or an equivalent change (say so here).

    .venv/bin/python bench/mutation.py --json bench/results/mutation.json    # make mutation
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = str(Path(sys.executable))


@dataclass(frozen=True)
class Mutation:
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str  # the property the mutation breaks


MUTATIONS = (
    Mutation(
        "modules/modelform/spec/rules.py",
        "if low is not None and high is not None and low > high:",
        "if low is not None and high is not None and low >= high:",
        ("tests/spec",),
        "equal min and max are valid bounds",
    ),
    Mutation(
        "modules/modelform/spec/rules.py",
        "        if window.start >= window.end:",
        "        if window.start > window.end:",
        ("tests/spec",),
        "a zero-length window is refused",
    ),
    Mutation(
        "modules/modelform/plan/policies.py",
        'not (r.options.get("protect") and r.options.get("retainOnDelete"))',
        'not (r.options.get("protect") or r.options.get("retainOnDelete"))',
        ("tests/test_security_posture.py", "tests/plan"),
        "prod data needs protect *and* retain-on-delete",
    ),
    Mutation(
        "modules/modelform/iam.py",
        '{"Bool": {"kms:GrantIsForAWSResource": "true"}}',
        '{"Bool": {"kms:GrantIsForAWSResource": "false"}}',
        ("tests/test_access_matrix.py", "tests/test_platform_and_iam.py"),
        "key grants only for AWS services",
    ),
    Mutation(
        "modules/modelform/iam.py",
        '            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},',
        "            {},",
        ("tests/test_access_matrix.py",),
        "a pipeline role passes itself only to SageMaker",
    ),
    Mutation(
        "modules/modelform/naming.py",
        "    if len(name) <= limit:",
        "    if len(name) <= limit + 1:",
        ("tests/test_aws_limits.py", "tests/test_naming.py"),
        "names fit AWS's limits",
    ),
    Mutation(
        "modules/modelform/capacity.py",
        "return max(1, math.ceil(floor * variant.weight / total - 1e-9))",
        "return max(1, math.floor(floor * variant.weight / total))",
        ("tests/test_sagemaker_endpoint.py",),
        "floors shared by weight are rounded up",
    ),
    Mutation(
        "modules/modelform/eks_endpoint.py",
        '"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}',
        '"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}',
        ("tests/test_eks.py",),
        "a rolling update never takes serving capacity down",
    ),
    Mutation(
        "modules/modelform/eks_endpoint.py",
        '        key_actions.append("kms:GenerateDataKey")  # SSE-KMS PutObject: a data key per object',
        "        pass",
        ("tests/test_access_matrix.py",),
        "EKS data capture can encrypt what it writes",
    ),
    Mutation(
        "modules/modelform/eks_cluster.py",
        '"endpoint_public_access": bool(public_cidrs)}',
        '"endpoint_public_access": True}',
        ("tests/test_cluster_readiness.py",),
        "cluster APIs stay private without an allowlist",
    ),
    Mutation(
        "modules/modelform/monitoring.py",
        '                treat_missing_data="missing",',
        '                treat_missing_data="notBreaching",',
        ("tests/test_monitoring_and_retraining.py",),
        "missing monitoring data is never silently OK",
    ),
    Mutation(
        "modules/modelform/egress.py",
        '    "serving-pod": ("sagemaker.api", "s3", "sts"),',
        '    "serving-pod": ("s3", "sts"),',
        ("tests/plan/test_readiness.py", "tests/test_cluster_readiness.py"),
        "serving pods can reach the SageMaker API",
    ),
    Mutation(
        "modules/modelform/plan/readiness.py",
        'if item.kind == "HorizontalPodAutoscaler" and "metrics-server" not in addons:',
        'if item.kind == "HorizontalPodAutoscaler" and "metrics-server" in ():',
        ("tests/plan/test_readiness.py",),
        "an HPA without metrics-server is reported",
    ),
    Mutation(
        "modules/modelform/plan/replacements.py",
        '    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ALL,',
        '    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": NEVER,',
        ("tests/plan/test_diff.py",),
        "a new endpoint configuration is a replacement",
    ),
    Mutation(
        "modules/modelform/plan/diff.py",
        'change.mode = "-+" if delete_first else "+-"',
        'change.mode = "+-" if delete_first else "-+"',
        ("tests/plan/test_diff.py",),
        "create-before-delete unless deleteBeforeReplace",
    ),
    Mutation(
        "modules/modelform/plan/scope.py",
        'PROGRAM_PATHS = ("modules/", "stacks/", "pyproject.toml", "requirements.lock")',
        'PROGRAM_PATHS = ("stacks/", "pyproject.toml", "requirements.lock")',
        ("tests/plan/test_diff.py",),
        "a change to the program plans every stack",
    ),
    Mutation(
        "modules/modelform/deploy.py",
        "    if not models or with_platform or platform_only:",
        "    if True:",
        ("tests/test_deploy.py",),
        "`up --model X` leaves the platform stack alone",
    ),
    Mutation(
        "model_code/retraining_guard.py",
        "        if now - last_seconds < cooldown:",
        "        if now - last_seconds <= cooldown:",
        ("tests/model_code/test_retraining_guard.py",),
        "a retraining exactly at the end of the cooldown may start",
    ),
    Mutation(
        "model_code/retraining_guard.py",
        '        if state != "ALARM":',
        '        if state not in ("ALARM", "OK"):',
        ("tests/model_code/test_retraining_guard.py",),
        "only an alarm entering ALARM retrains",
    ),
    Mutation(
        "model_code/monitoring/job.py",
        "MIN_ROWS = 30",
        "MIN_ROWS = 3",
        ("tests/model_code/test_monitoring.py",),
        "no drift value from a handful of rows",
    ),
    Mutation(
        "model_code/monitoring/job.py",
        "MAX_BAD_RECORD_SHARE = 0.1",
        "MAX_BAD_RECORD_SHARE = 0.5",
        ("tests/model_code/test_monitoring.py",),
        "a run fails above 10 % unreadable records",
    ),
    Mutation(
        "model_code/serve/codec.py",
        "        if not math.isfinite(parsed):",
        "        if False:",
        ("tests/model_code/test_serve_codec.py",),
        "non-finite inputs are refused",
    ),
    Mutation(
        "model_code/serve/batcher.py",
        "return busy is None or time.monotonic() - busy < self.stall_seconds",
        "return True",
        ("tests/model_code/test_serve_app.py",),
        "a stalled model worker turns /ping 503",
    ),
    Mutation(
        "model_code/serve/app.py",
        "        if refusal.status in (408, 413):",
        "        if refusal.status in (408,):",
        ("tests/model_code/test_serve_app.py",),
        "a body left unread closes the connection",
    ),
)


def run_tests(targets: tuple[str, ...]) -> bool:
    """True when the tests fail (the mutation is killed)."""
    existing = [t for t in targets if (REPO / t.split("::")[0]).exists()]
    result = subprocess.run(
        [PY, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *existing],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return result.returncode != 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for index, mutation in enumerate(MUTATIONS, 1):
        path = REPO / mutation.file
        original = path.read_text()
        if original.count(mutation.old) != 1:
            raise SystemExit(f"{mutation.file}: the mutated line must occur exactly once: {mutation.old!r}")
        started = time.perf_counter()
        try:
            path.write_text(original.replace(mutation.old, mutation.new))
            killed = run_tests(mutation.tests)
        finally:
            path.write_text(original)
        rows.append({"file": mutation.file, "breaks": mutation.why, "killed": killed})
        print(
            f"[{index}/{len(MUTATIONS)}] {'killed  ' if killed else 'SURVIVED'} {mutation.file}: {mutation.why} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    killed = sum(r["killed"] for r in rows)
    rate = round(100 * killed / len(rows), 1)
    print(f"kill rate: {killed}/{len(rows)} = {rate} %")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"benchmark": "mutation", "kill_rate_percent": rate, "mutations": rows}, indent=2) + "\n"
        )
    return 0 if rate >= 90 else 1


if __name__ == "__main__":
    sys.exit(main())
