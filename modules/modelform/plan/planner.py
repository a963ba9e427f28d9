"""`modelform plan`: every stack of one environment, planned offline, as one deterministic document.

Order: the platform stack first (its outputs answer the model stacks' StackReference), then one
stack per model, sorted by name. The plan document is a public contract:

    {"plan_version": 1, "env": "dev", "stacks": [...], "findings": [...]}

sorted and byte-for-byte identical for the same specs and code.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Iterator, Optional

from .. import naming
from ..source_archive import model_archive
from ..spec import ModelSpec, PlatformSpec, SpecSet
from .policies import Finding, check_plan
from .stack_cache import StackCache
from .stack_plan import StackPlan

PLAN_VERSION = 1
#: Above this many stacks a progress bar is shown on stderr.
PROGRESS_THRESHOLD = 5


class PlanError(Exception):
    """The specs cannot be planned (beyond spec validation): one line for the user."""


def plan_environment(
    specs: SpecSet,
    environment: str,
    *,
    models: Optional[Iterable[str]] = None,
    progress: bool = True,
    cache: Optional[StackCache] = None,
    jobs: Optional[int] = None,
) -> dict[str, Any]:
    """The plan document of `environment`. `models` limits the model stacks planned (the platform
    stack is always planned: model stacks need its outputs). `cache`: stack plans by their inputs
    (default: the repository's, `.modelform/cache/stacks/`); only stacks it lacks run under the
    mock runtime. `jobs`: processes planning those model stacks (default: every core, for
    `parallel.PARALLEL_THRESHOLD` stacks or more)."""
    cache = cache or StackCache(specs.root)
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
        platform_plan = _platform_plan(platform, environment, cache)
        stacks.append(platform_plan)
        advance()
        reference = {naming.platform_stack_reference(platform.name, environment): platform_plan.outputs}
        missing: dict[str, ModelSpec] = {}
        keys: dict[str, str] = {}
        for model in model_specs:
            keys[model.name] = cache.model_key(model, platform, reference, _code_version(model, cache.root))
            cached = cache.get(keys[model.name])
            if cached is None:
                missing[model.name] = model
            else:
                stacks.append(cached)
                advance()
        for plan in _planned(list(missing.values()), platform, reference, cache.root, jobs, advance):
            cache.put(keys[plan.stack.rsplit(".", 1)[0]], plan)
            stacks.append(plan)
    findings = check_plan(stacks, [m for m in model_specs], environment)
    return _document(environment, stacks, findings, platform.account.id if platform.account else None)


def _platform_plan(platform: PlatformSpec, environment: str, cache: StackCache) -> StackPlan:
    key = cache.platform_key(platform)
    plan = cache.get(key)
    if plan is None:
        from ..programs import platform_program
        from .engine import run_program

        stack = naming.platform_stack(platform.name, environment)
        resources, outputs = run_program(naming.PLATFORM_PROJECT, stack, lambda: platform_program(platform))
        plan = StackPlan(stack, "Platform", platform.source, resources, outputs)
        cache.put(key, plan)
    return plan


def _code_version(model: ModelSpec, root: str) -> str:
    """The version of the code the model ships (its source archive's content hash)."""
    return model_archive(root, model.model.code).version


def _planned(
    models: list[ModelSpec], platform: PlatformSpec, reference: dict[str, Any], root: str, jobs, advance
) -> Iterator[StackPlan]:
    """The plans of model stacks the cache lacks, run under the mock runtime: in worker processes
    when there are many."""
    if not models:
        return
    from . import parallel

    processes = parallel.worth_parallel(len(models), jobs)
    if processes > 1:
        yield from parallel.plan_models(models, platform, reference, root, processes, advance)
        return
    for model in models:
        yield from parallel.plan_model_stacks(([model], platform, reference, root))
        advance()


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
