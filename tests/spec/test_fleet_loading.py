"""Loading fleets fast without changing a single answer.

- The structural fast path (`validator._accepts`) never accepts what cerberus refuses, and accepts
  the valid samples (else it would be dead weight); refusals always come worded by cerberus.
- `load_specs(only=...)` validates the named files and the Platform spec, and knows every other
  model by name (`model_name_of`), for the cross-file name rule.
"""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelform.spec import load_specs
from modelform.spec.errors import SpecErrors
from modelform.spec.loader import model_name_of
from modelform.spec.merge import apply_environment
from modelform.spec.schema import SCHEMAS
from modelform.spec.validator import _accepts, cerberus_problems, structural_errors
from modelform.spec.yaml_loader import parse_document
from tests.conftest import DEPLOYMENT, HEADER, PLATFORM
from tests.spec.test_fuzz import EMPTY_VALUES, ODD_VALUES, PLAIN, SAMPLES, _mutate, _parent, _paths


def assert_agrees(document: dict, kind: str) -> None:
    schema = SCHEMAS[kind]
    if _accepts(document, schema):
        assert cerberus_problems(document, schema) == [], "the fast path accepted what cerberus refuses"


def test_the_fast_path_accepts_every_valid_sample_and_every_environment_of_it():
    for name, text in SAMPLES.items():
        document = parse_document(text, name)
        schema = SCHEMAS[document["kind"]]
        assert _accepts(document, schema), name
        for environment in ("dev", "staging", "prod"):
            assert _accepts(apply_environment(document, environment), schema), (name, environment)


def test_every_field_retyped_every_way_is_never_wrongly_accepted():
    """Not sampled: every path of every sample, set to every odd value and emptied each way."""
    for document in PLAIN.values():
        for path in _paths(document):
            for value in (*ODD_VALUES, *EMPTY_VALUES):
                mutated = copy.deepcopy(document)
                _parent(mutated, path)[path[-1]] = copy.deepcopy(value)
                assert_agrees(mutated, document["kind"])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PLAIN)), st.data())
def test_mutated_documents_are_never_wrongly_accepted(name, data):
    assert_agrees(_mutate(PLAIN[name], data), PLAIN[name]["kind"])


def test_a_check_answered_from_memory_is_the_checks_own_answer():
    """`check_with` answers for strings are remembered (a fleet repeats its schedules and
    durations); the second document gets the same answer, refusal included."""
    from modelform.spec import validator

    validator._CHECKED.clear()
    for _ in range(2):
        for schedule, accepted in (("rate(6 hours)", True), ("rate(6 weeks)", False), ("cron(0 2 * * ? *)", True)):
            document = copy.deepcopy(PLAIN["car-damage-estimator.yaml"])
            document["monitoring"]["schedule"] = schedule
            assert _accepts(document, SCHEMAS["Model"]) is accepted, schedule
            assert (structural_errors(document, SCHEMAS["Model"]) == []) is accepted, schedule
    assert validator._CHECKED[("schedule", "rate(6 weeks)")] is False
    assert validator._MAX_CHECKED == 100_000  # bounded


def test_refusals_are_worded_by_cerberus_whatever_the_fast_path_says():
    document = copy.deepcopy(PLAIN["fraud-detector.yaml"])
    document["deployments"][0]["target"] = "sagmaker"
    assert structural_errors(document, SCHEMAS["Model"]) == [
        (
            ("deployments", 0, "target"),
            "must be one of sagemaker, eks (got string 'sagmaker') (did you mean 'sagemaker'?)",
            False,
        )
    ]


# -- selective loading --------------------------------------------------------------------------


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / "specs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path)


def model(name: str) -> str:
    return HEADER.replace("name: fraud", f"name: {name}") + DEPLOYMENT


