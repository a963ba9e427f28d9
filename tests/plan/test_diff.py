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
    demand.write_text(text.replace("\nbatch:", "\n" + EXTRA_DEPLOYMENT + "\nbatch:", 1))  # after the deployments
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
            "replace": {c["name"]: (c["mode"], c["forced_by"]) for c in stack["replace"]},
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
        "summary": {"create": 0, "delete": 0, "replace": 0, "stacks": 0, "update": 0},
        "findings": [],
    }


def test_bumping_a_variant_weight(git_repo, capsys):
    edit(
        git_repo / "specs" / "fraud-detector.yaml",
        "{name: candidate, model_version: 13, weight: 10}",
        "{name: candidate, model_version: 13, weight: 25}",
    )
    diff = run_diff("prod", capsys)
    changes = _changes(diff)
    # The configuration is immutable: a new content-named one replaces it (created before the old one
    # is deleted), and the endpoint moves to it in place. The Black-Friday floor (20) is shared anew by
    # weight, 90:25 -> 16 + 5 instead of 18 + 2, in the starting counts and the scheduled actions.
    assert changes == {
        "fraud-detector.prod": {
            "create": [],
            "update": {
                "fraud-detector-default-candidate-black-friday-start": ["scalableTargetAction.minCapacity"],
                "fraud-detector-default-current-black-friday-start": ["scalableTargetAction.minCapacity"],
                "fraud-detector-default-endpoint": ["endpointConfigName"],
            },
            "replace": {
                "fraud-detector-default-config": (
                    "+-",
                    [
                        "name",
                        "productionVariants[0].initialInstanceCount",
                        "productionVariants[1].initialInstanceCount",
                        "productionVariants[1].initialVariantWeight",
                    ],
                )
            },
            "delete": [],
        }
    }
    candidate = next(c for c in diff["stacks"][0]["update"] if c["name"].endswith("candidate-black-friday-start"))
    assert candidate["values"] == [{"path": "scalableTargetAction.minCapacity", "old": 2, "new": 5}]
    (replaced,) = diff["stacks"][0]["replace"]
    assert {"path": "productionVariants[1].initialVariantWeight", "old": 10, "new": 25} in replaced["values"]
    assert diff["findings"] == []  # an endpoint configuration holds no data


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
            "replace": {},
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
            "replace": {},
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
    import modelform.plan.stack_programs as stack_programs
    import modelform.spec.loader as loader

    planned, validated = [], []
    original = stack_programs.run_program
    monkeypatch.setattr(
        stack_programs,
        "run_program",
        lambda project, stack, *a, **k: planned.append(stack) or original(project, stack, *a, **k),
    )
    original_validate = loader._validate_document
    monkeypatch.setattr(
        loader,
        "_validate_document",
        lambda document, *a: validated.append(document.file) or original_validate(document, *a),
    )
    edit(git_repo / "specs" / "fraud-detector.yaml", "weight: 10}", "weight: 11}")
    run_diff("dev", capsys)
    # Only a spec changed: both sides in this process, and only the touched model; the platform,
    # the same on both sides, is planned once.
    assert sorted(planned) == ["acme-ml.dev", "fraud-detector.dev", "fraud-detector.dev"]
    # Each side validates the changed spec and the Platform spec; the other models are only named.
    assert sorted(validated) == sorted(["specs/fraud-detector.yaml", "specs/platform.yaml"] * 2)


def test_the_diffs_own_answer_in_the_checkout_is_no_change(git_repo, capsys, monkeypatch):
    import modelform.spec.loader as loader

    edit(git_repo / "specs" / "fraud-detector.yaml", "weight: 10}", "weight: 11}")
    out = git_repo / "diff.md"
    arguments = ["diff", "--base", "HEAD", "--env", "dev", "--format", "markdown", "--out", str(out)]
    assert main(arguments) == 0  # writes diff.md, untracked, into the repository
    validated = []
    original = loader._validate_document
    monkeypatch.setattr(
        loader, "_validate_document", lambda document, *a: validated.append(document.file) or original(document, *a)
    )
    assert main(arguments) == 0
    # Still only the changed spec and the Platform spec on each side: diff.md selected nothing.
    assert sorted(validated) == sorted(["specs/fraud-detector.yaml", "specs/platform.yaml"] * 2)
    assert "fraud-detector.dev" in out.read_text()


def test_platform_change_plans_everything(git_repo, capsys):
    edit(git_repo / "specs" / "platform.yaml", "availability_zones: 3", "availability_zones: 4")
    changes = _changes(run_diff("prod", capsys))
    assert changes["acme-ml.prod"]["create"] == [
        "acme-ml-private-4",
        "acme-ml-private-4-route-table",
        "acme-ml-private-4-routes",
    ]
    # A SageMaker model's every argument forces a new one: the new subnet replaces it.
    mode, forced = changes["fraud-detector.prod"]["replace"]["fraud-detector-default-current-model"]
    assert mode == "+-" and "vpcConfig.subnets[3]" in forced


