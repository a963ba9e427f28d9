"""The plan document's JSON Schema (`modelform plan --format json`, plan_version 1): published by
`modelform schema --plan`, and what `diff --against FILE` checks a saved plan against."""

from __future__ import annotations

import json
from typing import Any, Optional

_STRING = {"type": "string"}
_RESOURCE = {
    "type": "object",
    "required": ["urn", "type", "name", "parent", "inputs"],
    "properties": {
        "urn": _STRING,
        "type": _STRING,
        "name": _STRING,
        "parent": {"type": ["string", "null"]},
        "inputs": {"type": "object"},
        "options": {"type": "object"},
    },
    "additionalProperties": False,
}
_STACK = {
    "type": "object",
    "required": ["stack", "kind", "spec", "resources"],
    "properties": {
        "stack": _STRING,
        "kind": {"enum": ["Platform", "Model"]},
        "spec": _STRING,
        "images": {"type": "array", "items": _STRING},
        "account": {"type": "string", "pattern": "^[0-9]{12}$"},
        "resources": {"type": "array", "items": _RESOURCE},
    },
    "additionalProperties": False,
}
_FINDING = {
    "type": "object",
    "required": ["policy", "enforcement", "urn", "message"],
    "properties": {
        "policy": _STRING,
        "enforcement": {"enum": ["mandatory", "advisory"]},
        "urn": _STRING,
        "message": _STRING,
    },
    "additionalProperties": False,
}
PLAN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "modelform plan (plan_version 1)",
    "type": "object",
    "required": ["plan_version", "env", "stacks", "findings"],
    "properties": {
        "plan_version": {"const": 1},
        "env": _STRING,
        "stacks": {"type": "array", "items": _STACK},
        "findings": {"type": "array", "items": _FINDING},
    },
    "additionalProperties": False,
}


def plan_schema_text() -> str:
    return json.dumps(PLAN_SCHEMA, indent=2, sort_keys=True) + "\n"


def plan_problem(document: Any) -> Optional[str]:
    """The first way `document` is not a plan (`<path>: <what>`), or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(PLAN_SCHEMA).iter_errors(document))
    if error is None:
        return None
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return f"{path or 'the document'}: {error.message}"