def test_only_the_named_files_and_the_platform_are_validated(tmp_path):
    (tmp_path / "model_code").mkdir()
    write(tmp_path, "platform.yaml", PLATFORM)
    changed = write(tmp_path, "a.yaml", model("alpha"))
    write(tmp_path, "b.yaml", model("beta") + "this: is not checked\n")  # invalid, but not read
    specs = load_specs([str(tmp_path / "specs")], root=str(tmp_path), only=[changed])
    assert specs.errors == []
    assert [m.name for m in specs.models("dev")] == ["alpha"]
    assert specs.platform("dev") is not None
    assert specs.indexed == {str(tmp_path / "specs" / "b.yaml"): "beta"}
    # A full load reads every file, and finds what the selective one did not look at.
    full = load_specs([str(tmp_path / "specs")], root=str(tmp_path))
    assert [e.path for e in full.errors] == ["this"] and full.indexed == {}


def test_a_name_taken_by_an_indexed_file_is_reported_on_the_validated_one(tmp_path):
    (tmp_path / "model_code").mkdir()
    write(tmp_path, "platform.yaml", PLATFORM)
    write(tmp_path, "a.yaml", model("alpha"))
    changed = write(tmp_path, "b.yaml", model("alpha"))
    specs = load_specs([str(tmp_path / "specs")], root=str(tmp_path), only=[changed])
    assert [(e.file.rsplit("/", 1)[-1], e.line, e.path, e.message) for e in specs.errors] == [
        ("b.yaml", 3, "name", f"model 'alpha' is also defined in {tmp_path}/specs/a.yaml; model names are unique")
    ]


_LINES = [
    "kind: Model",
    "kind: Platform",
    "kind: 'Model'",
    "name: alpha",
    'name: "beta"  # quoted',
    "name: Gamma",
    "name: &n alpha",
    "name: [alpha]",
    "---",
    "...",
    "%YAML 1.1",
    "{kind: Model, name: delta}",
    "? name",
    ": epsilon",
    "description: |",
    "  name: inside a block scalar",
    "  kind: Platform",
    "tags: {a: b}",
    "# name: commented",
    "owner: x@acme.example",
    "!!map",
    "- item",
]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_LINES), max_size=8))
def test_a_name_read_without_parsing_is_always_the_parsed_one(lines):
    """Whatever the lines, `model_name_of` either declines (the file is then parsed) or gives
    exactly the model name a parse of the file finds. (A file that does not parse is reported
    wherever it is validated; what name it was indexed under changes no answer.)"""
    text = "\n".join(lines) + "\n"
    name = model_name_of(text.encode())
    if name is None:
        return
    try:
        document = parse_document(text, "s.yaml")
    except SpecErrors:
        return
    assert (document.get("kind"), document.get("name")) == ("Model", name)


def test_names_are_read_without_parsing_only_from_plain_block_specs():
    assert model_name_of(model("alpha").encode()) == "alpha"
    assert model_name_of(b'kind: Model\nname: "alpha"  # the model\n') == "alpha"
    assert model_name_of(PLATFORM.encode()) is None  # a Platform spec is always validated
    assert model_name_of(b"{kind: Model, name: alpha}\n") is None  # flow style: parsed instead
    assert model_name_of(b"kind: Model\nname: alpha\nname: beta\n") is None  # duplicate key: parsed
    assert model_name_of(b"kind: Model\nname: alpha\n---\nkind: Model\nname: beta\n") is None
    assert model_name_of(b"kind: Model\nname: &n alpha\n") is None  # anchors: parsed
    assert model_name_of(b"kind: Model\n") is None


def test_a_spec_that_cannot_be_indexed_is_validated(tmp_path):
    (tmp_path / "model_code").mkdir()
    write(tmp_path, "platform.yaml", PLATFORM)
    write(tmp_path, "odd.yaml", yaml.safe_dump(yaml.safe_load(model("odd")), default_flow_style=True))
    changed = write(tmp_path, "a.yaml", model("alpha"))
    specs = load_specs([str(tmp_path / "specs")], root=str(tmp_path), only=[changed])
    assert specs.errors == [] and specs.indexed == {}
    assert [m.name for m in specs.models("dev")] == ["alpha", "odd"]