def test_against_a_saved_plan(git_repo, capsys, tmp_path):
    assert main(["plan", "--env", "dev", "--format", "json", "--out", str(tmp_path / "base.json")]) == 0
    edit(git_repo / "specs" / "demand-forecaster.yaml", "ml.m5.large", "ml.m5.xlarge")
    assert main(["diff", "--against", str(tmp_path / "base.json"), "--env", "dev", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert (
        "+- sagemaker/EndpointConfiguration  demand-forecaster-default-config: replaced, forced by name, "
        "productionVariants[0].instanceType" in out
    )
    assert (
        "~ sagemaker/Pipeline  demand-forecaster-training-pipeline: pipelineDefinition" in out
    )  # served instance types
    assert "productionVariants[0].instanceType: ml.m5.large → ml.m5.xlarge" in out
    assert out.strip().endswith("1 stack(s) change: 0 to create, 2 to update, 1 to replace, 0 to delete")


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
    fraud = _changes(diff)["fraud-detector.prod"]
    # uploaded under the new code version: a new S3 object replaces the old one
    assert fraud["replace"]["fraud-detector-code-train-py"] == ("+-", ["key"])
    fraud = fraud["update"]
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
        ("[]", "the document: [] is not of type 'object'"),
        ('{"plan_version": 1, "env": "dev", "stacks": 5, "findings": []}', "stacks: 5 is not of type 'array'"),
        ('{"plan_version": 2, "env": "dev", "stacks": [], "findings": []}', "plan_version: 1 was expected"),
        (
            '{"plan_version": 1, "env": "dev", "findings": [], "stacks": [{"stack": "a", "kind": "Model", '
            '"spec": "s", "resources": [{}]}]}',
            "stacks[0].resources[0]: 'urn' is a required property",
        ),
    ],
)
def test_against_a_file_that_is_not_a_plan_is_one_line(git_repo, capsys, tmp_path, document, problem):
    (tmp_path / "plan.json").write_text(document)
    assert main(["diff", "--against", str(tmp_path / "plan.json"), "--env", "dev"]) == 2
    assert capsys.readouterr().err == f"modelform diff: {tmp_path / 'plan.json'} is not a modelform plan: {problem}\n"


def test_a_bucket_replacement_is_a_finding_and_values_show_inside_documents():
    bucket = {
        "urn": "u:b",
        "type": "aws:s3/bucket:Bucket",
        "name": "b",
        "inputs": {"bucket": "old"},
        "options": {"protect": True},
    }
    role = {
        "urn": "u:p",
        "type": "aws:iam/rolePolicy:RolePolicy",
        "name": "p",
        "inputs": {"policy": json.dumps({"Statement": [{"Action": ["s3:GetObject"]}]})},
    }
    old = {"env": "prod", "stacks": [{"stack": "s", "kind": "Platform", "spec": "x", "resources": [bucket, role]}]}
    renamed = dict(bucket, inputs={"bucket": "new"})
    widened = dict(role, inputs={"policy": json.dumps({"Statement": [{"Action": ["s3:*"]}]})})
    new = {"env": "prod", "stacks": [{"stack": "s", "kind": "Platform", "spec": "x", "resources": [renamed, widened]}]}
    diff = diff_plans(old, new)
    assert [(f["policy"], f["enforcement"]) for f in diff["findings"]] == [
        ("replace-protected", "mandatory"),
        ("replace-stateful", "mandatory"),
    ]
    (replaced,) = diff["stacks"][0]["replace"]
    assert (replaced["mode"], replaced["forced_by"]) == ("+-", ["bucket"])
    (updated,) = diff["stacks"][0]["update"]
    assert updated["values"] == [{"path": "policy » Statement[0].Action[0]", "old": "s3:GetObject", "new": "s3:*"}]
    delete_first = dict(renamed, options={"deleteBeforeReplace": True})
    diff = diff_plans(old, {**new, "stacks": [{**new["stacks"][0], "resources": [delete_first, widened]}]})
    assert diff["stacks"][0]["replace"][0]["mode"] == "-+"


def test_every_emitted_resource_type_knows_what_forces_its_replacement(sample_plans):
    from modelform.plan.replacements import FORCE_NEW

    emitted = {
        r["type"]
        for plan in sample_plans.values()
        for s in plan["stacks"]
        for r in s["resources"]
        if not r["type"].startswith("modelform:")  # components: their children are the resources
    }
    nat = {
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/route:Route",
    }  # the `egress: nat` platform's
    assert sorted((emitted | nat) - set(FORCE_NEW)) == []


def test_every_plan_matches_the_published_plan_schema(sample_plans, capsys):
    from modelform.plan.plan_schema import PLAN_SCHEMA, plan_problem

    for plan in sample_plans.values():
        assert plan_problem(plan) is None
    assert main(["schema", "--plan"]) == 0
    assert json.loads(capsys.readouterr().out) == PLAN_SCHEMA
