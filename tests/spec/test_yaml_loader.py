"""The YAML reader: positions, duplicate keys, safe tags only, bounded aliases, clear refusals."""

from __future__ import annotations


import pytest

from modelform.spec.errors import SpecErrors
from modelform.spec.located import LocatedList, LocatedMap, Mark, locate
from modelform.spec.yaml_loader import MAX_FILE_BYTES, parse_document, read_document


def problems(text) -> list[str]:
    with pytest.raises(SpecErrors) as raised:
        parse_document(text, "s.yaml")
    return [str(e) for e in raised.value.errors]


def test_positions_of_keys_and_values_are_kept():
    data = parse_document("a: 1\nb:\n  - x\n  - {c: true}\n", "s.yaml")
    assert data == {"a": 1, "b": ["x", {"c": True}]}
    assert isinstance(data, LocatedMap) and isinstance(data["b"], LocatedList)
    assert data.key_marks["b"] == Mark(2, 1)
    assert locate(data, ("b", 1, "c")) == Mark(4, 9)
    assert locate(data, ("b", 1, "c"), key=True) == Mark(4, 6)
    assert locate(data, ("b", 7, "c")) == Mark(3, 3)  # the deepest node that exists: the list


def test_yaml_timestamps_stay_the_text_the_user_wrote():
    assert parse_document("version: 2026-11-01\nat: 2026-11-27T00:00:00Z\n", "s.yaml") == {
        "version": "2026-11-01",
        "at": "2026-11-27T00:00:00Z",
    }


def test_anchors_aliases_and_merge_keys_work():
    data = parse_document("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n", "s.yaml")
    assert data["use"] == {"x": 1, "y": 3}


def test_duplicate_keys_all_reported():
    assert problems("a: 1\nb: {c: 1, c: 2}\na: 3\n") == [
        "s.yaml:2:11: b.c: duplicate key 'c' (first defined at line 2); YAML loaders silently keep the last one",
        "s.yaml:3:1: a: duplicate key 'a' (first defined at line 1); YAML loaders silently keep the last one",
    ]


def test_non_string_keys_are_refused_with_a_hint():
    assert problems("no: 1\n") == ["s.yaml:1:1: (root): keys must be strings; boolean false comes from 'no' (quote it)"]


@pytest.mark.parametrize(
    "text, tag",
    [
        ("a: !!python/object/apply:os.system ['echo pwned']\n", "!!python/object/apply:os.system"),
        ("a: !!python/name:os.system\n", "!!python/name:os.system"),
        ("a: !!binary aGk=\n", "!!binary"),
        ("a: !!set {x}\n", "!!set"),
        ("a: !Ref bucket\n", "!Ref"),
    ],
)
def test_only_plain_yaml_tags(text, tag):
    assert problems(text) == [
        f"s.yaml:1:4: (root): YAML tag '{tag}' is not allowed; spec files use plain YAML "
        "(strings, numbers, booleans, null, mappings, lists)"
    ]


def test_python_tag_never_executes(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(SpecErrors):
        parse_document(f"a: !!python/object/apply:os.system ['touch {marker}']\n", "s.yaml")
    assert not marker.exists()


def _alias_bomb(levels: int = 9) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast():
    assert problems(_alias_bomb()) == [
        "s.yaml:1:35: (root): the document expands to more than 50,000 nodes "
        "(alias expansion is bounded; is this an alias bomb?)"
    ]
    # Refused by counting nodes while composing, not by a timer: no wall-clock limit in tests.


def test_recursive_alias_is_refused():
    assert problems("a: &a [1, *a]\n") == [
        "s.yaml:1:4: (root): an alias refers to a node that contains it (recursive structure)"
    ]


def test_deep_nesting_is_refused():
    assert problems("a: " + "[" * 80 + "]" * 80 + "\n") == ["s.yaml:1:68: (root): nesting deeper than 64 levels"]
    assert problems("a: " + "[" * 5000 + "]" * 5000 + "\n")[0].startswith("s.yaml:1:")


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "",
            "s.yaml:1:1: (root): file is empty; a spec file holds one YAML mapping with `kind: Model` or "
            "`kind: Platform`",
        ),
        (
            "# only a comment\n",
            "s.yaml:1:1: (root): file is empty; a spec file holds one YAML mapping with `kind: Model` or "
            "`kind: Platform`",
        ),
        (
            "- a\n- b\n",
            "s.yaml:1:1: (root): a spec file holds one YAML mapping (`kind: Model` or `kind: Platform`), not a list",
        ),
        (
            "just text\n",
            "s.yaml:1:1: (root): a spec file holds one YAML mapping (`kind: Model` or `kind: Platform`), not "
            "string 'just text'",
        ),
        ("a: 1\n---\nb: 2\n", "s.yaml:3:1: (root): file holds 2 YAML documents; a spec file holds exactly one"),
        ("a: [1, 2\nb: 3\n", "s.yaml:2:2: (root): YAML syntax error: did not find expected ',' or ']'"),
        ("a: b: c\n", "s.yaml:1:5: (root): YAML syntax error: mapping values are not allowed in this context"),
        ("a: .inf\n", "s.yaml:1:4: a: '.inf' is not a finite number"),
        (
            "a: \x07\n",
            "s.yaml:1:4: (root): character #x0007 is not allowed in YAML: control characters are not allowed",
        ),
        ("a: 1\x00\n", "s.yaml:1:1: (root): file contains NUL characters; it is not a YAML text file"),
        (b"a: \xff\xfe\n", "s.yaml:1:1: (root): file is not UTF-8 text (byte 3)"),
    ],
)
def test_documents_that_are_not_one_mapping(text, expected):
    assert problems(text) == [expected]


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(SpecErrors) as raised:
        read_document(str(path))
    assert (
        str(raised.value)
        == f"{path}:1:1: (root): file is {MAX_FILE_BYTES + 1:,} bytes; spec files are limited to {MAX_FILE_BYTES:,}"
    )


