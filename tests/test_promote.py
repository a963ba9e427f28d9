"""`modelform promote`: the spec file changes in the value promoted and nowhere else, the result
validates, and with AWS credentials only Approved registry versions are promoted (moto)."""

from __future__ import annotations

import difflib
import shutil

import boto3
import pytest
from moto import mock_aws

from modelform.cli import main
from modelform.promote import PromoteError, edit_text
from modelform.spec import load_spec_texts
from modelform.spec.yaml_loader import parse_document
from tests.conftest import REPO, SPECS

SAMPLES = {path.name: path.read_text() for path in sorted(SPECS.glob("*.yaml"))}


def variants_of(text: str, name: str):
    document = parse_document(text, name)
    if document.get("kind") != "Model":
        return []
    return [
        (deployment["name"], variant["name"], variant)
        for deployment in document["deployments"]
        for variant in deployment["variants"]
    ]


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    removed = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:2] in ("- ", "+ ")]
    return [(removed[i][2:], removed[i + 1][2:]) for i in range(0, len(removed), 2)]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_variant_of_every_sample_round_trips_byte_for_byte_but_the_value(name):
    text = SAMPLES[name]
    for deployment, variant, mapping in variants_of(text, name):
        if "model_version" not in mapping:
            continue
        old, new = mapping["model_version"], mapping["model_version"] + 100
        edited, edits = edit_text(
            text, name, deployment=deployment, variant=variant, environment=None, changes={"model_version": str(new)}
        )
        ((before, after),) = changed_lines(text, edited)
        assert after == before.replace(f"model_version: {old}", f"model_version: {new}", 1)
        assert len(edited) == len(text) + len(str(new)) - len(str(old))
        assert [(e.before, e.after) for e in edits] == [(str(old), str(new))]
        others = [(n, t) for n, t in SAMPLES.items() if n != name]
        specs = load_spec_texts([*others, (name, edited)], root=str(REPO))
        assert specs.errors == []
        assert next(v for v in specs.model(mapping_model(text), "prod").deployments if v.name == deployment)


def mapping_model(text: str) -> str:
    return parse_document(text, "x")["name"]


def test_a_weight_is_added_in_the_mappings_own_style():
    flow = "variants:\n  - {name: a, model_version: 1}\n"
    edited, _ = _edit_variants(flow, {"weight": "25"})
    assert edited == "variants:\n  - {name: a, model_version: 1, weight: 25}\n"
    block = "variants:\n  - name: a\n    model_version: 1  # the first\n"
    edited, edits = _edit_variants(block, {"weight": "25"})
    assert edited == "variants:\n  - name: a\n    model_version: 1  # the first\n    weight: 25\n"
    assert edits[0].before is None and edits[0].line == 8  # in the whole file


def _edit_variants(variants: str, changes: dict):
    text = "kind: Model\nname: m\ndeployments:\n  - name: d\n" + "".join(
        "    " + line + "\n" for line in variants.splitlines()
    )
    edited, edits = edit_text(text, "m.yaml", deployment="d", variant="a", environment=None, changes=changes)
    prefix = "kind: Model\nname: m\ndeployments:\n  - name: d\n"
    return "".join(line[4:] + "\n" for line in edited[len(prefix) :].splitlines()), edits


def test_two_values_on_one_line_of_different_lengths():
    edited, _ = _edit_variants(
        "variants:\n  - {name: a, model_version: 9, weight: 5}\n", {"model_version": "10", "weight": "95"}
    )
    assert edited == "variants:\n  - {name: a, model_version: 10, weight: 95}\n"


def test_an_environment_override_is_edited_where_it_sets_the_value():
    text = SAMPLES["fraud-detector.yaml"].replace(
        "  prod:\n    protect: true\n",
        "  prod:\n    protect: true\n    deployments:\n      - name: default\n        variants:\n"
        "          - {name: current, model_version: 11}\n",
    )
    edited, edits = edit_text(
        text, "f.yaml", deployment="default", variant="current", environment="prod", changes={"model_version": "12"}
    )
    assert edits[0].path == "environments.prod.deployments[0].variants[0].model_version"
    assert changed_lines(text, edited) == [
        ("          - {name: current, model_version: 11}", "          - {name: current, model_version: 12}")
    ]


