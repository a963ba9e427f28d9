"""`modelform validate` and `modelform schema`: the public contract of the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml

from modelform.cli import main
from modelform.spec.json_schema import json_schema
from tests.conftest import DEPLOYMENT, HEADER, PLATFORM, REPO, SPECS

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>\S+): (?P<message>.+)$")


def run(repo, *args: str):
    return subprocess.run(
        [sys.executable, "-m", "modelform", *args], cwd=repo.root, capture_output=True, text=True, timeout=60
    )


def test_validate_the_samples_exits_zero(capsys):
    assert main(["validate", str(SPECS), "--root", str(REPO)]) == 0
    assert capsys.readouterr().out == "4 spec file(s) valid: 3 model(s), 1 platform; environments: dev, staging, prod\n"


def test_all_problems_of_all_files_in_one_run(repo):
    repo.write("a.yaml", HEADER + DEPLOYMENT.replace("sagemaker", "sagmaker") + "colour: blue\n")
    repo.write("b.yaml", HEADER.replace("owner: ml@acme.example", "owner: nobody") + DEPLOYMENT)
    repo.write("c.yaml", "kind: Model\nname: [unclosed\n")
    repo.write("platform.yaml", PLATFORM.replace("max: 4}", "max: 0}"))
    result = run(repo, "validate")
    assert result.returncode == 1 and result.stdout == ""
    *lines, summary = result.stderr.splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert [(m["file"], m["line"], m["path"]) for m in map(LINE.match, lines)] == [
        ("specs/a.yaml", "9", "deployments[0].target"),
        ("specs/a.yaml", "12", "colour"),
        ("specs/b.yaml", "3", "name"),  # two files define model 'fraud'
        ("specs/b.yaml", "4", "owner"),
        ("specs/c.yaml", "3", "(root)"),
        ("specs/platform.yaml", "13", "clusters[1].node_groups[0].max"),
    ]
    assert summary == "6 problem(s) in 4 file(s)"
    assert "Traceback" not in result.stderr


def test_validate_named_files_and_missing_paths(repo):
    path = repo.write("a.yaml", HEADER + DEPLOYMENT)
    assert run(repo, "validate", str(path)).returncode == 0
    result = run(repo, "validate", "specs/a.yaml", "nope.yaml")
    assert (result.returncode, result.stderr.splitlines()[0]) == (1, "nope.yaml:1:1: (root): no such file or folder")


def test_usage_errors_exit_2(repo):
    assert run(repo, "frobnicate").returncode == 2


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_count(jobs, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--jobs", jobs])
    assert exit_.value.code == 2
    assert f"argument --jobs: must be a whole number of at least 1 (got '{jobs}')" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\x00garbage", b"kind: Model\n" * 3, b"[1, 2", b"{}", b"kind: Platform\nclusters: 7\n"]
)
def test_no_traceback_for_any_file_content(repo, content):
    (repo.root / "specs" / "x.yaml").write_bytes(content)
    result = run(repo, "validate")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert all(LINE.match(line) for line in result.stderr.splitlines()[:-1])


def test_schema_is_valid_json_schema_and_accepts_every_sample(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for path in sorted((SPECS).glob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path


def test_schema_points_editors_at_the_wrong_field():
    validator = jsonschema.Draft202012Validator(json_schema())
    spec = yaml.safe_load((SPECS / "fraud-detector.yaml").read_text())
    spec["deployments"][0]["target"] = "sagmaker"
    spec["retrainng"] = {}
    spec["environments"]["prod"]["protect"] = "yes"
    found = sorted((list(e.absolute_path), e.message) for e in validator.iter_errors(spec))
    assert found == [
        ([], "Additional properties are not allowed ('retrainng' was unexpected)"),
        (["deployments", 0, "target"], "'sagmaker' is not one of ['sagemaker', 'eks']"),
        (["environments", "prod", "protect"], "'yes' is not of type 'boolean'"),
    ]


def test_schema_describes_fields_and_defaults():
    model = json_schema()["$defs"]["Model"]
    deployment = model["properties"]["deployments"]["items"]
    assert deployment["properties"]["target"]["enum"] == ["sagemaker", "eks"]
    assert deployment["properties"]["rollout"]["properties"]["wait"]["default"] == "10m"
    assert "required" not in json_schema()["$defs"]["ModelOverride"]
    assert model["required"] == ["spec_version", "kind", "name", "owner", "team", "model", "deployments"]


def test_schema_writes_a_file(tmp_path):
    out = tmp_path / "schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["$id"].endswith("spec-v1.json")


def test_written_files_get_the_mode_a_plain_write_gives(tmp_path):
    """Written whole through a private temporary file, but not left private: the umask's mode for a
    new file, the existing mode for a file written again."""
    import os

    previous = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        assert main(["schema", "--out", str(fresh)]) == 0
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o640)
        assert main(["schema", "--out", str(kept)]) == 0
        assert kept.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(previous)


def test_committed_schema_file_is_current():
    """specs/*.yaml point editors at modelform.schema.json; regenerate it with `make schema`."""
    from modelform.spec.json_schema import json_schema_text

    assert (REPO / "modelform.schema.json").read_text() == json_schema_text()


def test_a_window_that_is_over_is_a_warning_not_an_error(repo):
    """Past peaks change no capacity: `validate` says so where the window ends, and still passes
    (a spec kept from last year must not block a deploy)."""
    repo.write(
        "m.yaml",
        HEADER
        + DEPLOYMENT
        + (
            "    autoscaling:\n"
            "      min_instances: 1\n"
            "      max_instances: 4\n"
            "      scheduled:\n"
            '        - {name: peak-2020, start: "2020-11-27T00:00:00Z", end: "2020-11-28T00:00:00Z", '
            "min_instances: 2, max_instances: 8}\n"
        ),
    )
    repo.write("platform.yaml", PLATFORM)
    result = run(repo, "validate")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: specs/m.yaml:16:65: deployments[0].autoscaling.scheduled[0].end: window 'peak-2020' ended at "
        "2020-11-28T00:00:00Z; it changes no capacity any more: remove it, or move it to the next peak"
    ]


def test_images_lists_the_serving_images_to_build_before_up(capsys):
    registry = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
    assert main(["images", "--env", "prod", "--specs", str(SPECS), "--root", str(REPO), "--registry", registry]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    image, stacks = line.split("  ")
    assert image.startswith(f"{registry}/acme-ml/serve:") and len(image.rsplit(":", 1)[1]) == 12
    assert stacks == "car-damage-estimator.prod fraud-detector.prod"  # the stacks with EKS pods


@pytest.mark.parametrize(
    "where, problem",
    [
        ("missing/plan.json", "the folder {tmp}/missing does not exist"),
        (".", "is a folder"),
        ("readonly.json", "is not writable"),
    ],
)
def test_an_unwritable_out_is_refused_before_planning(tmp_path, capsys, monkeypatch, where, problem):
    import modelform.plan as plan_module

    monkeypatch.setattr(plan_module, "plan_environment", lambda *a, **k: pytest.fail("planned before checking --out"))
    (tmp_path / "readonly.json").write_text("{}")
    if where == "readonly.json":  # as the OS would answer a user without write permission (root has it)
        monkeypatch.setattr(os, "access", lambda path, mode: not str(path).endswith("readonly.json"))
    out = str(tmp_path / where) if where != "." else str(tmp_path)
    assert main(["plan", "--env", "dev", "--specs", str(SPECS), "--root", str(REPO), "--out", out]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("modelform plan: --out ") and problem.format(tmp=tmp_path) in line


def test_ctrl_c_exits_130_with_one_line_and_no_partial_file(tmp_path, capsys, monkeypatch):
    import modelform.plan as plan_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plan_module, "plan_environment", interrupted)
    out = tmp_path / "plan.json"
    assert main(["plan", "--env", "dev", "--specs", str(SPECS), "--root", str(REPO), "--out", str(out)]) == 130
    assert capsys.readouterr().err == "modelform plan: interrupted; nothing written\n"
    assert list(tmp_path.iterdir()) == []


def test_plan_detailed_exitcode_and_model(tmp_path, capsys):
    out = tmp_path / "plan.json"
    arguments = ["plan", "--env", "dev", "--specs", str(SPECS), "--root", str(REPO), "--format", "json"]
    assert main([*arguments, "--out", str(out), "--model", "fraud-detector", "--detailed-exitcode"]) == 2
    stacks = [s["stack"] for s in json.loads(out.read_text())["stacks"]]
    assert stacks == ["acme-ml.dev", "fraud-detector.dev"]


def test_idle_variants_and_uncaptured_monitoring_are_warnings(repo):
    repo.write(
        "m.yaml",
        HEADER
        + """\
deployments:
  - name: default
    target: sagemaker
    instance_type: ml.m5.large
    variants: [{name: current, model_version: 1, weight: 1}, {name: parked, model_version: 2, weight: 0}]
    autoscaling:
      min_instances: 2
      max_instances: 8
      scheduled:
        - {name: peak, start: "2099-11-27T00:00:00Z", end: "2099-11-29T00:00:00Z", min_instances: 4, max_instances: 8}
        - {name: next, start: "2099-11-30T00:00:00Z", end: "2099-12-01T00:00:00Z", min_instances: 4, max_instances: 8}
monitoring:
  schedule: rate(1 hour)
  problem_type: regression
  drift: {method: psi, threshold: 0.2}
  notify: [ml@acme.example]
""",
    )
    repo.write("platform.yaml", PLATFORM)
    result = run(repo, "validate")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: specs/m.yaml:11:103: deployments[0].variants[1].weight: variant 'parked' gets no traffic (weight 0) "
        "but holds 2 instance(s); remove it, or give it traffic (to test a candidate without serving its answers, "
        "declare it as the deployment's `shadow`)",
        "warning: specs/m.yaml:19:3: monitoring: monitoring is declared, but no deployment captures data "
        "(data_capture_percent): no drift or quality metric will be published, so these alarms and retraining "
        "triggers never fire",
    ]
    strict = run(repo, "validate", "--strict")
    assert strict.returncode == 1 and strict.stderr.splitlines()[-1] == "2 warning(s), and --strict makes them errors"


def test_the_command_exits_at_once_with_every_byte_written_and_its_exit_code(tmp_path):
    # `modelform` leaves the process with os._exit once the answer is out (Python's teardown of
    # the SDKs costs half a second): the output, piped or written to a file, must still be whole.
    modelform = [sys.executable, "-m", "modelform", "plan", "--specs", str(SPECS), "--root", str(REPO)]
    command = [*modelform, "--env", "dev"]
    piped = subprocess.run([*command, "--format", "json", "--detailed-exitcode"], capture_output=True, timeout=120)
    assert piped.returncode == 2 and piped.stderr == b""
    out = tmp_path / "plan.json"
    written = subprocess.run([*command, "--format", "json", "--out", str(out)], capture_output=True, timeout=120)
    assert written.returncode == 0 and written.stdout == b""
    assert out.read_bytes() == piped.stdout
    assert json.loads(piped.stdout)["env"] == "dev"
    failed = subprocess.run([*modelform, "--env", "nowhere"], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.startswith("modelform plan: unknown environment 'nowhere'")


def test_a_reader_that_leaves_early_is_no_traceback():
    # `modelform schema | head -1`: the pipe closes before the schema is written.
    reader = subprocess.Popen(
        [sys.executable, "-m", "modelform", "schema"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    reader.stdout.close()
    assert reader.wait(timeout=60) == 1
    assert reader.stderr.read() == b""


def test_the_installed_command_is_the_one_that_exits_at_once():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'modelform = "modelform.cli:run"' in pyproject.split("[project.scripts]", 1)[1].split("[", 1)[0]
