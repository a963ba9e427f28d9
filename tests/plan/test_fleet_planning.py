"""Planning fleets: every core plans stacks, a diff reads only what changed, and neither changes
a byte of the answer (how fast is measured by bench/fleet_speed.py; timings are no test)."""

from __future__ import annotations

import gc
import importlib
import json
import shutil
import subprocess
import sys

import pytest

import modelform.plan.parallel as parallel
import modelform.plan.stack_programs as stack_programs
from modelform import programs
from modelform.cli import main
from modelform.plan import plan_environment, plan_json
from modelform.plan.stack_cache import StackCache
from modelform.plan.git_specs import spec_texts_at
from modelform.plan.scope import changed_files, changed_spec_files
from modelform.spec import load_specs
from tests.conftest import REPO, SPECS


def test_stacks_planned_in_worker_processes_give_the_same_plan(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_THRESHOLD", 1)  # the sample fleet is small
    specs = load_specs([str(SPECS)], root=str(REPO))
    assert parallel.worth_parallel(len(specs.models("prod")), 2) == 2
    in_workers = plan_json(plan_environment(specs, "prod", progress=False, jobs=2))
    in_process = plan_json(plan_environment(specs, "prod", progress=False, jobs=1))
    assert in_workers == in_process


#: The provider packages a fresh process has loaded (not merely registered for lazy loading) after
#: running the statement given, as JSON.
LOADED_PROVIDERS = """
import json, sys, types
{statement}
print(json.dumps(sorted(
    name for name, module in list(sys.modules.items())
    if name.startswith(("pulumi_aws.", "pulumi_kubernetes.")) and type(module) is types.ModuleType
    and hasattr(module, "__path__")
)))
"""


def loaded_providers(statement: str) -> list[str]:
    script = LOADED_PROVIDERS.format(statement=statement)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_workers_preload_exactly_the_provider_modules_the_programs_use():
    planning = (
        "from modelform.spec import load_specs\n"
        "from modelform.plan import plan_environment\n"
        f"specs = load_specs([{str(SPECS)!r}], root={str(REPO)!r})\n"
        "for env in specs.environments: plan_environment(specs, env, progress=False, jobs=1)"
    )
    used = loaded_providers(planning)
    assert "pulumi_aws.sagemaker" in used and "pulumi_kubernetes.apps.v1" in used
    # Nothing a stack needs is left for a worker to import, and nothing is imported for nothing.
    assert loaded_providers("from modelform.programs import import_providers; import_providers()") == used
    assert len(programs.PROVIDER_MODULES) == len(set(programs.PROVIDER_MODULES))


def test_the_fork_servers_preload_imports():
    # The fork server ignores a preload module that fails to import (every worker would then
    # import the providers itself, silently): it must import.
    (preload,) = parallel._PRELOAD
    module = importlib.import_module(preload)
    gc.unfreeze()  # what importing it froze for a fork server's workers: this process collects as before
    assert module.model_entries is stack_programs.model_entries
    assert module.platform_entry is stack_programs.platform_entry


def test_a_fleet_planned_in_workers_keeps_the_provider_sdks_out_of_the_planning_process():
    # The platform stack is planned by a worker too, so this process's core is the workers'.
    planning = (
        "import modelform.plan.parallel as parallel\n"
        "from modelform.spec import load_specs\n"
        "from modelform.plan import plan_environment\n"
        "parallel.PARALLEL_THRESHOLD = 1\n"
        f"specs = load_specs([{str(SPECS)!r}], root={str(REPO)!r})\n"
        "plan = plan_environment(specs, 'prod', progress=False, jobs=2)\n"
        "assert len(plan['stacks']) == 1 + len(specs.models('prod'))"
    )
    assert loaded_providers(planning) == []


def test_workers_write_the_stack_cache(tmp_path, monkeypatch):
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(REPO / "model_code", tmp_path / "model_code", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELFORM_CACHE", "on")
    monkeypatch.setattr(parallel, "PARALLEL_THRESHOLD", 1)
    specs = load_specs([str(tmp_path / "specs")], root=str(tmp_path))
    in_workers = plan_json(plan_environment(specs, "prod", progress=False, cache=StackCache(specs.root), jobs=2))
    entries = list((tmp_path / ".modelform" / "cache" / "stacks").rglob("*"))
    stacks = 1 + len(specs.models("prod"))
    assert len([e for e in entries if e.is_file()]) == stacks
    runs: list[str] = []
    monkeypatch.setattr(stack_programs, "run_program", lambda project, stack, *rest: runs.append(stack))
    cache = StackCache(specs.root)  # a new process's: what the workers wrote, read back from disk
    from_cache = plan_json(plan_environment(specs, "prod", progress=False, cache=cache, jobs=1))
    assert (cache.hits, cache.misses, runs) == (stacks, 0, [])
    assert from_cache == in_workers


def test_a_fleets_plan_starts_the_workers_before_validating(monkeypatch, tmp_path):
    started: list[tuple] = []
    monkeypatch.setattr(parallel, "start_early", lambda *args: started.append(args))
    out, specs = tmp_path / "plan.json", str(REPO / "specs")
    assert main(["plan", "--env", "dev", "--specs", specs, "--jobs", "3", "--out", str(out)]) == 0
    assert started == [(len(list(SPECS.glob("*.yaml"))), 3)]
    started.clear()
    # A few of a fleet's stacks: validating the fleet hides the imports too (start_early decides).
    assert main(["plan", "--env", "dev", "--specs", specs, "--model", "fraud-detector", "--out", str(out)]) == 0
    assert started == [(len(list(SPECS.glob("*.yaml"))), None)]
    started.clear()
    assert main(["plan", "--env", "dev", "--specs", specs, "--platform-only", "--out", str(out)]) == 0
    assert started == []  # no model stack: the platform's own providers, in this process


def test_start_early_only_for_fleets(monkeypatch):
    monkeypatch.setattr(parallel, "_early", False)  # this process's: given back after the test
    assert parallel.start_early(parallel.PARALLEL_THRESHOLD - 1, 2) is False
    assert parallel.start_early(1000, 1) is False
    assert not parallel.started_early() and parallel.planning_processes(3, 2) == 0
    assert parallel.start_early(parallel.PARALLEL_THRESHOLD, 2) is True
    assert parallel.started_early()
    # Once started, even a few stacks go to a worker: the fork server has the providers imported.
    assert parallel.planning_processes(3, 2) == 1
    assert parallel.planning_processes(1000, 2) == 2
    assert parallel.planning_processes(3, 1) == 0  # `--jobs 1`: this process plans everything


def test_a_few_stacks_planned_by_the_early_fork_servers_worker_give_the_same_plan(monkeypatch):
    monkeypatch.setattr(parallel, "_early", True)  # as after start_early, for a fleet's `plan --model`
    specs = load_specs([str(SPECS)], root=str(REPO))
    in_process = plan_json(plan_environment(specs, "prod", models=["fraud-detector"], progress=False, jobs=1))
    monkeypatch.setattr(stack_programs, "run_program", lambda *args: pytest.fail("planned in this process"))
    in_worker = plan_json(plan_environment(specs, "prod", models=["fraud-detector"], progress=False))
    assert in_worker == in_process


def test_small_fleets_are_planned_in_process():
    assert parallel.worth_parallel(parallel.PARALLEL_THRESHOLD - 1, 16) == 1
    assert parallel.worth_parallel(1000, 1) == 1
    assert parallel.worth_parallel(1000, 4) == 4
    assert parallel.worth_parallel(parallel.PARALLEL_THRESHOLD, 64) == parallel.PARALLEL_THRESHOLD


def git(folder, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True).stdout


def repository(tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    (tmp_path / "model_code").mkdir()
    (tmp_path / "model_code" / "train.py").write_text("print('train')\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def test_only_spec_changes_narrow_the_reading(tmp_path):
    top = repository(tmp_path)
    specs = str(top / "specs")
    assert changed_spec_files([], str(top), specs) == set()
    assert changed_spec_files(["specs/a.yaml"], str(top), specs) == {str(top / "specs" / "a.yaml")}
    # Anything else may be some model's code, or the program: every spec is read.
    assert changed_spec_files(["specs/a.yaml", "model_code/train.py"], str(top), specs) is None
    assert changed_spec_files(["specs/notes.txt"], str(top), specs) is None
    assert changed_spec_files(["README.md"], str(top), specs) is None


def test_modelform_build_outputs_are_not_changes(tmp_path, monkeypatch):
    top = repository(tmp_path)
    monkeypatch.chdir(top)
    (top / ".modelform" / "build").mkdir(parents=True)
    (top / ".modelform" / "build" / "sourcedir-0123.tar.gz").write_bytes(b"archive")
    (top / "notes.txt").write_text("untracked")
    assert changed_files("HEAD", str(top)) == ["notes.txt"]


def test_spec_texts_at_a_revision_match_git_show(tmp_path, monkeypatch):
    top = repository(tmp_path)
    monkeypatch.chdir(top)
    (top / "specs" / "fraud-detector.yaml").write_text("changed in the working tree\n")
    every = dict(spec_texts_at("HEAD", "specs"))
    assert sorted(every) == sorted(f"specs/{p.name}" for p in SPECS.glob("*.yaml"))
    for name, content in every.items():
        assert content == subprocess.run(["git", "show", f"HEAD:{name}"], cwd=top, capture_output=True).stdout
    wanted = [str(top / "specs" / "fraud-detector.yaml"), str(top / "specs" / "new-model.yaml")]
    assert spec_texts_at("HEAD", "specs", wanted) == [("specs/fraud-detector.yaml", every["specs/fraud-detector.yaml"])]
    assert spec_texts_at("HEAD", "specs", []) == []
