"""`modelform`: the command line. Thin: parses arguments, calls the capability, prints.

Exit codes: 0 success, 1 invalid specs (one line per problem on stderr), 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from . import __version__
from .spec import SpecSet, load_specs
from .spec.json_schema import json_schema_text


def _validate(args: argparse.Namespace) -> int:
    specs = load_specs(args.paths or ["specs"], root=args.root)
    for error in specs.errors:
        print(error, file=sys.stderr)
    if specs.errors:
        files = len({e.file for e in specs.errors})
        print(f"{len(specs.errors)} problem(s) in {files} file(s)", file=sys.stderr)
        return 1
    for warning in specs.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    models = {spec.name for env in specs.environments for spec in specs.models(env)}
    platform = "1 platform" if specs.platform(specs.environments[0]) else "no platform"
    print(
        f"{len(specs.files)} spec file(s) valid: {len(models)} model(s), {platform}; "
        f"environments: {', '.join(specs.environments)}"
    )
    return 0


def _load(specs_dir: str, root: Optional[str]) -> Optional[SpecSet]:
    specs = load_specs([specs_dir], root=root)
    if specs.errors:
        for error in specs.errors:
            print(error, file=sys.stderr)
        print(f"{len(specs.errors)} problem(s) in the specs; nothing planned", file=sys.stderr)
        return None
    return specs


def write_output(text: str, out: Optional[str]) -> None:
    """`text` to the file `out`, or to standard output without one."""
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def _plan(args: argparse.Namespace) -> int:
    from .plan import PlanError, plan_environment, plan_json
    from .plan.render import plan_markdown, plan_table

    specs = _load(args.specs, args.root)
    if specs is None:
        return 1
    try:
        plan = plan_environment(specs, args.env)
    except PlanError as error:
        print(f"modelform plan: {error}", file=sys.stderr)
        return 1
    render = {"json": plan_json, "markdown": plan_markdown, "table": plan_table}[args.format]
    write_output(render(plan), args.out)
    mandatory = [f for f in plan["findings"] if f["enforcement"] == "mandatory"]
    for finding in mandatory:
        print(f"policy violation: {finding['policy']}: {finding['urn']}: {finding['message']}", file=sys.stderr)
    return 1 if mandatory else 0


def _images(args: argparse.Namespace) -> int:
    """The images `up` needs built first: the serving image of each code version the model stacks
    run, in the platform's repository (`--registry` fills in the repository's host)."""
    from .plan import PlanError, plan_environment
    from .plan.readiness import images_to_build

    specs = _load(args.specs, args.root)
    if specs is None:
        return 1
    try:
        plan = plan_environment(specs, args.env, progress=False)
    except PlanError as error:
        print(f"modelform images: {error}", file=sys.stderr)
        return 1
    for image, stacks in images_to_build(plan, args.registry).items():
        print(f"{image}  {' '.join(stacks)}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    import json

    from .plan import PlanError, plan_environment, plan_json
    from .plan.diff import diff_plans
    from .plan.git_specs import GitError, spec_texts_at
    from .plan.render import diff_markdown, diff_table
    from .spec import load_spec_texts

    head = _load(args.specs, args.root)
    if head is None:
        return 1
    try:
        if args.against:
            try:
                with open(args.against, encoding="utf-8") as handle:
                    base_plan = json.load(handle)
            except (OSError, ValueError) as error:
                print(f"modelform diff: cannot read {args.against}: {error}", file=sys.stderr)
                return 2
            head_plan = plan_environment(head, args.env)
        else:
            texts = spec_texts_at(args.base, args.specs)
            base = load_spec_texts(texts, root=args.root)
            if base.errors:
                for error in base.errors:
                    print(f"{args.base}: {error}", file=sys.stderr)
                print(f"the specs at {args.base} are invalid; nothing compared", file=sys.stderr)
                return 1
            touched = touched_models(dict(texts), head, base, args.env)
            base_plan = plan_environment(base, args.env, models=touched)
            head_plan = plan_environment(head, args.env, models=touched)
    except GitError as error:
        print(f"modelform diff: {error}", file=sys.stderr)
        return 2
    except PlanError as error:
        print(f"modelform diff: {error}", file=sys.stderr)
        return 1
    diff = diff_plans(base_plan, head_plan)
    render = {"json": plan_json, "markdown": diff_markdown, "table": diff_table}[args.format]
    write_output(render(diff), args.out)
    return 0


def touched_models(base_texts: dict, head: SpecSet, base: SpecSet, environment: str) -> Optional[set]:
    """Models whose spec file differs between base and head (None: all, when the platform did)."""
    head_texts = {}
    for file in head.files:
        with open(file, "rb") as handle:
            head_texts[file] = handle.read()
    changed = {f for f in base_texts.keys() | head_texts.keys() if base_texts.get(f) != head_texts.get(f)}
    platforms = [s.platform(environment) for s in (head, base)]
    if any(p is not None and p.source in changed for p in platforms):
        return None
    return {m.name for s in (head, base) for m in s.models(environment) if m.source in changed}


def _deploy(args: argparse.Namespace) -> int:
    from .deploy import DeployError, require_pulumi_cli, run

    try:
        require_pulumi_cli()
        specs = _load(args.specs, args.root)
        if specs is None:
            return 1
        return run(args.command, specs, args.env, args.model)
    except DeployError as error:
        print(f"modelform {args.command}: {error}", file=sys.stderr)
        return error.exit_code


def _schema(args: argparse.Namespace) -> int:
    write_output(json_schema_text(), args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelform",
        description="Machine-learning models as infrastructure: one YAML spec per model, provisioned with Pulumi.",
    )
    parser.add_argument("--version", action="version", version=f"modelform {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check spec files; one line per problem",
        description=(
            "Check spec files and report every problem of every file as <file>:<line>:<col>: <field.path>: <message>."
        ),
    )
    validate.add_argument("paths", nargs="*", metavar="PATH", help="spec files or folders (default: specs/)")
    validate.add_argument(
        "--root", help="repository root that model.code is relative to (default: the folder holding specs/)"
    )
    validate.set_defaults(handler=_validate)

    def common(command: argparse.ArgumentParser, formats: bool = True) -> None:
        command.add_argument("--env", default="dev", help="environment (default: dev)")
        command.add_argument("--specs", default="specs", help="folder of spec files (default: specs/)")
        command.add_argument("--root", help="repository root that model.code is relative to")
        if formats:
            command.add_argument("--format", choices=("table", "json", "markdown"), default="table")
            command.add_argument("--out", help="write to this file instead of standard output")

    plan = commands.add_parser("plan", help="offline plan of every stack of an environment (no credentials)")
    common(plan)
    plan.set_defaults(handler=_plan)

    images = commands.add_parser(
        "images",
        help="the serving images to build and push before `up` (model_code/Dockerfile, one per code version)",
    )
    common(images, formats=False)
    images.add_argument(
        "--registry", help="the ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com) to print full image names"
    )
    images.set_defaults(handler=_images)

    diff = commands.add_parser("diff", help="what a change does to the plan: per stack, create/update/delete")
    base = diff.add_mutually_exclusive_group(required=True)
    base.add_argument("--base", metavar="GIT_REF", help="compare with the specs at this git revision")
    base.add_argument("--against", metavar="PLAN.json", help="compare with a saved plan (`plan --format json`)")
    common(diff)
    diff.set_defaults(handler=_diff)

    for action, text in (
        ("preview", "preview the changes with the Pulumi CLI"),
        ("up", "deploy with the Pulumi CLI"),
        ("destroy", "destroy stacks with the Pulumi CLI (prod needs decommission: true)"),
    ):
        command = commands.add_parser(action, help=text)
        common(command, formats=False)
        command.add_argument("--model", action="append", metavar="NAME", help="only this model (repeatable)")
        command.set_defaults(handler=_deploy)

    schema = commands.add_parser("schema", help="print the JSON Schema of spec files (for editors)")
    schema.add_argument("--out", help="write to this file instead of standard output")
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
