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
        # mkstemp makes the file private (0600); the result gets the mode a plain write would give
        # it: the existing file's, or the umask's.
        os.chmod(temporary, os.stat(out).st_mode & 0o777 if os.path.exists(out) else 0o666 & ~_umask())
        os.replace(temporary, out)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def _start_workers_early(specs_dir: str, jobs: Optional[int]) -> None:
    """A fleet's stacks are planned in worker processes: start their fork server now, so that it
    imports the programs and provider SDKs while this process validates the specs. With `--model`
    too: validating a fleet's specs takes as long as those imports, and one worker then plans the
    few stacks asked for."""
    from .plan import parallel
    from .spec.loader import find_spec_files

    files, _ = find_spec_files([specs_dir])
    parallel.start_early(len(files), jobs)


def _plan(args: argparse.Namespace) -> int:
    from .plan import PlanError, plan_environment

    if not args.platform_only:
        _start_workers_early(args.specs, args.jobs)
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


def _report(args: argparse.Namespace) -> int:
    """The auditor's page of an environment: HTML (self-contained) or Markdown."""
    from datetime import datetime, timezone

    from .plan import PlanError, plan_environment
    from .report import build_report, render_html, render_markdown

    try:
        as_of = (
            datetime.strptime(args.as_of, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            if args.as_of
            else datetime.now(timezone.utc)
        )
    except ValueError:
        print(f"modelform report: --as-of {args.as_of!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    specs = _load(args.specs, args.root)
    if specs is None:
        return 1
    try:
        plan = plan_environment(specs, args.env)
    except PlanError as error:
        print(f"modelform report: {error}", file=sys.stderr)
        return 1
    root = specs.root or os.getcwd()
    report = build_report(specs, args.env, plan, as_of=as_of, repo_root=root, pictures=args.format == "html")
    write_output(render_html(report) if args.format == "html" else render_markdown(report), args.out)
    return 0


def _model_spec(specs: SpecSet, name: str, environment: str, command: str):
    """The typed spec of model `name` in `environment`; None (reported) when there is none."""
    if environment not in specs.environments:
        print(f"modelform {command}: unknown environment '{environment}'", file=sys.stderr)
        return None
    names = sorted(m.name for m in specs.models(environment))
    if name not in names:
        print(f"modelform {command}: no model '{name}' (models: {', '.join(names)})", file=sys.stderr)
        return None
    return specs.model(name, environment)


def _promote(args: argparse.Namespace) -> int:
    """Edit one variant's model version or weight in its spec file; nothing else changes."""
    from .promote import InvalidEdit, PromoteError, promote

    if args.to_version is None and args.weight is None:
        print("modelform promote: say what changes: --to-version N and/or --weight W", file=sys.stderr)
        return 2
    specs = _load(args.specs, args.root)
    if specs is None:
        return 1
    model = _model_spec(specs, args.model, args.env or specs.environments[0], "promote")
    if model is None:
        return 2
    try:
        promotion = promote(
            specs,
            model,
            deployment=args.deployment,
            variant=args.variant,
            environment=args.env,
            version=args.to_version,
            weight=args.weight,
        )
    except InvalidEdit as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        print(f"modelform promote: {invalid}", file=sys.stderr)
        return 1
    except PromoteError as error:
        print(f"modelform promote: {error}", file=sys.stderr)
        return 1
    write_output(promotion.text, promotion.file)
    for edit in promotion.edits:
        was = "added" if edit.before is None else edit.before
        print(f"{promotion.file}:{edit.line}: {edit.path}: {was} -> {edit.after}")
    if promotion.notice:
        print(f"modelform promote: {promotion.notice}", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    """Replay traffic through one deployment's scaling: as specified, reactive only, and with the
    recommended pre-scaling windows; a table (or JSON) and, with --png, the picture."""
    import json

    from .simulation import SimulationError, baseline_rps, recommend, simulate, spike, trace
    from .spec.parsers import format_timestamp, parse_duration

    specs = _load(args.specs, args.root)
    if specs is None:
        return 1
    model = _model_spec(specs, args.model, args.env, "simulate")
    if model is None:
        return 2
    try:
        startup = parse_duration(args.startup) if args.startup else None
        if args.trace:
            traffic = trace(args.trace)
        else:
            rate = args.baseline_rps
            if rate is None:
                rate = baseline_rps(model, args.deployment, args.max_rps_per_instance)
            traffic = spike(args.spike, rate)
        options = {"max_rps": args.max_rps_per_instance, "startup_s": startup}
        as_specified = simulate(model, args.deployment, traffic, **options)
        advice = recommend(model, args.deployment, traffic, **options)
    except (SimulationError, ValueError) as error:
        print(f"modelform simulate: {error}", file=sys.stderr)
        return 1
    runs = {"as_specified": as_specified, "reactive": advice.reactive, "recommended": advice.with_windows}
    if args.png:
        from .charts import traffic_vs_capacity

        traffic_vs_capacity(advice.reactive, advice.with_windows, args.png)
    if args.format == "json":
        document = {
            "model": model.name,
            "deployment": args.deployment,
            "env": args.env,
            "traffic": {
                "description": traffic.description,
                "start": format_timestamp(traffic.start),
                "seconds": traffic.seconds,
            },
            "runs": {name: run.summary() for name, run in runs.items()},
            "recommendation": {
                "target": advice.target,
                "target_unit": advice.target_unit,
                "windows": advice.with_windows.summary()["windows"],
            },
        }
        write_output(json.dumps(document, indent=2, sort_keys=True) + "\n", args.out)
        return 0
    lines = [
        f"{model.name} / {args.deployment} ({args.env}): {traffic.description}",
        "",
        f"{'':24}{'served':>12}{'dropped':>12}{'peak queue':>12}{'peak wait':>11}{'instance-h':>12}",
    ]
    labels = {"as_specified": "as specified", "reactive": "scaling alone", "recommended": "recommended windows"}
    for name, run in runs.items():
        summary = run.summary()
        lines.append(
            f"{labels[name]:24}{summary['served']:>12,}{summary['dropped']:>12,}{summary['peak_queue']:>12,}"
            f"{summary['peak_wait_s']:>10.1f}s{summary['instance_hours']:>12,.1f}"
        )
    lines += ["", f"recommended target: {advice.target:g} {advice.target_unit}"]
    for window in advice.windows:
        lines.append(
            f"recommended window {window.name}: {format_timestamp(window.start)} to {format_timestamp(window.end)}, "
            f"floor {window.floor}, ceiling {window.ceiling}"
        )
    if not advice.windows:
        lines.append("no window needed: the everyday floor absorbs this traffic")
    write_output("\n".join(lines) + "\n", args.out)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from .plan import PlanError, plan_environment
    from .plan.diff import diff_plans
    from .plan.git_specs import GitError
    from .plan.stack_cache import StackCache

    models = set(args.model) if args.model else None
    scope_json = None
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
            cache = StackCache(head.root)  # a stack whose inputs are the same on both sides is planned once
            selected = scope.model_names
            if models is not None:
                selected = models if selected is None else selected & models
            scope_json = {"everything": scope.everything, "models": scope.models}
            if scope.code_changed:
                from .plan.scope import plan_at_revision

                base_plan = plan_at_revision(args.base, top, args.specs, args.env, selected)
            else:  # only specs differ: the current program plans REF's specs as REF's would
                base_plan = plan_environment(base, args.env, models=selected, cache=cache, jobs=args.jobs)
            head_plan = plan_environment(head, args.env, models=selected, cache=cache, jobs=args.jobs)
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
    from .plan.git_specs import repository_top
    from .plan.scope import changed_files, changed_spec_files, select
    from .spec import load_spec_texts

    top = repository_top(os.path.abspath(args.specs) if os.path.isdir(args.specs) else os.getcwd())
    changed = changed_files(args.base, top)
    if args.out:  # the diff's own answer, written into the checkout by an earlier run, is no input
        changed = [p for p in changed if os.path.join(top, p) != os.path.abspath(args.out)]
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

    promote = commands.add_parser(
        "promote",
        help="move a variant to another model version or weight by editing its spec (GitOps)",
        description="Edit one variant's model_version and/or weight in the model's spec file, changing nothing "
        "else (comments and formatting stay), after validating the result and, with AWS credentials, checking "
        "that the version is Approved in the model's registry.",
    )
    promote.add_argument("model", metavar="MODEL")
    promote.add_argument("--deployment", required=True)
    promote.add_argument("--variant", required=True)
    promote.add_argument("--to-version", type=_positive, metavar="N", help="the registry version to serve")
    promote.add_argument("--weight", type=float, metavar="W", help="the variant's traffic weight")
    promote.add_argument(
        "--env", help="edit this environment's override when it sets the value (default: the spec's base)"
    )
    promote.add_argument("--specs", default="specs", help="folder of spec files (default: specs/)")
    promote.add_argument("--root", help="repository root that model.code is relative to")
    promote.set_defaults(handler=_promote)

    report = commands.add_parser(
        "report",
        help="the auditor's report of an environment: owners, data, serving, scaling, monitors, access, history",
    )
    report.add_argument("--env", default="prod", help="environment (default: prod)")
    report.add_argument("--specs", default="specs", help="folder of spec files (default: specs/)")
    report.add_argument("--root", help="repository root that model.code is relative to")
    report.add_argument("--format", choices=("html", "markdown"), default="html")
    report.add_argument("--out", help="write to this file instead of standard output")
    report.add_argument("--as-of", metavar="YYYY-MM-DD", help="the day the capacity timelines start (default: today)")
    report.set_defaults(handler=_report)

    simulate = commands.add_parser(
        "simulate",
        help="replay traffic through a deployment's scaling policy: served, dropped, queueing, cost, advice",
        description="Replay a traffic trace or a spike through one deployment's autoscaling as the platform runs it "
        "(SageMaker target tracking, or the EKS HPA), and recommend a target and pre-scaling windows.",
    )
    simulate.add_argument("model", metavar="MODEL")
    simulate.add_argument("--deployment", required=True)
    simulate.add_argument("--env", default="prod", help="environment (default: prod)")
    simulate.add_argument("--specs", default="specs", help="folder of spec files (default: specs/)")
    simulate.add_argument("--root", help="repository root that model.code is relative to")
    traffic = simulate.add_mutually_exclusive_group(required=True)
    traffic.add_argument("--trace", metavar="CSV", help="timestamp,requests_per_second rows")
    traffic.add_argument("--spike", metavar="FACTORx@START/DURATION", help="e.g. 10x@2026-11-27T00:00:00Z/2h")
    simulate.add_argument(
        "--baseline-rps",
        type=float,
        help="everyday traffic around a --spike (default: the deployment's floor at its target)",
    )
    simulate.add_argument(
        "--max-rps-per-instance", type=float, help="one instance's capacity (default: the spec's max_rps_per_instance)"
    )
    simulate.add_argument("--startup", metavar="DURATION", help="how long a new instance or pod takes to serve")
    simulate.add_argument("--png", help="write the traffic-against-capacity picture here")
    simulate.add_argument("--format", choices=("table", "json"), default="table")
    simulate.add_argument("--out", help="write to this file instead of standard output")
    simulate.set_defaults(handler=_simulate)

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


def run() -> None:
    """The `modelform` command: `main`, then out of the process at once.

    Once the answer is written and the streams flushed, nothing is left to do: Python's own exit
    would free, one by one, every object of the SDKs a plan imported (about half a second, a
    quarter of a pull request's diff). Worker pools are closed by then (`parallel.Workers`); an
    idle fork server exits when this process does."""
    try:
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader left early (`modelform schema | head`): not an error of ours
        code = 1
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
