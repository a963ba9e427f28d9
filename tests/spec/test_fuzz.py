"""Whatever a spec file holds, the loader answers with SpecErrors (or typed specs), never a crash.

Valid sample specs are mutated (keys dropped, renamed, values retyped, values swapped between
places, list items duplicated, text cut and spliced) and fed to the loader.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelform.spec import SpecError, load_spec_texts
from tests.conftest import REPO, SPECS

SAMPLES = {path.name: path.read_text() for path in sorted((SPECS).glob("*.yaml"))}
PLAIN = {name: yaml.safe_load(text) for name, text in SAMPLES.items()}

ODD_VALUES = [
    None,
    0,
    -1,
    1.5,
    10**12,
    True,
    False,
    "",
    "x",
    "ml.g5.xlarge",
    "rate(1 hour)",
    "s3://a/b",
    "2026-11-27T00:00:00Z",
    [],
    [1, "a"],
    {},
    {"name": "x"},
    [{"name": "current"}],
    "all",
    "eks",
    "sagemaker",
    "4h",
    "x" * 300,
]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


def _parent(document: Any, path: tuple) -> Any:
    for element in path[:-1]:
        document = document[element]
    return document


def _mutate(document: dict, data: st.DataObject) -> dict:
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(document)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent, last = _parent(document, path), path[-1]
        action = data.draw(st.sampled_from(["drop", "retype", "rename", "swap", "duplicate"]), label="action")
        if action == "drop":
            del parent[last]
        elif action == "retype":
            parent[last] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES), label="value"))
        elif action == "rename" and isinstance(parent, dict):
            new = data.draw(
                st.sampled_from([str(last) + "s", str(last)[:-1], str(last).upper(), "x-" + str(last)]), label="new"
            )
            parent[new] = parent.pop(last)
        elif action == "swap":
            other = data.draw(st.sampled_from(paths), label="other")
            try:
                other_parent = _parent(document, other)
                parent[last], other_parent[other[-1]] = (
                    copy.deepcopy(other_parent[other[-1]]),
                    copy.deepcopy(parent[last]),
                )
            except (KeyError, IndexError, TypeError):
                pass  # the other path went away with an earlier mutation of this round
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
    return document


def _assert_only_spec_errors(texts: list[tuple[str, str]]) -> None:
    specs = load_spec_texts(texts, root=str(REPO))  # any other exception fails the test
    for error in specs.errors:
        assert isinstance(error, SpecError)
        assert error.line >= 1 and error.column >= 1 and error.path and error.message
        assert "\n" not in str(error)
    if not specs.errors:
        for environment in specs.environments:
            assert len(specs.models(environment)) == sum(1 for d in PLAIN.values() if d["kind"] == "Model")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PLAIN)), st.data())
def test_mutated_specs_give_only_spec_errors(name, data):
    mutated = _mutate(PLAIN[name], data)
    texts = [(other, SAMPLES[other]) for other in SAMPLES if other != name]
    texts.append((name, yaml.safe_dump(mutated, sort_keys=False)))
    _assert_only_spec_errors(texts)


@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_cut_and_spliced_text_gives_only_spec_errors(name, data):
    text = SAMPLES[name]
    start = data.draw(st.integers(0, len(text)), label="start")
    end = data.draw(st.integers(start, min(len(text), start + 80)), label="end")
    insert = data.draw(st.text(alphabet=":-[]{}&*!|>'\"#,? \n\tab1", max_size=12), label="insert")
    texts = [(other, SAMPLES[other]) for other in SAMPLES if other != name]
    texts.append((name, text[:start] + insert + text[end:]))
    _assert_only_spec_errors(texts)


EMPTY_VALUES = (None, [], {})


def test_every_field_left_empty_gives_only_spec_errors():
    """Not sampled: every path of every sample, emptied each way YAML can (`key:` is null, `[]`,
    `{}`; the empty string is among ODD_VALUES). Found `drift: {features: }` crashing once."""
    for name, document in sorted(PLAIN.items()):
        others = [(other, SAMPLES[other]) for other in SAMPLES if other != name]
        for path in _paths(document):
            for empty in EMPTY_VALUES:
                mutated = copy.deepcopy(document)
                _parent(mutated, path)[path[-1]] = copy.deepcopy(empty)
                _assert_only_spec_errors(others + [(name, yaml.safe_dump(mutated, sort_keys=False))])


def test_an_empty_feature_list_is_reported_where_it_was_written():
    text = SAMPLES["fraud-detector.yaml"].replace("features: all}", "features: }")
    assert text != SAMPLES["fraud-detector.yaml"]
    specs = load_spec_texts(
        [(n, t) for n, t in SAMPLES.items() if n != "fraud-detector.yaml"] + [("fraud-detector.yaml", text)],
        root=str(REPO),
    )
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "features: }" in row)
    assert [str(e) for e in specs.errors] == [
        f"fraud-detector.yaml:{line}:50: monitoring.drift.features: needs a value (got null)"
    ]
