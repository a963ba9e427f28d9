"""How long `modelform validate` takes for many specs, against a baseline measured in the same run.

Generates N realistic model specs (different names, deployments, variants, scheduled windows,
environment overrides; every third one on EKS) plus the sample Platform spec, then times:

- baseline: `yaml.safe_load` of every file (the least any validator must do: read the YAML);
- modelform: `load_specs` (parse with positions, structure, overrides, rules, cross-file, typed).

Prints wall time, specs/s and the ratio to the baseline; `--json FILE` records the figures.
Issue #2 asks for < 3 s for 1,000 specs on the 2-core development machine.

    .venv/bin/python bench/validate_scale.py --n 1000 --json bench/results/validate_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelform.spec import load_specs  # noqa: E402

MODEL = """\
spec_version: 1
kind: Model
name: {name}
owner: team-{i}@acme.example
team: team-{team}
description: Generated model {i} for the validation benchmark.
tags: {{cost-center: "{cost}", data-classification: internal}}
model: {{framework: pytorch, framework_version: "2.6", code: model_code, entry_point: train.py}}
data:
  training: s3://acme-ml-data/{name}/train/
  validation: s3://acme-ml-data/{name}/validation/
  ground_truth: s3://acme-ml-data/{name}/labels/
  version: "2026-11-{day:02d}"
training:
  instance_type: ml.g5.2xlarge
  instance_count: {count}
  max_runtime: {hours}h
  spot: true
  hyperparameters: {{epochs: {epochs}, lr: 0.001, batch_size: 1024}}
  evaluation: {{metric: auc, min: 0.8}}
deployments:
  - name: default
    target: sagemaker
    instance_type: ml.g5.xlarge
    variants:
      - {{name: current, model_version: {version}, weight: 90}}
      - {{name: candidate, model_version: {next_version}, weight: 10}}
    autoscaling:
      min_instances: 2
      max_instances: {max_instances}
      target_invocations_per_instance: 300
      scheduled:
        - {{name: black-friday, start: "2026-11-27T00:00:00Z", end: "2026-11-29T08:00:00Z",
           min_instances: 10, max_instances: 80}}
        - {{name: cyber-monday, start: "2026-11-30T00:00:00Z", end: "2026-12-01T08:00:00Z",
           min_instances: 12, max_instances: 90}}
    rollout: {{strategy: canary, step_percent: 10, wait: 10m}}
    data_capture_percent: 20
{eks}monitoring:
  schedule: rate(1 hour)
  problem_type: binary_classification
  quality: [{{metric: auc, min: 0.8}}, {{metric: precision, min: 0.6}}]
  drift: {{method: psi, threshold: 0.2}}
  notify: [ml-oncall@acme.example]
retraining:
  triggers: [schedule, drift, quality]
  schedule: rate(7 days)
environments:
  dev:
    deployments:
      - name: default
        instance_type: ml.m5.large
        autoscaling: {{min_instances: 1, max_instances: 2, scheduled: []}}
    retraining: {{triggers: [schedule]}}
  prod: {{protect: true}}
"""

EKS = """\
  - name: eu
    target: eks
    cluster: serving-eu
    variants: [{{name: current, model_version: {version}}}]
    resources: {{cpu: "2", memory: 8Gi, gpu: 1}}
    autoscaling: {{min_replicas: 2, max_replicas: 20}}
"""


def generate(folder: Path, count: int) -> None:
    (folder / "specs").mkdir(parents=True)
    shutil.copytree(REPO / "model_code", folder / "model_code", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "specs" / "platform.yaml", folder / "specs" / "platform.yaml")
    for i in range(count):
        version = 1 + i % 40
        values = dict(
            name=f"model-{i:05d}",
            i=i,
            team=i % 17,
            cost=4000 + i % 300,
            day=1 + i % 28,
            count=(1, 2, 4)[i % 3],
            hours=2 + i % 6,
            epochs=5 + i % 20,
            version=version,
            next_version=version + 1,
            max_instances=10 + i % 50,
        )
        values["eks"] = EKS.format(**values) if i % 3 == 0 else ""
        (folder / "specs" / f"model-{i:05d}.yaml").write_text(MODEL.format(**values))


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def measure(count: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        generate(folder, count)
        files = sorted((folder / "specs").glob("*.yaml"))
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        baselines, runs = [], []
        os.environ["MODELFORM_SPEC_CACHE"] = "off"  # every spec validated: the cold figure
        for _ in range(repeat):  # alternated, so that a busy moment of the machine hits both alike
            baselines.append(timed(lambda: [yaml.load(f.read_text(), Loader=loader) for f in files])[0])
            seconds, specs = timed(lambda: load_specs([str(folder / "specs")], root=str(folder)))
            assert not specs.errors, specs.errors[:5]
            runs.append(seconds)
        baseline, best = min(baselines), min(runs)
        # With the spec cache (the default): one load fills it, the next ones read it.
        os.environ["MODELFORM_SPEC_CACHE"] = "on"
        load_specs([str(folder / "specs")], root=str(folder))
        warm = min(timed(lambda: load_specs([str(folder / "specs")], root=str(folder)))[0] for _ in range(repeat))
        del os.environ["MODELFORM_SPEC_CACHE"]
    return {
        "specs": count,
        "baseline_yaml_safe_load_s": round(baseline, 3),
        "modelform_validate_s": round(best, 3),
        "modelform_validate_runs_s": [round(r, 3) for r in runs],
        "baseline_runs_s": [round(r, 3) for r in baselines],
        "specs_per_s": round(count / best),
        "ratio_to_baseline": round(best / baseline, 1),
        "modelform_validate_cached_s": round(warm, 3),
        "cached_ratio_to_baseline": round(warm / baseline, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    rows = [measure(n, args.repeat) for n in args.n]
    print(f"{'specs':>6} {'yaml.safe_load':>15} {'modelform':>10} {'specs/s':>8} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['specs']:>6} {row['baseline_yaml_safe_load_s']:>14.3f}s {row['modelform_validate_s']:>9.3f}s "
            f"{row['specs_per_s']:>8} {row['ratio_to_baseline']:>5.1f}x"
        )
    if args.json:
        record = {
            "benchmark": "validate_scale",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "results": rows,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
