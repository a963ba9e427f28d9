"""Planning fleets: every core plans stacks, a diff reads only what changed, and neither changes
a byte of the answer (how fast is measured by bench/fleet_speed.py; timings are no test)."""

from __future__ import annotations

import shutil
import subprocess

import modelform.plan.parallel as parallel
from modelform.plan import plan_environment, plan_json
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
