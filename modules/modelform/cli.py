"""`modelform`: the command line. Thin: parses arguments, calls the capability, prints.

Exit codes: 0 success, 1 invalid specs or a failed plan (one line per problem on stderr), 2 usage
errors; with `--detailed-exitcode`, `plan` and `diff` exit 2 when there are changes (0 none, 1 an
error), as Terraform does. Ctrl-C exits 130 with one line, and leaves no partial output file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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
    if specs.warnings and args.strict:
        print(f"{len(specs.warnings)} warning(s), and --strict makes them errors", file=sys.stderr)
        return 1
    models = {spec.name for env in specs.environments for spec in specs.models(env)}
    platform = "1 platform" if specs.platform(specs.environments[0]) else "no platform"
    print(
        f"{len(specs.files)} spec file(s) valid: {len(models)} model(s), {platform}; "
        f"environments: {', '.join(specs.environments)}"
    )
    return 0


def _load(specs_dir: str, root: Optional[str], only: Optional[set[str]] = None) -> Optional[SpecSet]:
    specs = load_specs([specs_dir], root=root, only=only)
    if specs.errors:
        for error in specs.errors:
            print(error, file=sys.stderr)
        print(f"{len(specs.errors)} problem(s) in the specs; nothing planned", file=sys.stderr)
        return None
    return specs


def write_output(text: str, out: Optional[str]) -> None:
    """`text` to the file `out` (written whole or not at all: a temporary file renamed into place),
    or to standard output without one."""
    if not out:
        sys.stdout.write(text)
        return
    folder = os.path.dirname(os.path.abspath(out))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".modelform-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, out)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def output_problem(out: Optional[str]) -> Optional[str]:
    """Why `--out` cannot be written (checked before the work, not after it), or None."""
    if not out:
        return None
    path = os.path.abspath(out)
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        return f"--out {out} is a folder"
    if not os.path.isdir(folder):
        return f"--out {out}: the folder {folder} does not exist"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"--out {out} is not writable"
    return None


def _write(args: argparse.Namespace, document: dict, renderers: dict[str, str]) -> None:
    from .plan import plan_json
    from .plan import render as renderers_module

    render = plan_json if args.format == "json" else getattr(renderers_module, renderers[args.format])
    text = render(document)
    if args.format == "table" and not args.out and renderers_module.colour_wanted(sys.stdout, os.environ):
        text = renderers_module.colourise(text)
    write_output(text, args.out)


def _plan(args: argparse.Namespace) -> int:
    from .plan import PlanError, plan_environment

    specs = _load(args.specs, args.root)
    if specs is None:
        return 1
    try:
        models = set() if args.platform_only else set(args.model) if args.model else None
        plan = plan_environment(specs, args.env, models=models, jobs=args.jobs)
    except PlanError as error:
        print(f"modelform plan: {error}", file=sys.stderr)
        return 1
    _write(args, plan, {"markdown": "plan_markdown", "table": "plan_table"})
    mandatory = [f for f in plan["findings"] if f["enforcement"] == "mandatory"]
    for finding in mandatory:
        print(f"policy violation: {finding['policy']}: {finding['urn']}: {finding['message']}", file=sys.stderr)
    if mandatory:
        return 1
    # Offline there is no state: every planned resource is a change (to create).
    return 2 if args.detailed_exitcode and any(s["resources"] for s in plan["stacks"]) else 0


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
    from .plan import PlanError, StackMemo, plan_environment
    from .plan.diff import diff_plans
    from .plan.git_specs import GitError

    models = set(args.model) if args.model else None
    scope_json = None
    memo = StackMemo()  # a stack whose inputs are the same on both sides is planned once
    try:
        if args.against:
            base_plan = _saved_plan(args)
            if base_plan is None:
                return _usage_error(args)
            head = _load(args.specs, args.root)
            if head is None:
                return 1
            head_plan = plan_environment(head, args.env, models=models, jobs=args.jobs)
        else:
            sides = _sides_at_base(args)
            if not isinstance(sides, tuple):
                return sides
            head, base, scope, top = sides
            selected = scope.model_names
            if models is not None:
                selected = models if selected is None else selected & models
            scope_json = {"everything": scope.everything, "models": scope.models}
            if scope.code_changed:
                from .plan.scope import plan_at_revision

                base_plan = plan_at_revision(args.base, top, args.specs, args.env, selected)
            else:  # only specs differ: the current program plans REF's specs as REF's would
                base_plan = plan_environment(base, args.env, models=selected, memo=memo, jobs=args.jobs)
            head_plan = plan_environment(head, args.env, models=selected, memo=memo, jobs=args.jobs)
    except GitError as error:
        print(f"modelform diff: {error}", file=sys.stderr)
        return _usage_error(args)
    except PlanError as error:
        print(f"modelform diff: {error}", file=sys.stderr)
        return 1
    if models is not None:
        base_plan = {**base_plan, "stacks": [s for s in base_plan["stacks"] if _selected(s, models)]}
    diff = diff_plans(base_plan, head_plan)
    if scope_json is not None:
        diff["scope"] = scope_json
    _write(args, diff, {"markdown": "diff_markdown", "table": "diff_table"})
    return 2 if args.detailed_exitcode and diff["summary"]["stacks"] else 0


def _saved_plan(args: argparse.Namespace) -> Optional[dict]:
    """The plan of `--against`, checked against the plan schema; None (reported) when unusable."""
    import json

    from .plan.plan_schema import plan_problem

    try:
        with open(args.against, encoding="utf-8") as handle:
            plan = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"modelform diff: cannot read {args.against}: {error}", file=sys.stderr)
        return None
    problem = plan_problem(plan)
    if problem:
        print(f"modelform diff: {args.against} is not a modelform plan: {problem}", file=sys.stderr)
        return None
    return plan


def _sides_at_base(args: argparse.Namespace):
    """(head specs, base specs, scope, repository top) for `--base`, or an exit code.

    When only spec files changed, both sides validate just those files and the Platform spec
    (the other models are known by name, for the cross-file rules): a one-spec change costs the
    same in a repository of 3 models or of 1,000. Anything else changed: every spec is read."""
    from .plan.git_specs import spec_texts_at
    from .plan.scope import changed_files, changed_spec_files, repository_top, select
    from .spec import load_spec_texts

    top = repository_top(os.path.abspath(args.specs) if os.path.isdir(args.specs) else os.getcwd())
    changed = changed_files(args.base, top)
    only = changed_spec_files(changed, top, args.specs)
    head = _load(args.specs, args.root, only)
    if head is None:
        return 1
    platform = head.platform(args.env)
    wanted = None
    if only is not None and platform is not None and os.path.abspath(platform.source) in only:
        head = _load(args.specs, args.root)  # the Platform changed: every model stack is selected
        if head is None:
            return 1
    elif only is not None:
        wanted = only | ({os.path.abspath(platform.source)} if platform is not None else set())
    base = load_spec_texts(spec_texts_at(args.base, args.specs, wanted), root=args.root, indexed=head.indexed)
    if base.errors:
        for error in base.errors:
            print(f"{args.base}: {error}", file=sys.stderr)
        print(f"the specs at {args.base} are invalid; nothing compared", file=sys.stderr)
        return 1
    return head, base, select(changed, head, base, args.env, top), top


def _usage_error(args: argparse.Namespace) -> int:
    """2, except under `--detailed-exitcode`, where 2 means "changes" and every error is 1."""
    return 1 if getattr(args, "detailed_exitcode", False) else 2


def _selected(stack: dict, models: set) -> bool:
    return stack.get("kind") == "Platform" or stack.get("stack", "").rsplit(".", 1)[0] in models


def _deploy(args: argparse.Namespace) -> int:
    from .deploy import DeployError, require_pulumi_cli, run

    try:
        require_pulumi_cli()
        specs = _load(args.specs, args.root)
        if specs is None:
            return 1
        return run(
            args.command,
            specs,
            args.env,
            args.model,
            yes=args.yes,
            with_platform=args.with_platform,
            platform_only=args.platform_only,
        )
    except DeployError as error:
        print(f"modelform {args.command}: {error}", file=sys.stderr)
        return error.exit_code


def _schema(args: argparse.Namespace) -> int:
    from .plan.plan_schema import plan_schema_text

    write_output(plan_schema_text() if args.plan else json_schema_text(), args.out)
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})")
    return int(text)


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
    validate.add_argument("--strict", action="store_true", help="warnings are errors (exit 1)")
    validate.set_defaults(handler=_validate)

    def common(command: argparse.ArgumentParser, formats: bool = True) -> None:
        command.add_argument("--env", default="dev", help="environment (default: dev)")
        command.add_argument("--specs", default="specs", help="folder of spec files (default: specs/)")
        command.add_argument("--root", help="repository root that model.code is relative to")
        if formats:
            command.add_argument("--format", choices=("table", "json", "markdown"), default="table")
            command.add_argument("--out", help="write to this file instead of standard output")
            command.add_argument(
                "--detailed-exitcode",
                action="store_true",
                help="exit 0 without changes, 2 with changes, 1 on errors (for CI)",
            )
            command.add_argument("--model", action="append", metavar="NAME", help="only this model (repeatable)")
            command.add_argument(
                "--jobs",
                type=_positive,
                metavar="N",
                help="processes planning model stacks (default: every core, for 32 stacks or more)",
            )

    plan = commands.add_parser("plan", help="offline plan of every stack of an environment (no credentials)")
    common(plan)
    plan.add_argument("--platform-only", action="store_true", help="only the platform stack")
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
        command.add_argument("--yes", action="store_true", help="do not ask after the preview (CI)")
        command.add_argument(
            "--with-platform", action="store_true", help="with --model: the platform stack too (left alone otherwise)"
        )
        command.add_argument(
            "--platform-only", action="store_true", help="only the platform stack (CI: before building images)"
        )
        command.set_defaults(handler=_deploy)

    schema = commands.add_parser("schema", help="print the JSON Schema of spec files (for editors), or of plans")
    schema.add_argument("--plan", action="store_true", help="the plan document's schema (`plan --format json`)")
    schema.add_argument("--out", help="write to this file instead of standard output")
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    problem = output_problem(getattr(args, "out", None))
    if problem:
        print(f"modelform {args.command}: {problem}", file=sys.stderr)
        return _usage_error(args)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"modelform {args.command}: interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
