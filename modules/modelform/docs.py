"""`python -m modelform.docs --out docs/spec.md`: the spec language reference, generated.

Every field's path, type, default, allowed values and description come from `spec/schema.py`
(the same source the validator, the typed layer and `modelform schema` use), and the rules beyond
types from `spec/rules.py`; a test keeps the committed file equal to this output.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterator, Optional, Sequence

from .cli import write_output
from .spec.rules import RULES
from .spec.schema import MODEL_SCHEMA, PATTERN_HELP, PLATFORM_SCHEMA

TITLE = "# The spec language reference (spec_version 1)"
INTRO = """\
One YAML file per model (`kind: Model`) and one per platform (`kind: Platform`), under `specs/`.
This page is generated from the schema the validator uses (`make docs`); `modelform schema`
prints the same structure as a JSON Schema for editors, and `modelform validate` checks files
against it with `<file>:<line>:<col>: <field.path>: <message>` errors.

Paths use `[]` for list items. A field that is neither required nor defaulted may be left out.
Under `environments.<env>`, any field of the spec may be overridden for that environment.
"""


def _type(rules: dict) -> str:
    kind = rules.get("type")
    if kind == "dict" and "schema" not in rules:
        return "mapping"
    if kind == "list":
        return f"list of {_type(rules['schema'])}" if "schema" in rules else "list"
    names = {"dict": "mapping", "string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
    kinds = kind if isinstance(kind, list) else [kind]
    return " or ".join(names.get(k, str(k)) for k in kinds)


def _default(rules: dict) -> str:
    meta = rules.get("meta", {})
    if "default" not in meta:
        return ""
    value = meta["default"]
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ({}, [], ""):
        return "empty"
    return f"`{value}`"


def _constraints(rules: dict) -> str:
    parts = []
    if "allowed" in rules and rules.get("type") != "list":
        parts.append("one of " + ", ".join(f"`{v}`" for v in rules["allowed"]))
    if "min" in rules:
        parts.append(f">= {rules['min']}")
    if "max" in rules:
        parts.append(f"<= {rules['max']}")
    if "regex" in rules:
        parts.append(PATTERN_HELP.get(rules["regex"], f"matches `{rules['regex']}`"))
    if "maxlength" in rules and rules.get("type") == "string":
        parts.append(f"at most {rules['maxlength']} characters")
    if rules.get("check_with"):
        parts.append(f"parsed as {str(rules['check_with']).replace('_', ' ')}")
    return "; ".join(parts)


def _rows(fields: dict, prefix: str) -> Iterator[tuple[str, dict]]:
    for name, rules in fields.items():
        path = f"{prefix}{name}"
        yield path, rules
        if rules.get("type") == "dict" and isinstance(rules.get("schema"), dict):
            yield from _rows(rules["schema"], f"{path}.")
        elif rules.get("type") == "list" and isinstance(rules.get("schema"), dict):
            item = rules["schema"]
            if item.get("type") == "dict" and isinstance(item.get("schema"), dict):
                yield from _rows(item["schema"], f"{path}[].")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(schema: dict) -> list[str]:
    lines = ["| field | type | required | default | rules | description |", "|---|---|---|---|---|---|"]
    for path, rules in _rows(schema, ""):
        description = rules.get("meta", {}).get("description", "")
        lines.append(
            f"| `{path}` | {_type(rules)} | {'yes' if rules.get('required') else ''} | {_escape(_default(rules))} "
            f"| {_escape(_constraints(rules))} | {_escape(description)} |"
        )
    return lines


def reference_markdown() -> str:
    parts: list[Any] = [
        TITLE,
        "",
        INTRO,
        "## kind: Model",
        "",
        *_table(MODEL_SCHEMA),
        "",
        "## kind: Platform",
        "",
        *_table(PLATFORM_SCHEMA),
        "",
        "## Rules beyond types",
        "",
        "Each violation is one error with the file, line, column and field path.",
        "",
    ]
    parts += [f"{index}. {rule}" for index, rule in enumerate(RULES, start=1)]
    return "\n".join(parts) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelform.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write to this file instead of standard output")
    args = parser.parse_args(argv)
    write_output(reference_markdown(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
