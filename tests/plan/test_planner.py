"""`modelform plan`: deterministic, offline, the same programs as the stacks, readable output."""

from __future__ import annotations

import dataclasses
import json
import runpy

import pytest

from modelform import naming
from modelform.cli import main
from modelform.plan import PlanError, plan_environment, plan_json
from modelform.plan.engine import run_program
from modelform.plan.policies import check_plan
from modelform.plan.render import COMMENT_BUDGET, diff_markdown, plan_markdown, plan_table
from modelform.programs import platform_program
from tests.conftest import PLATFORM, REPO, SPECS, resources_of


def test_plan_twice_is_byte_identical(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    for name in ("a.json", "b.json"):
        assert (
            main(
                [
                    "plan",
                    "--env",
                    "prod",
                    "--specs",
                    str(SPECS),
                    "--root",
                    str(REPO),
                    "--format",
                    "json",
                    "--out",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
    first = (tmp_path / "a.json").read_bytes()
    assert first == (tmp_path / "b.json").read_bytes()
    document = json.loads(first)
    assert document["plan_version"] == 1 and document["env"] == "prod"
    assert [s["stack"] for s in document["stacks"]] == [
        "acme-ml.prod",
        "car-damage-estimator.prod",
        "demand-forecaster.prod",
        "fraud-detector.prod",
    ]
    assert first.decode() == plan_json(document)


def test_plan_document_shape(sample_plans):
    stack = sample_plans["dev"]["stacks"][0]
    assert set(stack) == {"stack", "kind", "spec", "resources", "images", "account"}
    # `images`: what must be in a registry before `up` (CI builds and pushes the serving image first)
    stacks = {s["stack"]: s for s in sample_plans["dev"]["stacks"]}
    (image,) = stacks["fraud-detector.dev"]["images"]
    repository, version = image.rsplit(":", 1)
    assert repository == "<acme-ml-serve.repositoryUrl>" and len(version) == 12  # the code version
    assert "images" not in stacks["demand-forecaster.dev"]  # SageMaker only: AWS's images
    assert (stack["stack"], stack["kind"], stack["spec"]) == ("acme-ml.dev", "Platform", f"{SPECS}/platform.yaml")
    bucket = resources_of(sample_plans["dev"], "acme-ml.dev", "aws:s3/bucket:Bucket")["acme-ml-artifacts"]
    assert bucket["urn"] == (
        "urn:pulumi:acme-ml.dev::modelform-platform::modelform:platform:Platform$modelform:secure_bucket:SecureBucket"
        "$aws:s3/bucket:Bucket::acme-ml-artifacts"
    )
    assert bucket["parent"] == (
        "urn:pulumi:acme-ml.dev::modelform-platform::modelform:platform:Platform$modelform:secure_bucket:SecureBucket::acme-ml-artifacts"
    )
    assert resources_of(sample_plans["dev"], "acme-ml.dev")["acme-ml"]["parent"] is None


def test_placeholders_name_their_source_across_stacks(sample_plans):
    policy = resources_of(sample_plans["dev"], "fraud-detector.dev")["fraud-detector-sagemaker-execution-policy"]
    text = policy["inputs"]["policy"]
    assert "arn:aws:s3:::<acme-ml-artifacts.bucket>/fraud-detector/*" in text
    assert "arn:aws:s3:::<acme-ml-capture.bucket>/fraud-detector/*" in text
    assert policy["inputs"]["role"] == "<fraud-detector-sagemaker-execution.id>"


def test_the_stack_projects_run_the_same_programs(sample_specs, sample_plans, monkeypatch):
    """stacks/*/__main__.py, run under the same mocks, declare exactly what the plan shows (the
    stacks read the fixture specs through `modelform:specs`, as a Pulumi.<stack>.yaml would say)."""
    import pulumi.runtime.config as pulumi_config

    monkeypatch.chdir(REPO)
    monkeypatch.setitem(pulumi_config.CONFIG.get(), "modelform:specs", str(SPECS))
    platform = sample_specs.platform("staging")
    resources, outputs = run_program(
        naming.PLATFORM_PROJECT,
        "acme-ml.staging",
        lambda: runpy.run_path(str(REPO / "stacks/platform/__main__.py")) and {},
    )
    assert [r.to_json() for r in resources] == [
        s for s in sample_plans["staging"]["stacks"] if s["stack"] == "acme-ml.staging"
    ][0]["resources"]
    _, platform_outputs = run_program(naming.PLATFORM_PROJECT, "acme-ml.staging", lambda: platform_program(platform))
    reference = {"organization/modelform-platform/acme-ml.staging": platform_outputs}
    for model in ("fraud-detector", "demand-forecaster", "car-damage-estimator"):
        resources, _ = run_program(
            naming.MODEL_PROJECT,
            f"{model}.staging",
            lambda: runpy.run_path(str(REPO / "stacks/model/__main__.py")) and {},
            reference,
        )
        planned = [s for s in sample_plans["staging"]["stacks"] if s["stack"] == f"{model}.staging"][0]["resources"]
        assert [r.to_json() for r in resources] == planned


def test_every_sample_stack_has_its_config_file():
    for env in ("dev", "staging", "prod"):
        assert (REPO / "stacks" / "platform" / f"Pulumi.acme-ml.{env}.yaml").is_file()
        for model in ("fraud-detector", "demand-forecaster", "car-damage-estimator"):
            assert (REPO / "stacks" / "model" / f"Pulumi.{model}.{env}.yaml").is_file()


def test_table_shows_components_with_their_children(sample_plans):
    text = plan_table(sample_plans["dev"])
    assert (
        "  +    acme-ml-artifacts  (modelform:secure_bucket:SecureBucket)\n  +       acme-ml-artifacts  (s3/Bucket)\n"
        in text
    )
    assert "4 stacks, 419 resources" in text  # the sample specs in dev, components included
    assert "[protected]" in plan_table(sample_plans["prod"])


def test_monitoring_without_any_capture_is_an_advisory_finding(sample_specs):
    car = sample_specs.model("car-damage-estimator", "dev")
    uncaptured = dataclasses.replace(
        car, deployments=tuple(dataclasses.replace(d, data_capture_percent=0) for d in car.deployments)
    )
    (finding,) = check_plan([], [uncaptured], "dev")
    assert (finding.policy, finding.enforcement, finding.urn) == (
        "monitoring-without-capture",
        "advisory",
        "car-damage-estimator.dev/monitoring",
    )
    assert check_plan([], [car], "dev") == []


def test_markdown_fits_a_pull_request_comment(sample_plans):
    text = plan_markdown(sample_plans["dev"])
    assert text.startswith("## modelform plan — `dev`") and "| `fraud-detector.dev` | Model |" in text
    huge = {
        "env": "prod",
        "findings": [],
        "stacks": [dict(sample_plans["prod"]["stacks"][3], stack=f"m-{i:05d}.prod") for i in range(3000)],
    }
    cut = plan_markdown(huge)
    assert len(cut) <= COMMENT_BUDGET and "more row(s) do not fit a comment" in cut
    many = {
        "env": "prod",
        "findings": [],
        "stacks": [
            dict(stack, stack=f"model-{i:04d}.prod")
            for i in range(400)
            for stack in sample_plans["prod"]["stacks"][3:4]
        ],
    }
    big = plan_markdown(many)
    assert len(big) <= COMMENT_BUDGET < 65_536
    assert "| `model-0399.prod` | Model |" in big  # every stack keeps its summary row
    assert "more stack(s) do not fit a comment" in big and big.count("<details>") == big.count("</details>")
    diff = {
        "env": "prod",
        "summary": {"stacks": 500, "create": 9500, "update": 0, "delete": 0},
        "stacks": [
            {
                "stack": f"model-{i:04d}.prod",
                "kind": "Model",
                "spec": "specs/x.yaml",
                "update": [],
                "delete": [],
                "create": [
                    {"urn": f"urn:{j}", "type": "aws:sagemaker/model:Model", "name": f"model-{i}-{j}"}
                    for j in range(19)
                ],
            }
            for i in range(500)
        ],
    }
    text = diff_markdown(diff)
    assert len(text) <= COMMENT_BUDGET and "more stack(s) do not fit a comment" in text


def test_progress_bar_for_many_stacks(repo, capsys):
    from tests.conftest import DEPLOYMENT, HEADER

    repo.write("platform.yaml", PLATFORM)
    for i in range(6):
        repo.write(f"m{i}.yaml", HEADER.replace("name: fraud", f"name: model-{i}") + DEPLOYMENT)
    specs = repo.validate()
    plan_environment(specs, "dev")
    assert capsys.readouterr().err.splitlines()[-1] == "planning stacks: 7/7"  # stderr is no terminal here


def test_unknown_environment_and_missing_platform(repo):
    from tests.conftest import DEPLOYMENT, HEADER

    repo.write("m.yaml", HEADER + DEPLOYMENT)
    specs = repo.validate()
    with pytest.raises(PlanError, match="planning needs a Platform spec"):
        plan_environment(specs, "dev")
    with pytest.raises(PlanError, match="unknown environment 'qa'; known: dev, staging, prod"):
        plan_environment(specs, "qa")


def test_plan_cli_refuses_invalid_specs_and_exits_1_on_mandatory_findings(repo, capsys, monkeypatch):
    from tests.conftest import DEPLOYMENT, HEADER

    monkeypatch.chdir(repo.root)
    repo.write("platform.yaml", PLATFORM)
    repo.write("m.yaml", HEADER + DEPLOYMENT.replace("ml.m5.large", "ml.m5.larg"))
    assert main(["plan"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "1 problem(s) in the specs; nothing planned"

    repo.write("m.yaml", HEADER + DEPLOYMENT)
    import modelform.plan.planner as planner
    from modelform.plan.policies import Finding

    monkeypatch.setattr(
        planner,
        "check_plan",
        lambda *a: [Finding("s3-kms-encryption", "mandatory", "urn:x", "bucket has no default SSE-KMS encryption")],
    )
    assert main(["plan", "--format", "json"]) == 1
    assert (
        "policy violation: s3-kms-encryption: urn:x: bucket has no default SSE-KMS encryption"
        in capsys.readouterr().err
    )


def test_artifact_variants_get_an_image_and_read_access_to_exactly_that_object(repo):
    from tests.conftest import DEPLOYMENT, HEADER

    repo.write("platform.yaml", PLATFORM)
    repo.write(
        "m.yaml", HEADER + DEPLOYMENT.replace("model_version: 1", "artifact: s3://acme-models/fraud/model.tar.gz")
    )
    plan = plan_environment(repo.validate(), "dev", progress=False)
    model = resources_of(plan, "fraud.dev")["fraud-default-current-model"]["inputs"]
    assert model["primaryContainer"] == {
        "image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
        "modelDataUrl": "s3://acme-models/fraud/model.tar.gz",
        "environment": {
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_REGION": "us-east-1",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
    }
    policy = json.loads(resources_of(plan, "fraud.dev")["fraud-sagemaker-execution-policy"]["inputs"]["policy"])
    (pinned,) = [s for s in policy["Statement"] if s.get("Sid") == "ReadPinnedArtifacts"]
    assert pinned["Resource"] == ["arn:aws:s3:::acme-models/fraud/model.tar.gz"] and pinned["Action"] == [
        "s3:GetObject"
    ]


class _Stream:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_is_plain_lines_in_ci_logs_and_a_bar_on_terminals():
    from modelform.plan.planner import _progress

    log = _Stream(tty=False)
    with _progress(20, enabled=True, stream=log) as advance:
        for _ in range(20):
            advance()
    assert "\r" not in log.text
    assert log.text.splitlines() == [f"planning stacks: {n}/20" for n in range(2, 21, 2)]
    terminal = _Stream(tty=True)
    with _progress(20, enabled=True, stream=terminal) as advance:
        advance(20)
    assert "\r" in terminal.text and "20/20" in terminal.text
    quiet = _Stream(tty=False)
    with _progress(3, enabled=True, stream=quiet) as advance:  # a handful of stacks: no progress at all
        advance(3)
    assert quiet.text == ""


def test_change_markers_are_coloured_on_terminals_unless_no_color():
    from modelform.plan.render import colour_wanted, colourise

    text = "stack\n  + s3/Bucket  a\n  ~ s3/Bucket  b: x\n  - s3/Bucket  c\n"
    assert colourise(text).splitlines()[1:] == [
        "\x1b[32m  + s3/Bucket  a\x1b[0m",
        "\x1b[33m  ~ s3/Bucket  b: x\x1b[0m",
        "\x1b[31m  - s3/Bucket  c\x1b[0m",
    ]
    assert colour_wanted(_Stream(tty=True), {}) is True
    assert colour_wanted(_Stream(tty=True), {"NO_COLOR": "1"}) is False
    assert colour_wanted(_Stream(tty=False), {}) is False


@pytest.mark.parametrize(
    "options, flagged",
    [
        ({"protect": True, "retainOnDelete": True}, False),
        ({"protect": True}, True),  # a removed stack, or unprotecting it, would delete the data
        ({"retainOnDelete": True}, True),  # `destroy` or a replacing change would go through
        ({}, True),
    ],
)
def test_prod_data_needs_both_protect_and_retain_on_delete(options, flagged):
    from modelform.plan.stack_plan import PlannedResource, StackPlan

    bucket = PlannedResource("urn:b", "aws:s3/bucket:Bucket", "b", None, {"bucket": "b"}, options)
    findings = check_plan([StackPlan("acme-ml.prod", "Platform", "p.yaml", [bucket], {})], [], "prod")
    protected = [f for f in findings if f.policy == "prod-data-protected"]
    assert bool(protected) is flagged
    dev = check_plan([StackPlan("acme-ml.dev", "Platform", "p.yaml", [bucket], {})], [], "dev")
    assert not [f for f in dev if f.policy == "prod-data-protected"]  # only prod must keep its data


def test_a_stack_runs_with_fewer_collections_and_restores_the_thresholds():
    import gc

    import modelform.plan.engine as engine

    seen = []
    before = gc.get_threshold()
    run_program("p", "s", lambda: seen.append(gc.get_threshold()) or {})
    assert seen == [engine.COLLECTION_THRESHOLDS]
    assert gc.get_threshold() == before


def test_a_stack_registers_without_source_positions_and_restores_the_sdks(monkeypatch):
    import pulumi
    import pulumi.runtime.resource

    extracted = []

    def counting():
        extracted.append(1)
        return pulumi.runtime.resource.source_pb2.StackTrace()

    monkeypatch.setattr(pulumi.runtime.resource, "_get_stack_trace", counting)
    resources, _ = run_program("p", "s", lambda: pulumi.CustomResource("test:index:Thing", "t", {}) and {})
    assert [r.name for r in resources] == ["t"]
    assert extracted == []  # the SDK never walked the stack for the registration
    assert pulumi.runtime.resource._get_stack_trace is counting  # restored: a deployment keeps them


def test_a_plan_is_the_same_with_the_sdks_source_positions(sample_specs, monkeypatch):
    import contextlib

    import modelform.plan.engine as engine

    model = sample_specs.models("prod")[0].name
    without = plan_json(plan_environment(sample_specs, "prod", models=[model], progress=False, jobs=1))
    monkeypatch.setattr(engine, "no_source_positions", contextlib.nullcontext)
    assert plan_json(plan_environment(sample_specs, "prod", models=[model], progress=False, jobs=1)) == without


def test_the_event_loop_is_closed_at_exit_so_no_destructor_prints_a_traceback():
    import asyncio
    import subprocess
    import sys

    import modelform.plan.engine as engine

    run_program("p", "s", lambda: {})
    assert asyncio.get_event_loop() in engine._LOOPS_TO_CLOSE  # closed by an exit handler
    closing = (
        "import asyncio\n"
        "from modelform.plan import engine\n"
        "engine.run_program('p', 's', lambda: {})\n"
        "loop = asyncio.get_event_loop()\n"
        "engine._close_loops()  # what the exit handler runs\n"
        "print('closed' if loop.is_closed() else 'open')\n"
    )
    result = subprocess.run([sys.executable, "-c", closing], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "closed"
    # The command itself, a few times (the destructor's traceback came at random exits).
    command = [sys.executable, "-m", "modelform", "plan", "--env", "dev", "--specs", str(SPECS), "--root", str(REPO)]
    for _ in range(3):
        result = subprocess.run(command + ["--platform-only", "--out", "/dev/null"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
