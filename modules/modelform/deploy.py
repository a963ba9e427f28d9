"""`modelform preview|up|destroy`: the real engine, through Pulumi's Automation API.

The same programs as the offline plan, run by the Pulumi CLI against AWS with the caller's
credentials and Pulumi backend (`pulumi login`). The platform stack of the environment goes
first on `up` (models read its outputs) and last on `destroy`. Only stacks of specs that exist
are touched, so removing a spec never deletes anything; destroying a prod model stack requires
`decommission: true` in its spec.
"""

from __future__ import annotations

import shutil
import sys
from typing import Callable, Optional, Sequence

from . import naming
from .programs import model_program, platform_program
from .spec import SpecSet


class DeployError(Exception):
    """Stops a deployment command with a one-line explanation and an exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def require_pulumi_cli() -> str:
    path = shutil.which("pulumi")
    if path is None:
        raise DeployError(
            "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); "
            "`modelform plan` and `modelform diff` work offline without it",
            exit_code=2,
        )
    return path


def _stacks(
    specs: SpecSet,
    environment: str,
    models: Optional[Sequence[str]],
    with_platform: bool = False,
    platform_only: bool = False,
) -> list[tuple[str, str, Callable[[], dict]]]:
    """(project, stack, program) for the platform and the selected models, in `up` order. With
    `models`, the platform stack is left alone unless `with_platform` asks for it."""
    platform = specs.platform(environment)
    if platform is None:
        raise DeployError("deploying needs a Platform spec (kind: Platform)")
    known = {m.name for m in specs.models(environment)}
    unknown = sorted(set(models or ()) - known)
    if unknown:
        raise DeployError(f"no spec defines model(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    stacks = []
    if not models or with_platform or platform_only:
        stacks.append(
            (
                naming.PLATFORM_PROJECT,
                naming.platform_stack(platform.name, environment),
                lambda: platform_program(platform),
            )
        )
    if platform_only:
        return stacks
    for model in specs.models(environment):
        if not models or model.name in models:
            stacks.append(
                (
                    naming.MODEL_PROJECT,
                    model.stack_name,
                    lambda model=model: model_program(model, platform, repo_root=specs.root),
                )
            )
    return stacks


def confirm(action: str, yes: bool, stdin=None, answer: Optional[Callable[[str], str]] = None) -> None:
    """`up` and `destroy` change real infrastructure: after the preview, a person says yes on a
    terminal, or the caller passes `--yes` (CI, after its own review of the plan)."""
    if yes or action == "preview":
        return
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        raise DeployError(f"{action} asks before changing anything; pass --yes when no one is at a terminal", 2)
    reply = (answer or input)(f"{action} these stacks? Only 'yes' proceeds: ")
    if reply.strip() != "yes":
        raise DeployError(f"{action} cancelled; nothing changed", 1)


def run(
    action: str,
    specs: SpecSet,
    environment: str,
    models: Optional[Sequence[str]] = None,
    *,
    yes: bool = False,
    with_platform: bool = False,
    platform_only: bool = False,
) -> int:
    """preview, up or destroy the environment's stacks; returns the exit code. `up` and `destroy`
    preview every stack first and ask (`confirm`); engine errors become one line."""
    require_pulumi_cli()
    from pulumi import automation as auto  # imported only with a CLI present

    stacks = _stacks(specs, environment, models, with_platform, platform_only)
    try:
        if action == "up" and not yes:
            _each(auto, "preview", stacks, specs, environment, models)
        if action == "destroy" and not yes:
            for _, stack, _ in _destroy_order(stacks, specs, environment, whole_environment=not models):
                print(f"will destroy every resource of {stack}", file=sys.stderr)
        confirm(action, yes)
        _each(auto, action, stacks, specs, environment, models)
    except auto.errors.CommandError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        raise DeployError(f"the Pulumi engine failed: {lines[-1] if lines else 'no message'}") from None
    return 0


def _each(auto, action: str, stacks, specs: SpecSet, environment: str, models) -> None:
    if action == "destroy":
        stacks = _destroy_order(stacks, specs, environment, whole_environment=not models)
    for project, stack, program in stacks:
        workspace_stack = auto.create_or_select_stack(
            stack_name=stack,
            project_name=project,
            program=program,
            opts=auto.LocalWorkspaceOptions(project_settings=auto.ProjectSettings(name=project, runtime="python")),
        )
        print(f"== {action} {project}/{stack}", file=sys.stderr)
        operation = getattr(workspace_stack, action)
        operation(on_output=lambda line: print(line, end="", file=sys.stderr))


def _destroy_order(stacks, specs: SpecSet, environment: str, *, whole_environment: bool):
    """Models before the platform; the platform only when the whole environment goes; in prod,
    only models whose spec says `decommission: true`, and never the platform."""
    order = [s for s in reversed(stacks) if s[0] == naming.MODEL_PROJECT]
    if whole_environment:
        order += [s for s in stacks if s[0] == naming.PLATFORM_PROJECT]
    if environment == "prod":
        for project, stack, _ in order:
            if project == naming.PLATFORM_PROJECT:
                raise DeployError(
                    f"refusing to destroy the prod platform stack {stack}; use the Pulumi CLI deliberately"
                )
            if not specs.model(stack.rsplit(".", 1)[0], environment).decommission:
                raise DeployError(f"refusing to destroy prod stack {stack}: set `decommission: true` in its spec first")
    return order