def test_unreadable_file(tmp_path):
    with pytest.raises(SpecErrors) as raised:
        read_document(str(tmp_path))
    assert str(raised.value) == f"{tmp_path}:1:1: (root): cannot read file: Is a directory"


def test_a_tab_in_indentation_says_so_where_it_is():
    text = "spec_version: 1\nkind: Model\nmodel:\n  code: c\n\tframework_version: '2.6'\n"
    assert problems(text) == ["s.yaml:5:1: (root): tabs are not allowed for indentation; use spaces"]


def test_a_tab_inside_a_block_scalar_is_text_and_other_syntax_errors_keep_their_message():
    parse_document("description: |\n  a\n  \tb\nkind: Model\n", "s.yaml")  # no error
    found = problems("kind: Model\nname: [unclosed\n")
    assert len(found) == 1 and "YAML syntax error" in found[0] and "tabs" not in found[0]


def test_the_resolvers_answers_from_memory_are_its_own():
    import yaml

    from modelform.spec import yaml_loader

    texts = "\n".join(
        f"k{i}: {value}"
        for i, value in enumerate(["yes", "'yes'", "1", "'1'", "0x1F", "1.5", ".inf", "~", "null", "2026-11-01", "x"])
    )
    plain = yaml.compose(texts, Loader=yaml.SafeLoader)
    yaml_loader._resolved_tag.cache_clear()
    for _ in range(2):  # the second time from memory
        remembered = yaml.compose(texts, Loader=yaml_loader._LOADER)
        assert [(k.tag, v.tag) for k, v in remembered.value] == [(k.tag, v.tag) for k, v in plain.value]
    assert "tag:yaml.org,2002:bool" in {v.tag for _, v in remembered.value}
    memory = yaml_loader._resolved_tag.cache_info()
    assert memory.hits >= memory.misses > 0
    assert memory.maxsize == yaml_loader.MAX_RESOLVED  # bounded: the least recently used are forgotten


def test_the_composers_path_hooks_may_do_nothing():
    """`_Loader` answers the composer's per-node path calls with no-ops: right only while no
    path-based resolver is registered."""
    from modelform.spec import yaml_loader

    assert yaml_loader._Loader.yaml_path_resolvers == {}
    assert yaml_loader._RESOLVER.yaml_path_resolvers == {}


def test_scalars_from_memory_are_checked_like_new_ones():
    """Numbers are constructed once per text and then remembered; a non-finite one is still
    reported at every place it is written, the second time from memory too."""
    for _ in range(2):
        assert problems("a: .inf\nb: [1, -.inf]\nc: 0x1F\n") == [
            "s.yaml:1:4: a: '.inf' is not a finite number",
            "s.yaml:2:8: b[1]: '-.inf' is not a finite number",
        ]
    assert parse_document("a: 0x1F\nb: 1_000\nc: true\nd: ~\ne: 1.5\n", "s.yaml") == {
        "a": 31,
        "b": 1000,
        "c": True,
        "d": None,
        "e": 1.5,
    }
