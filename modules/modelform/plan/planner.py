"""`modelform plan`: every stack of one environment, planned offline, as one deterministic document.

Order: the platform stack first (its outputs answer the model stacks' StackReference), then one
stack per model, sorted by name. The plan document is a public contract:

    {"plan_version": 1, "env": "dev", "stacks": [...], "findings": [...]}

sorted and byte-for-byte identical for the same specs and code.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any, Callable, Iterable, Optional

from .. import naming
from ..context import platform_stack_reference
from ..programs import DEFAULT_ORGANIZATION, platform_program
from ..spec import SpecSet
from . import parallel
from .engine import StackPlan, run_program
from .policies import Finding, check_plan

PLAN_VERSION = 1
#: Above this many stacks a progress bar is shown on stderr.
PROGRESS_THRESHOLD = 5


class PlanError(Exception):
    """The specs cannot be planned (beyond spec validation): one line for the user."""


class StackMemo:
    """Stack plans by their inputs, within one process: the two sides of a diff plan what did not
    change (the Platform stack, above all) once. Programs are deterministic functions of their
    specs, so equal inputs give equal plans."""

    def __init__(self) -> None:
        self._plans: dict[str, Any] = {}

    def plan(self, inputs: tuple, compute: Callable[[], Any]) -> Any:
        # Specs are frozen dataclasses (with read-only mappings, which do not pickle): their repr
        # names every field and value, in declaration order.
        key = hashlib.sha256(repr(inputs).encode()).hexdigest()
        if key not in self._plans:
            self._plans[key] = compute()
        return self._plans[key]


def plan_environment(
    specs: SpecSet,
    environment: str,
    *,
    models: Optional[Iterable[str]] = None,
    progress: bool = True,
    memo: Optional[StackMemo] = None,
    jobs: Optional[int] = None,
) -> dict[str, Any]:
    """The plan document of `environment`. `models` limits the model stacks planned (the platform
    stack is always planned: model stacks need its outputs). `jobs`: processes planning model
    stacks (default: every core, for fleets of `parallel.PARALLEL_THRESHOLD` stacks or more)."""
    memo = memo or StackMemo()
    if environment not in specs.environments:
        raise PlanError(f"unknown environment '{environment}'; known: {', '.join(specs.environments)}")
    platform = specs.platform(environment)
    wanted = set(models) if models is not None else None
    model_specs = [m for m in specs.models(environment) if wanted is None or m.name in wanted]
    if platform is None:
        if model_specs:
            raise PlanError("planning needs a Platform spec (kind: Platform): model stacks read its outputs")
        return _document(environment, [], [], None)

    stacks: list[StackPlan] = []
    with _progress(1 + len(model_specs), enabled=progress) as advance:
        resources, outputs = memo.plan(
            ("Platform", environment, platform),
            lambda: run_program(
                naming.PLATFORM_PROJECT,
                naming.platform_stack(platform.name, environment),
                lambda: platform_program(platform),
            ),
        )
        stacks.append(
            StackPlan(
                naming.platform_stack(platform.name, environment), "Platform", platform.source, resources, outputs
            )
        )
        advance()
        reference = {platform_stack_reference(platform, DEFAULT_ORGANIZATION): outputs}
        processes = parallel.worth_parallel(len(model_specs), jobs)
        if processes > 1:
            stacks.extend(parallel.plan_models(model_specs, platform, reference, specs.root, processes, advance))
        else:
            for model in model_specs:
                stacks.extend(parallel.plan_model_stacks(([model], platform, reference, specs.root)))
                advance()
    findings = check_plan(stacks, [m for m in model_specs], environment)
    return _document(environment, stacks, findings, platform.account.id if platform.account else None)


def _stack_json(stack: StackPlan, account: Optional[str]) -> dict[str, Any]:
    """A stack's entry; `images` (when it runs any): the container images it needs to exist
    before `up`, so CI can build and push them first; `account` (when the Platform spec names the
    environment's account): where the stack deploys."""
    from . import readiness

    entry = stack.to_json()
    if account is not None:
        entry["account"] = account
    images = readiness.stack_images(stack)
    if images:
        entry["images"] = images
    return entry


def _document(
    environment: str, stacks: list[StackPlan], findings: list[Finding], account: Optional[str]
) -> dict[str, Any]:
    return {
        "plan_version": PLAN_VERSION,
        "env": environment,
        "stacks": [_stack_json(s, account) for s in sorted(stacks, key=lambda s: s.stack)],
        "findings": [f.to_json() for f in sorted(findings)],
    }


def plan_json(document: dict[str, Any]) -> str:
    """The canonical text of a plan: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


class _progress:
    """Progress on stderr for more than a handful of stacks: a bar (tqdm) on a terminal; in CI logs
    (not a terminal) a plain line every tenth of the way, never `\\r` frames."""

    def __init__(self, total: int, enabled: bool, stream=None):
        self.bar = None
        self.total, self.done, self.reported = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > PROGRESS_THRESHOLD
        if self.enabled and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="planning stacks", unit="stack", file=self.stream, mininterval=0.5)

    def __enter__(self):
        if self.bar is not None:
            return self.bar.update
        return self._line if self.enabled else (lambda *_: None)

    def _line(self, steps: int = 1) -> None:
        self.done += steps
        tenth = self.done * 10 // self.total
        if tenth > self.reported:
            self.reported = tenth
            print(f"planning stacks: {self.done}/{self.total}", file=self.stream, flush=True)

    def __exit__(self, *_):
        if self.bar is not None:
            self.bar.close()
