"""`modelform schema`: the cerberus schemas of `schema.py` as one JSON Schema (draft 2020-12).

Editors use it to complete and check spec files:
`# yaml-language-server: $schema=./modelform.schema.json`. It states the structure (types,
allowed values, bounds, patterns, required keys, defaults, descriptions); the rules that relate
several fields or files are enforced by `modelform validate` and described in each field's
description.
"""

from __future__ import annotations

import json
from typing import Any

from .schema import ENVIRONMENT_PATTERN, SCHEMAS, SPEC_VERSION

SCHEMA_ID = f"https://modelform.dev/schema/spec-v{SPEC_VERSION}.json"

_FORMATS = {
    "duration": {"pattern": r"^[0-9]+[smhd]$", "note": "A duration: <integer> and s, m, h or d."},
    "schedule": {"pattern": r"^(rate|cron)\(.*\)$", "note": "An EventBridge schedule expression."},
    "s3_uri": {"pattern": r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", "note": "An S3 URI."},
    "email": {"format": "email"},
    "timestamp": {"format": "date-time"},
}


def _convert(rules: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    kinds = rules.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    json_types = [
        {
            "string": "string",
            "integer": "integer",
            "number": "number",
            "boolean": "boolean",
            "dict": "object",
            "list": "array",
        }[k]
        for k in kinds
        if k
    ]
    out: dict[str, Any] = {}
    if json_types:
        out["type"] = json_types[0] if len(json_types) == 1 else json_types
    meta = rules.get("meta", {})
    if "description" in meta:
        out["description"] = meta["description"]
    if "default" in meta:
        out["default"] = meta["default"]
    if "allowed" in rules:
        if "array" in json_types:
            out["items"] = {"enum": rules["allowed"]}
        else:
            out["enum"] = rules["allowed"]
    if "regex" in rules:
        out["pattern"] = rules["regex"]
    for cerberus_rule, keyword in (("min", "minimum"), ("max", "maximum")):
        if cerberus_rule in rules:
            out[keyword] = rules[cerberus_rule]
    for cerberus_rule, suffix in (("minlength", "min"), ("maxlength", "max")):
        if cerberus_rule in rules:
            for json_type in json_types:
                name = {"string": "Length", "array": "Items", "object": "Properties"}.get(json_type)
                if name:
                    out[f"{suffix}{name}"] = rules[cerberus_rule]
    if rules.get("empty") is False and "string" in json_types:
        out.setdefault("minLength", 1)
    check = rules.get("check_with")
    if check in _FORMATS:
        extra = dict(_FORMATS[check])
        note = extra.pop("note", None)
        out.update(extra)
        if note:
            out["description"] = f"{out.get('description', '')} {note}".strip()
    if "dict" in kinds and isinstance(rules.get("schema"), dict):
        out.update(_object(rules["schema"], partial=partial))
    if "list" in kinds and isinstance(rules.get("schema"), dict):
        out["items"] = _convert(rules["schema"], partial=partial)
    if "keysrules" in rules:
        out["propertyNames"] = {k: v for k, v in _convert(rules["keysrules"], partial=partial).items() if k != "type"}
    if "valuesrules" in rules:
        out["additionalProperties"] = _convert(rules["valuesrules"], partial=partial)
    return out


def _object(fields: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "properties": {name: _convert(rules, partial=partial) for name, rules in fields.items()},
        "additionalProperties": False,
    }
    required = [name for name, rules in fields.items() if rules.get("required")]
    if required and not partial:
        result["required"] = required
    return result


def _kind_schema(kind: str) -> dict[str, Any]:
    fields = {name: rules for name, rules in SCHEMAS[kind].items() if name != "environments"}
    schema = {"type": "object", "title": f"modelform {kind} spec v{SPEC_VERSION}", **_object(fields, partial=False)}
    override = {"type": ["object", "null"], **_object(fields, partial=True)}
    schema["properties"]["environments"] = {
        "type": "object",
        "description": SCHEMAS[kind]["environments"]["meta"]["description"],
        "propertyNames": {"pattern": ENVIRONMENT_PATTERN},
        "additionalProperties": {"$ref": f"#/$defs/{kind}Override"},
    }
    return schema, override  # type: ignore[return-value]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both spec kinds, selected by `kind`."""
    definitions: dict[str, Any] = {}
    for kind in SCHEMAS:
        definitions[kind], definitions[f"{kind}Override"] = _kind_schema(kind)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"modelform spec v{SPEC_VERSION}",
        "description": "A modelform spec file: kind Model (one ML model) or kind Platform (shared infrastructure).",
        # if/then on `kind` rather than oneOf: editors then report the field that is wrong, not
        # "does not match any of the alternatives".
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(SCHEMAS)}},
        "allOf": [
            {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}, "then": {"$ref": f"#/$defs/{kind}"}}
            for kind in SCHEMAS
        ],
        "$defs": definitions,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
