"""How the offline plan scales with the number of models, against a bare Pulumi program.

For N generated model specs (N = 10, 100, 1000 by default; the generator of
`validate_scale.py`: a SageMaker deployment with two variants and two scheduled windows, every
third model also on EKS) this measures, each in its own process so peak memory is its own:

- modelform: `modelform plan` of every stack of `dev` (validation included), as CI runs it;
- baseline: a bare Pulumi program that registers the same number of resources directly
  (`aws.s3.Bucket` with a tags input), in the same number of stacks, each under a fresh mock
  runtime: the SDK's own floor for that much work.

Prints wall time, peak RSS and the ratios; `--json FILE` records them.

    .venv/bin/python bench/plan_scale.py --n 10 100 1000 --json bench/results/plan_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def child_modelform(folder: str) -> dict:
    from modelform.plan import plan_environment
    from modelform.spec import load_specs

    started = time.perf_counter()
    specs = load_specs([os.path.join(folder, "specs")], root=folder)
    assert not specs.errors, specs.errors[:3]
    plan = plan_environment(specs, "dev", progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "stacks": [len(s["resources"]) for s in plan["stacks"]],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def echo_mocks():
    """Mocks that answer every registration with its inputs, as the modelform engine's do."""
    import pulumi

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args):
            return {}

    return Mocks()


def child_bare(counts: list[int]) -> dict:
    """`counts[i]` bucket registrations in stack i, each stack under a fresh mock runtime."""
    import pulumi
    import pulumi_aws as aws

    started = time.perf_counter()
    for index, count in enumerate(counts):

        def program(count=count, index=index):
            for number in range(count):
                aws.s3.Bucket(f"bucket-{number}", tags={"stack": str(index), "number": str(number)})

        pulumi.runtime.set_mocks(echo_mocks(), project="bare", stack=f"stack-{index}", preview=False)
        pulumi.runtime.test(program)()
    return {
        "seconds": time.perf_counter() - started,
        "stacks": counts,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(count: int) -> dict:
    import validate_scale

    with tempfile.TemporaryDirectory() as temporary:
        validate_scale.generate(Path(temporary), count)
        ours = _run_child("modelform", temporary)
    bare = _run_child("bare", json.dumps(ours["stacks"]))
    resources = sum(ours["stacks"])
    return {
        "models": count,
        "stacks": len(ours["stacks"]),
        "resources": resources,
        "modelform_s": round(ours["seconds"], 2),
        "modelform_ms_per_resource": round(1000 * ours["seconds"] / resources, 2),
        "modelform_peak_rss_mb": round(ours["peak_rss_mb"]),
        "bare_pulumi_s": round(bare["seconds"], 2),
        "bare_pulumi_peak_rss_mb": round(bare["peak_rss_mb"]),
        "time_ratio": round(ours["seconds"] / bare["seconds"], 2),
        "rss_ratio": round(ours["peak_rss_mb"] / bare["peak_rss_mb"], 2),
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, argument = sys.argv[2], sys.argv[3]
        result = child_modelform(argument) if kind == "modelform" else child_bare(json.loads(argument))
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    rows = []
    print(
        f"{'models':>6} {'stacks':>6} {'resources':>9} {'modelform':>10} {'ms/res':>7} {'RSS MB':>7} "
        f"{'bare':>8} {'RSS MB':>7} {'time x':>7} {'RSS x':>6}",
        flush=True,
    )
    for count in args.n:
        row = measure(count)
        rows.append(row)
        print(
            f"{row['models']:>6} {row['stacks']:>6} {row['resources']:>9} {row['modelform_s']:>9.2f}s "
            f"{row['modelform_ms_per_resource']:>7.2f} {row['modelform_peak_rss_mb']:>7} {row['bare_pulumi_s']:>7.2f}s "
            f"{row['bare_pulumi_peak_rss_mb']:>7} {row['time_ratio']:>7.2f} {row['rss_ratio']:>6.2f}",
            flush=True,
        )
    if args.json:
        record = {
            "benchmark": "plan_scale",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "baseline": "bare Pulumi program: the same number of aws.s3.Bucket registrations per stack, fresh "
            "mock runtime per stack",
            "results": rows,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
