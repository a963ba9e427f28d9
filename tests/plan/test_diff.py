"""`modelform diff --base GIT_REF`: a spec change shows exactly the resources it touches.

Given a git repository holding the sample specs, when one spec changes in the working tree,
then the diff against HEAD lists exactly the created / updated / deleted resources.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from modelform.cli import main
from modelform.plan.diff import changed_paths, diff_plans, flatten
from tests.conftest import REPO, SPECS

EXTRA_DEPLOYMENT = """\
  - name: apac
    target: sagemaker
    instance_type: ml.c6i.xlarge
    variants:
      - {name: current, model_version: 7, weight: 100}
"""


@pytest.fixture
def git_repo(tmp_path, monkeypatch):
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(REPO / "model_code", tmp_path / "model_code", ignore=shutil.ignore_patterns("__pycache__"))
    demand = tmp_path / "specs" / "demand-forecaster.yaml"
    text = demand.read_text()
    demand.write_text(text.replace("\nmonitoring:\n", "\n" + EXTRA_DEPLOYMENT + "\nmonitoring:\n", 1))
    for command in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base"],
    ):
        subprocess.run(["git", *command], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_diff(env: str, capsys) -> dict:
    assert main(["diff", "--base", "HEAD", "--env", env, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _changes(diff: dict) -> dict:
    return {
        stack["stack"]: {
            "create": sorted(c["name"] for c in stack["create"]),
            "update": {c["name"]: c["paths"] for c in stack["update"]},
            "delete": sorted(c["name"] for c in stack["delete"]),
        }
        for stack in diff["stacks"]
    }


def test_no_change_no_diff(git_repo, capsys):
    assert run_diff("prod", capsys) == {
        "diff_version": 1,
        "env": "prod",
        "scope": {"everything": None, "models": {}},
        "stacks": [],
        "summary": {"create": 0, "delete": 0, "stacks": 0, "update": 0},
    }


def test_bumping_a_variant_weight(git_repo, capsys):
    edit(
        git_repo / "specs" / "fraud-detector.yaml",
        "{name: candidate, model_version: 13, weight: 10}",
        "{name: candidate, model_version: 13, weight: 25}",
    )
    changes = _changes(run_diff("prod", capsys))
    # The configuration is immutable: a new content-named one replaces it, and the endpoint moves to it.
    assert changes == {
        "fraud-detector.prod": {
            "create": [],
            "update": {
                "fraud-detector-default-config": ["name", "productionVariants[1].initialVariantWeight"],
                "fraud-detector-default-endpoint": ["endpointConfigName"],
            },
            "delete": [],
        }
    }


def test_adding_a_scheduled_window(git_repo, capsys):
    edit(
        git_repo / "specs" / "fraud-detector.yaml",
        "          max_instances: 120\n",
        "          max_instances: 120\n"
        "        - "
        '{name: boxing-day, start: "2026-12-26T00:00:00Z", end: "2026-12-27T00:00:00Z", '
        "min_instances: 8, max_instances: 60}\n",
    )
    changes = _changes(run_diff("prod", capsys))
    assert changes == {
        "fraud-detector.prod": {
            "create": sorted(
                f"fraud-detector-default-{variant}-boxing-day-{edge}"
                for variant in ("candidate", "current")
                for edge in ("end", "start")
            ),
            "update": {},
            "delete": [],
        }
    }


def test_removing_a_deployment(git_repo, capsys):
    edit(git_repo / "specs" / "demand-forecaster.yaml", EXTRA_DEPLOYMENT, "")
    changes = _changes(run_diff("prod", capsys))
    # The registered packages list the instance types the model is served on: apac's goes.
    assert changes == {
        "demand-forecaster.prod": {
            "create": [],
            "update": {"demand-forecaster-training-pipeline": ["pipelineDefinition"]},
            "delete": [
                "demand-forecaster-apac",
                "demand-forecaster-apac-config",
                "demand-forecaster-apac-current-5xx-rate",
                "demand-forecaster-apac-current-model",
                "demand-forecaster-apac-current-p99-latency",
                "demand-forecaster-apac-endpoint",
            ],
        }
    }


def test_only_touched_models_are_planned(git_repo, capsys, monkeypatch):
    import modelform.plan.planner as planner

    planned = []
    original = planner.run_program
    monkeypatch.setattr(
        planner,
        "run_program",
        lambda project, stack, *a, **k: planned.append(stack) or original(project, stack, *a, **k),
    )
    edit(git_repo / "specs" / "fraud-detector.yaml", "weight: 10}", "weight: 11}")
    run_diff("dev", capsys)
    # Head side in this process; the base side runs in a worktree of HEAD (its own process).
    assert sorted(planned) == ["acme-ml.dev", "fraud-detector.dev"]


def test_platform_change_plans_everything(git_repo, capsys):
    edit(git_repo / "specs" / "platform.yaml", "availability_zones: 3", "availability_zones: 4")
    changes = _changes(run_diff("prod", capsys))
    assert changes["acme-ml.prod"]["create"] == [
        "acme-ml-private-4",
        "acme-ml-private-4-route-table",
        "acme-ml-private-4-routes",
    ]
    assert "fraud-detector-default-current-model" in changes["fraud-detector.prod"]["update"]


def test_against_a_saved_plan(git_repo, capsys, tmp_path):
    assert main(["plan", "--env", "dev", "--format", "json", "--out", str(tmp_path / "base.json")]) == 0
    edit(git_repo / "specs" / "demand-forecaster.yaml", "ml.m5.large", "ml.m5.xlarge")
    assert main(["diff", "--against", str(tmp_path / "base.json"), "--env", "dev", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert (
        "~ sagemaker/EndpointConfiguration  demand-forecaster-default-config: name, productionVariants[0].instanceType"
        in out
    )
    assert (
        "~ sagemaker/Pipeline  demand-forecaster-training-pipeline: pipelineDefinition" in out
    )  # served instance types
    assert out.strip().endswith("1 stack(s) change: 0 to create, 3 to update, 0 to delete")


def test_bad_revision_is_one_line_exit_2(git_repo, capsys):
    assert main(["diff", "--base", "no-such-ref"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("modelform diff: git rev-parse") and "\n" not in err


def test_flatten_and_changed_paths():
    assert dict(flatten({"a": [{"b": 1}, {}], "c": {}})) == {"a[0].b": 1, "a[1]": {}, "c": {}}
    old = {"inputs": {"x": 1, "y": [1, 2]}, "options": {}}
    new = {"inputs": {"x": 1, "y": [1, 3], "z": True}, "options": {"protect": True}}
    assert changed_paths(old, new) == ["y[1]", "z", "options.protect"]  # inputs first, then options
    assert diff_plans({"stacks": []}, {"env": "dev", "stacks": []})["summary"]["stacks"] == 0


def test_a_code_only_change_shows_the_updates_it_causes(git_repo, capsys):
    """The base side is planned with the base revision's code (a worktree of HEAD), so editing
    model_code/ is not "No changes"."""
    with open(git_repo / "model_code" / "train.py", "a") as handle:
        handle.write("# a change to the training code\n")
    diff = run_diff("prod", capsys)
    reason = "its code changed (model_code/train.py)"
    assert diff["scope"] == {
        "everything": None,
        "models": {m: reason for m in ("car-damage-estimator", "demand-forecaster", "fraud-detector")},
    }
    fraud = _changes(diff)["fraud-detector.prod"]["update"]
    assert fraud["fraud-detector-code-train-py"] == ["key"]  # uploaded under the new code version
    assert fraud["fraud-detector-training-pipeline"] == ["pipelineDefinition"]
    assert fraud["fraud-detector-eu-enterprise-current-deployment"] == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.initContainers[0].image",
    ]


def test_a_program_change_plans_every_stack(git_repo, capsys):
    (git_repo / "modules").mkdir()
    (git_repo / "modules" / "note.txt").write_text("a component changed\n")
    diff = run_diff("dev", capsys)
    assert diff["scope"] == {"everything": "the program changed (modules/note.txt)", "models": {}}


def test_detailed_exitcode(git_repo, capsys):
    arguments = ["diff", "--base", "HEAD", "--env", "dev", "--format", "json", "--detailed-exitcode"]
    assert main(arguments) == 0
    edit(git_repo / "specs" / "fraud-detector.yaml", "weight: 10}", "weight: 11}")
    assert main(arguments) == 2
    assert main([*arguments[:2], "no-such-ref", *arguments[3:]]) == 1
    assert main([*arguments[:2], "no-such-ref", *arguments[3:-1]]) == 2  # without the flag: a usage error
    capsys.readouterr()


@pytest.mark.parametrize(
    "document, problem",
    [
        ("[]", "the document is a JSON list, not an object"),
        ('{"plan_version": 1, "stacks": 5}', "stacks is not a list"),
        ('{"plan_version": 2, "stacks": []}', "plan_version is not 1"),
        (
            '{"plan_version": 1, "stacks": [{"stack": "a", "kind": "Model", "spec": "s", "resources": [{}]}]}',
            "stacks[0].resources[0] lacks urn or type",
        ),
    ],
)
def test_against_a_file_that_is_not_a_plan_is_one_line(git_repo, capsys, tmp_path, document, problem):
    (tmp_path / "plan.json").write_text(document)
    assert main(["diff", "--against", str(tmp_path / "plan.json"), "--env", "dev"]) == 2
    assert capsys.readouterr().err == f"modelform diff: {tmp_path / 'plan.json'} is not a modelform plan: {problem}\n"
