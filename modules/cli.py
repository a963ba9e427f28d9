"""`modelform`: the command line. Thin: parses arguments, calls the capability, prints.

Exit codes: 0 success, 1 invalid specs (one line per problem on stderr), 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from . import __version__
from .spec import load_specs
from .spec.json_schema import json_schema_text


def _validate(args: argparse.Namespace) -> int:
    specs = load_specs(args.paths or ["specs"], root=args.root)
    for error in specs.errors:
        print(error, file=sys.stderr)
    if specs.errors:
        files = len({e.file for e in specs.errors})
        print(f"{len(specs.errors)} problem(s) in {files} file(s)", file=sys.stderr)
        return 1
    models = {spec.name for env in specs.environments for spec in specs.models(env)}
    platform = "1 platform" if specs.platform(specs.environments[0]) else "no platform"
    print(
        f"{len(specs.files)} spec file(s) valid: {len(models)} model(s), {platform}; "
        f"environments: {', '.join(specs.environments)}"
    )
    return 0


def _schema(args: argparse.Namespace) -> int:
    text = json_schema_text()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelform",
        description="Machine-learning models as infrastructure: one YAML spec per model, provisioned with Pulumi.",
    )
    parser.add_argument("--version", action="version", version=f"modelform {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check spec files; one line per problem", description=(
        "Check spec files and report every problem of every file as <file>:<line>:<col>: <field.path>: <message>."))
    validate.add_argument("paths", nargs="*", metavar="PATH", help="spec files or folders (default: specs/)")
    validate.add_argument("--root", help="repository root that model.code is relative to "
                          "(default: the folder holding specs/)")
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the JSON Schema of spec files (for editors)")
    schema.add_argument("--out", help="write to this file instead of standard output")
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
