"""Fleet speed: what a pull request's diff, a full plan and a validation cost at 1,000 models,
each against a baseline measured in the same run.

- diff: `modelform diff --base HEAD` of a one-spec change (a variant weight), as CI runs it (a
  fresh process), in a 1,000-model repository against the same change in a 3-model repository.
  The cost must grow with the change, not with the fleet: target <= 3x, and <= 2 s. Measured in
  the three states of modelform's caches (`.modelform/cache/`: validated specs and stack plans)
  a run can meet:
  - cold: no cache at all (a fresh clone, or `MODELFORM_CACHE=off`);
  - ci: the cache a plan of the base revision left (what a pull request's job restores from the
    main branch's; warmed here by planning the stacks this diff reads, whose entries are the
    ones a whole plan of `main` would have made): the base side is read back, the changed
    stack runs;
  - repeat: the cache the diff itself left (a second run, e.g. a pushed fix-up of the comment).
- plan: `modelform plan` of every stack of 1,000 models with every core, cold (validation
  included, with the workers' fork server started before it, as the command does), against a bare
  Pulumi program registering as many resources (`aws.s3.Bucket`, fresh mock runtime per stack)
  spread over the same number of processes: target <= 1.1x. Each round measures each twice, in
  the order modelform, bare, bare, modelform, and compares the best of each; the figure is the
  median round (`--plan-rounds`, 2 by default). The bare program is measured twice over: as
  Pulumi runs it by default, and like with like, under the two runtime settings modelform's
  offline plan uses (no stack trace per registration, fewer garbage collections), run between
  the other two bare runs. A third baseline replays the plan's own resources (same types, same
  inputs) through the bare SDK under those settings: the SDK's floor for exactly this work. The
  same plan again, from the cache it left, is reported beside them.
- validate: `load_specs` of 1,000 specs against reading them with PyYAML's C loader alone, every
  spec validated, and again from the spec cache (nothing changed since the last load): target < 1 s.

The specs are those of `validate_scale.py` (a SageMaker deployment with two variants and two
scheduled windows, every third model also on EKS). Prints each figure as it is measured;
`--json FILE` records them all.

    .venv/bin/python bench/fleet_speed.py --json bench/results/fleet_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import validate_scale  # noqa: E402
from plan_scale import child_bare, echo_mocks  # noqa: E402

MODELFORM = [sys.executable, "-m", "modelform"]
#: The model whose spec the diff changes.
CHANGED = "model-00001"
CACHE_STATES = ("cold", "ci", "repeat")
PARTS = ("validate", "diff", "plan")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def say(text: str) -> None:
    print(text, flush=True)


def git(folder: Path, *args: str) -> None:
    command = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args]
    subprocess.run(command, cwd=folder, check=True, capture_output=True)


def repository_with_one_change(folder: Path, models: int) -> Path:
    """A repository of `models` generated models, committed, with the base revision's cache saved
    aside (returned), and then one spec changed in the working tree."""
    validate_scale.generate(folder, models)
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-qm", "fleet")
    warm = MODELFORM + ["plan", "--env", "dev", "--model", CHANGED, "--format", "json", "--out", os.devnull]
    subprocess.run(warm, cwd=folder, check=True, capture_output=True)
    saved = folder.parent / f"{folder.name}-base-cache"
    shutil.copytree(folder / ".modelform", saved)
    spec = folder / "specs" / f"{CHANGED}.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("weight: 90}", "weight: 80}").replace("weight: 10}", "weight: 20}"))
    return saved


def timed_command(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")
    return seconds


def timed_diff(folder: Path, cache: str, base_cache: Path) -> float:
    """One diff from a fresh process, with the cache in state `cache` (see the module's text)."""
    if cache in ("cold", "ci"):
        shutil.rmtree(folder / ".modelform", ignore_errors=True)
    if cache == "ci":
        shutil.copytree(base_cache, folder / ".modelform")
    # The answer goes outside the repository, as CI writes it: a file in the working tree would be
    # a change of its own.
    out = folder.parent / f"{folder.name}-diff.json"
    command = MODELFORM + ["diff", "--base", "HEAD", "--env", "dev", "--format", "json", "--out", str(out)]
    return timed_command(command, folder)


def measure_diff(models: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as temporary:
        small, large = Path(temporary) / "small", Path(temporary) / "large"
        saved = {small: repository_with_one_change(small, 3), large: repository_with_one_change(large, models)}
        runs: dict[str, dict[Path, list[float]]] = {state: {small: [], large: []} for state in CACHE_STATES}
        for _ in range(repeat):  # alternated, so that a busy moment of the machine hits both alike
            for folder in (small, large):
                for state in CACHE_STATES:  # in this order: "repeat" follows the "ci" run's cache
                    runs[state][folder].append(timed_diff(folder, state, saved[folder]))
        changed = json.loads((large.parent / "large-diff.json").read_text())["summary"]
    figures: dict = {"models": models, "change": "one spec: variant weights 90/10 -> 80/20", "diff_summary": changed}
    for state in CACHE_STATES:
        small_s, large_s = min(runs[state][small]), min(runs[state][large])
        figures[state] = {
            "baseline_3_models_s": round(small_s, 2),
            "fleet_s": round(large_s, 2),
            "ratio": round(large_s / small_s, 2),
            "runs_3_models_s": [round(r, 2) for r in runs[state][small]],
            "runs_fleet_s": [round(r, 2) for r in runs[state][large]],
        }
    return figures


def child_plan(folder: str, jobs: int, out: str) -> dict:
    from modelform.plan import parallel, plan_environment, plan_json
    from modelform.spec import load_specs

    started = time.perf_counter()
    # What `modelform plan` does: the workers' fork server starts before the specs are validated.
    parallel.start_early(len(os.listdir(os.path.join(folder, "specs"))), jobs)
    specs = load_specs([os.path.join(folder, "specs")], root=folder)
    assert not specs.errors, specs.errors[:3]
    plan = plan_environment(specs, "dev", progress=False, jobs=jobs)
    seconds = time.perf_counter() - started
    Path(out).write_text(plan_json(plan))
    return {"seconds": seconds, "stacks": [len(s["resources"]) for s in plan["stacks"]]}


def child_bare_tuned(counts: list[int]) -> dict:
    """The bare program under the runtime settings modelform's offline plan runs its stacks with."""
    from modelform.plan.engine import offline_runtime

    with offline_runtime():
        return child_bare(counts)


def child_replay(plan_file: str, part: int, parts: int) -> dict:
    """The plan's own resources (types, names, inputs) registered through the bare SDK, under the
    offline plan's runtime settings: every `parts`-th stack from `part`, each under a fresh mock
    runtime."""
    import pulumi

    from modelform.plan.engine import offline_runtime

    stacks = json.loads(Path(plan_file).read_text())["stacks"][part::parts]
    started = time.perf_counter()
    for stack in stacks:

        def program(stack=stack):
            for resource in stack["resources"]:
                pulumi.CustomResource(resource["type"], resource["urn"].rsplit("::", 1)[-1], dict(resource["inputs"]))

        pulumi.runtime.set_mocks(echo_mocks(), project="replay", stack=stack["stack"], preview=False)
        with offline_runtime():
            pulumi.runtime.test(program)()
    return {"seconds": time.perf_counter() - started}


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"child {args[0]} failed: {result.stderr.strip()[-800:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def in_parallel(jobs: list[tuple[str, ...]]) -> float:
    """Wall time of running these children at once (one process each)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(lambda arguments: run_child(*arguments), jobs))
    return time.perf_counter() - started


def measure_plan(models: int, processes: int, rounds: int) -> dict:
    """modelform's cold plan and the bare program, each twice per round, in the order A B B A: a
    shared host's speed can drift by a third over minutes, and a drift then slows both alike. Each
    round compares the best of each; the figure is the median round (and the best run of each over
    all rounds is reported beside it)."""
    with tempfile.TemporaryDirectory() as temporary:
        validate_scale.generate(Path(temporary), models)
        plan_file = os.path.join(temporary, "plan.json")
        ours_runs, bare_runs, tuned_runs = [], [], []

        def ours(out: str) -> dict:
            shutil.rmtree(os.path.join(temporary, ".modelform"), ignore_errors=True)  # cold
            say(f"  modelform plan of {models} models with {processes} processes ...")
            started = time.perf_counter()
            result = run_child("plan", temporary, str(processes), out)
            ours_runs.append(time.perf_counter() - started)
            return result

        def bare(counts: list[int], kind: str = "bare") -> None:
            settings = " (offline plan's runtime settings)" if kind == "bare-tuned" else ""
            say(
                f"  bare Pulumi{settings}, {sum(counts)} buckets in {len(counts)} stacks over {processes} processes ..."
            )
            shares = [json.dumps(counts[i::processes]) for i in range(processes)]
            (tuned_runs if kind == "bare-tuned" else bare_runs).append(in_parallel([(kind, s) for s in shares]))

        counts = ours(plan_file)["stacks"]
        say("  the same plan again, from the cache it left ...")
        started = time.perf_counter()
        again = run_child("plan", temporary, str(processes), plan_file + ".again")
        cached_wall = time.perf_counter() - started
        if Path(plan_file + ".again").read_bytes() != Path(plan_file).read_bytes():
            raise SystemExit("the plan read from the cache differs from the plan computed")
        assert again["stacks"] == counts
        for round_ in range(rounds):
            if round_:
                ours(plan_file + ".second")
            bare(counts)
            bare(counts, "bare-tuned")
            bare(counts, "bare-tuned")
            bare(counts)
            ours(plan_file + ".second")
            best = min(ours_runs[-2:])
            say(
                f"  round {round_ + 1}: {best / min(bare_runs[-2:]):.2f}x, "
                f"like with like {best / min(tuned_runs[-2:]):.2f}x"
            )
        say("  bare Pulumi replaying the plan's own resources ...")
        replay_wall = in_parallel([("replay", plan_file, str(i), str(processes)) for i in range(processes)])
    resources = sum(counts)
    ours_wall, bare_wall, tuned_wall = min(ours_runs), min(bare_runs), min(tuned_runs)

    def rounds_against(baseline: list[float]) -> list[float]:
        return [min(ours_runs[2 * i : 2 * i + 2]) / min(baseline[2 * i : 2 * i + 2]) for i in range(rounds)]

    by_round, tuned_by_round = rounds_against(bare_runs), rounds_against(tuned_runs)
    return {
        "models": models,
        "stacks": len(counts),
        "resources": resources,
        "processes": processes,
        "rounds": rounds,
        "modelform_s": round(ours_wall, 1),
        "modelform_runs_s": [round(r, 1) for r in ours_runs],
        "bare_buckets_s": round(bare_wall, 1),
        "bare_buckets_runs_s": [round(r, 1) for r in bare_runs],
        "ratio_by_round": [round(r, 2) for r in by_round],
        "ratio_to_bare_buckets": round(statistics.median(by_round), 2),
        "ratio_best_to_best": round(ours_wall / bare_wall, 2),
        "bare_buckets_tuned_s": round(tuned_wall, 1),
        "bare_buckets_tuned_runs_s": [round(r, 1) for r in tuned_runs],
        "ratio_to_tuned_by_round": [round(r, 2) for r in tuned_by_round],
        "ratio_to_bare_buckets_tuned": round(statistics.median(tuned_by_round), 2),
        "bare_replay_s": round(replay_wall, 1),
        "ratio_to_bare_replay": round(ours_wall / replay_wall, 2),
        "modelform_ms_per_resource_per_process": round(1000 * ours_wall * processes / resources, 2),
        "modelform_from_cache_s": round(cached_wall, 1),
        "from_cache_ratio_to_bare_buckets": round(cached_wall / bare_wall, 3),
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, arguments = sys.argv[2], sys.argv[3:]
        if kind == "plan":
            result = child_plan(arguments[0], int(arguments[1]), arguments[2])
        elif kind == "bare":
            result = child_bare(json.loads(arguments[0]))
        elif kind == "bare-tuned":
            result = child_bare_tuned(json.loads(arguments[0]))
        else:
            result = child_replay(arguments[0], int(arguments[1]), int(arguments[2]))
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--plan-models", type=int, default=1000, help="models in the full plan (0: skip it)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plan-rounds", type=int, default=2, help="A B B A rounds of the full plan")
    parser.add_argument("--json", help="write the figures to this file (parts not measured keep their figures)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    args = parser.parse_args()
    record: dict = {
        "benchmark": "fleet_speed",
        "machine": f"{platform.machine()}, {cores()} cores, Python {platform.python_version()}",
    }

    if args.json and Path(args.json).exists():
        record = {**json.loads(Path(args.json).read_text()), **record}
    if "validate" in args.parts:
        say(f"validate: {args.models} specs, modelform against PyYAML's C loader alone")
        record["validate"] = validate_scale.measure(args.models, args.repeat)
        v = record["validate"]
        say(
            f"  yaml C loader {v['baseline_yaml_safe_load_s']:.2f}s, modelform {v['modelform_validate_s']:.2f}s "
            f"({v['ratio_to_baseline']:.1f}x), from the spec cache {v['modelform_validate_cached_s']:.2f}s "
            f"({v['cached_ratio_to_baseline']:.2f}x); target < 1 s"
        )

    if "diff" in args.parts:
        say(f"diff: one changed spec, {args.models} models against 3")
        record["diff"] = d = measure_diff(args.models, args.repeat)
        for state in CACHE_STATES:
            f = d[state]
            say(
                f"  {state:>6}: 3 models {f['baseline_3_models_s']:.2f}s, {args.models} models {f['fleet_s']:.2f}s "
                f"({f['ratio']:.2f}x; targets <= 3x, <= 2 s)"
            )

    if "plan" in args.parts and args.plan_models:
        say(f"plan: every stack of {args.plan_models} models, every core")
        record["plan"] = p = measure_plan(args.plan_models, cores(), args.plan_rounds)
        say(
            f"  modelform {p['modelform_s']:.0f}s, bare buckets {p['bare_buckets_s']:.0f}s "
            f"(median round {p['ratio_to_bare_buckets']:.2f}x; target <= 1.1x), like with like "
            f"{p['bare_buckets_tuned_s']:.0f}s ({p['ratio_to_bare_buckets_tuned']:.2f}x), "
            f"bare replay {p['bare_replay_s']:.0f}s "
            f"({p['ratio_to_bare_replay']:.2f}x); again from the cache {p['modelform_from_cache_s']:.1f}s "
            f"({p['from_cache_ratio_to_bare_buckets']:.3f}x)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