@pytest.mark.parametrize(
    "deployment, variant, changes, message",
    [
        (
            "nope",
            "current",
            {"model_version": "2"},
            "no deployment 'nope' in the spec (deployments: default, eu-enterprise, sandbox)",
        ),
        (
            "default",
            "nope",
            {"model_version": "2"},
            "no variant 'nope' in deployment 'default' (variants: current, candidate)",
        ),
    ],
)
def test_what_is_not_there_is_refused(deployment, variant, changes, message):
    with pytest.raises(PromoteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        edit_text(
            SAMPLES["fraud-detector.yaml"],
            "f.yaml",
            deployment=deployment,
            variant=variant,
            environment=None,
            changes=changes,
        )


def test_an_artifact_variant_is_not_promoted_to_a_version():
    text = "kind: Model\nname: m\ndeployments:\n  - name: d\n    variants: [{name: a, artifact: s3://b/m.tar.gz}]\n"
    with pytest.raises(PromoteError, match="serves an artifact"):
        edit_text(text, "m.yaml", deployment="d", variant="a", environment=None, changes={"model_version": "3"})


@pytest.fixture
def repo(tmp_path, monkeypatch):
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(REPO / "model_code", tmp_path / "model_code", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    return tmp_path


def test_the_command_edits_validates_and_says_it_could_not_ask_the_registry(repo, capsys):
    before = (repo / "specs" / "fraud-detector.yaml").read_text()
    argv = ["promote", "fraud-detector", "--deployment", "default", "--variant", "candidate", "--to-version", "14"]
    assert main(argv + ["--weight", "25"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "specs/fraud-detector.yaml:40: deployments[0].variants[1].model_version: 13 -> 14",
        "specs/fraud-detector.yaml:40: deployments[0].variants[1].weight: 10 -> 25",
    ]
    assert "not checked against the registry (no AWS credentials)" in captured.err
    after = (repo / "specs" / "fraud-detector.yaml").read_text()
    assert changed_lines(before, after) == [
        (
            "      - {name: candidate, model_version: 13, weight: 10}",
            "      - {name: candidate, model_version: 14, weight: 25}",
        )
    ]


def test_an_edit_that_breaks_the_spec_writes_nothing(repo, capsys):
    before = (repo / "specs" / "fraud-detector.yaml").read_text()
    argv = ["promote", "fraud-detector", "--deployment", "default", "--variant", "candidate", "--weight", "-1"]
    assert main(argv) == 1
    assert "the edit would make the specs invalid" in capsys.readouterr().err
    assert (repo / "specs" / "fraud-detector.yaml").read_text() == before


@pytest.mark.parametrize("status, code", [("Approved", 0), ("PendingManualApproval", 1), ("Rejected", 1)])
def test_with_credentials_only_approved_versions_are_promoted(repo, capsys, monkeypatch, status, code):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    before = (repo / "specs" / "fraud-detector.yaml").read_text()
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_model_package_group(ModelPackageGroupName="fraud-detector")
        for _ in range(14):  # versions 1..14; the 14th is the one promoted
            client.create_model_package(
                ModelPackageGroupName="fraud-detector",
                ModelApprovalStatus=status,
                InferenceSpecification={
                    "Containers": [{"Image": "image"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
            )
        argv = ["promote", "fraud-detector", "--deployment", "default", "--variant", "candidate", "--to-version", "14"]
        assert main(argv) == code
    err = capsys.readouterr().err
    after = (repo / "specs" / "fraud-detector.yaml").read_text()
    if code:
        assert f"version 14 of fraud-detector is {status} in the registry; only Approved versions are promoted" in err
        assert after == before
    else:
        assert after != before and "not checked" not in err


def test_a_version_missing_from_the_registry_is_refused(repo, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        argv = ["promote", "fraud-detector", "--deployment", "default", "--variant", "candidate", "--to-version", "99"]
        assert main(argv) == 1
    assert "version 99 of fraud-detector is not in its registry" in capsys.readouterr().err


def test_nothing_to_change_is_a_usage_error(repo, capsys):
    assert main(["promote", "fraud-detector", "--deployment", "default", "--variant", "candidate"]) == 2
    assert "say what changes" in capsys.readouterr().err
