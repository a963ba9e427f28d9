"""The plan cache (stack plans kept by content, `.modelform/cache/`): a plan read
from them is byte-for-byte the plan computed without them, and only what changed is computed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import modelform.plan.stack_programs as stack_programs
from modelform import content_cache
from modelform.plan import plan_environment, plan_json
from modelform.plan.stack_cache import StackCache
from modelform.spec import load_specs
from tests.conftest import REPO, SPECS


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A copy of the sample specs and the model code, with the plan caches on."""
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(REPO / "model_code", tmp_path / "model_code", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("MODELFORM_CACHE", "on")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def planned(root: Path, environment: str = "dev"):
    """(plan text, the cache used): a fresh cache object, as a new process would have."""
    specs = load_specs([str(root / "specs")], root=str(root))
    assert specs.errors == []
    cache = StackCache(specs.root)
    return plan_json(plan_environment(specs, environment, progress=False, cache=cache, jobs=1)), cache


def counting_runs(monkeypatch) -> list[str]:
    """The stacks run under the mock runtime from now on."""
    runs: list[str] = []
    original = stack_programs.run_program

    def run_program(project, stack, program, *rest):
        runs.append(stack)
        return original(project, stack, program, *rest)

    monkeypatch.setattr(stack_programs, "run_program", run_program)
    return runs


def test_a_plan_from_the_cache_is_the_plan_computed_without_it(repository, monkeypatch):
    monkeypatch.setenv("MODELFORM_CACHE", "off")
    uncached, _ = planned(repository)
    assert not (repository / ".modelform" / "cache" / "stacks").exists()
    monkeypatch.setenv("MODELFORM_CACHE", "on")
    cold, cold_cache = planned(repository)
    assert (cold_cache.hits, cold_cache.misses) == (0, 4)  # the platform and three models
    runs = counting_runs(monkeypatch)
    warm, warm_cache = planned(repository)
    assert (warm_cache.hits, warm_cache.misses) == (4, 0)
    assert runs == []  # not one stack ran under the mock runtime
    assert uncached == cold == warm


def test_only_the_changed_spec_runs_again(repository, monkeypatch):
    before, _ = planned(repository)
    spec = repository / "specs" / "fraud-detector.yaml"
    text = spec.read_text()
    assert text.count("weight: 90") == 1
    spec.write_text(text.replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20"))
    runs = counting_runs(monkeypatch)
    after, cache = planned(repository)
    assert runs == ["fraud-detector.dev"]
    assert (cache.hits, cache.misses) == (3, 1)
    assert after != before
    monkeypatch.setenv("MODELFORM_CACHE", "off")
    assert planned(repository)[0] == after


def test_a_model_code_change_runs_every_model_that_ships_it(repository, monkeypatch):
    planned(repository)
    (repository / "model_code" / "train.py").write_text(
        (repository / "model_code" / "train.py").read_text() + "\n# changed\n"
    )
    runs = counting_runs(monkeypatch)
    after, cache = planned(repository)
    assert sorted(runs) == ["car-damage-estimator.dev", "demand-forecaster.dev", "fraud-detector.dev"]
    assert cache.hits == 1  # the platform stack ships no model code
    monkeypatch.setenv("MODELFORM_CACHE", "off")
    assert planned(repository)[0] == after


def test_a_platform_change_runs_every_stack(repository, monkeypatch):
    planned(repository)
    platform = repository / "specs" / "platform.yaml"
    text = platform.read_text()
    assert text.count('cost-center: "4400"') == 1
    platform.write_text(text.replace('cost-center: "4400"', 'cost-center: "4401"'))
    runs = counting_runs(monkeypatch)
    _, cache = planned(repository)
    assert cache.hits == 0 and len(runs) == 4


def test_unreadable_entries_are_computed_again(repository, monkeypatch):
    expected, _ = planned(repository)
    entries = [p for p in (repository / ".modelform" / "cache" / "stacks").rglob("*") if p.is_file()]
    assert len(entries) == 4
    for entry in entries:
        entry.write_text("{not json")
    runs = counting_runs(monkeypatch)
    again, cache = planned(repository)
    assert len(runs) == 4 and cache.hits == 0
    assert again == expected


def test_the_program_identity_covers_every_source_file_and_the_sdks_versions(tmp_path):
    package = tmp_path / "package"
    (package / "plan").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "plan" / "b.py").write_text("B = 1\n")
    (package / "templates.j2").write_text("{{ x }}\n")
    first = content_cache.identity_of(package, {"pulumi": "3.0"})
    assert first == content_cache.identity_of(package, {"pulumi": "3.0"})
    (package / "plan" / "b.py").write_text("B = 2\n")
    second = content_cache.identity_of(package, {"pulumi": "3.0"})
    assert second != first
    (package / "templates.j2").write_text("{{ y }}\n")
    assert content_cache.identity_of(package, {"pulumi": "3.0"}) != second
    assert content_cache.identity_of(package, {"pulumi": "3.1"}) != content_cache.identity_of(
        package, {"pulumi": "3.0"}
    )
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")  # compiled files are not sources
    assert content_cache.identity_of(package, {"pulumi": "3.1"}) == content_cache.identity_of(
        package, {"pulumi": "3.1"}
    )


def test_the_cache_can_be_turned_off(repository, monkeypatch):
    monkeypatch.setenv("MODELFORM_CACHE", "off")
    planned(repository)
    assert not (repository / ".modelform" / "cache").exists()


def test_reading_an_entry_marks_it_as_used_so_ci_can_prune_the_rest(repository, monkeypatch):
    import os

    monkeypatch.setenv("MODELFORM_SPEC_CACHE", "on")
    planned(repository)
    entries = [p for p in (repository / ".modelform" / "cache").rglob("*") if p.is_file()]
    assert {p.relative_to(repository / ".modelform" / "cache").parts[0] for p in entries} == {"specs", "stacks"}
    long_ago = 1_000_000_000  # 2001
    for entry in entries:
        os.utime(entry, (long_ago, long_ago))
    planned(repository)  # every stack and spec from the cache
    stale = [p for p in entries if p.stat().st_mtime == long_ago]
    assert stale == []  # stacks and specs were read, so marked
