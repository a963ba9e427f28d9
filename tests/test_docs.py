"""The repository's own documentation stays true: the generated spec reference is current, and
the user-facing texts speak only of the project."""

from __future__ import annotations

import re

from modelform.docs import reference_markdown
from modelform.spec.rules import RULES
from modelform.spec.schema import MODEL_SCHEMA, PLATFORM_SCHEMA
from tests.conftest import REPO


def test_committed_spec_reference_is_current():
    """docs/spec.md is generated from the schema and the rules; regenerate it with `make docs`."""
    assert (REPO / "docs" / "spec.md").read_text() == reference_markdown()


def test_reference_lists_every_field_and_rule():
    text = reference_markdown()
    for schema in (MODEL_SCHEMA, PLATFORM_SCHEMA):
        for name, rules in schema.items():
            assert f"| `{name}` |" in text
    for path in (
        "deployments[].autoscaling.scheduled[].min_instances",
        "training.spot",
        "clusters[].node_groups[].capacity",
        "monitoring.drift.threshold",
        "retraining.cooldown",
    ):
        assert f"| `{path}` |" in text, path
    assert all(rule in text for rule in RULES)
    assert "| `training.spot` | boolean |  | `false` |" in text


def test_user_facing_texts_speak_only_of_the_project():
    for path in [REPO / "README.md", REPO / "model_code" / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text()
        assert not re.search(r"\.\./shared|SPEC-v1|closing note|TOOLCHAIN|DESIGN\.md", text), path
