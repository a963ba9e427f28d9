"""`modelform plan`: every stack of one environment, planned offline, as one deterministic document.

Order: the platform stack first (its outputs answer the model stacks' StackReference), then one
stack per model, sorted by name. The plan document is a public contract:

    {"plan_version": 1, "env": "dev", "stacks": [...], "findings": [...]}

sorted and byte-for-byte identical for the same specs and code.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional

from .. import naming
from ..source_archive import model_archive
from ..spec import ModelSpec, PlatformSpec, SpecSet
from .policies import Finding, check_plan
from .stack_cache import StackCache
from .stack_plan import StackPlan

if TYPE_CHECKING:
    from . import parallel

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
    code_versions: dict[str, str] = {}
    with (
        _progress(1 + len(model_specs), enabled=progress) as advance,
        _workers(len(model_specs), jobs, cache) as workers,
    ):
        platform_plan = _platform_plan(platform, cache, workers)
        stacks.append(platform_plan)
        advance()
        reference = {naming.platform_stack_reference(platform.name, environment): platform_plan.outputs}
        missing: list[tuple[ModelSpec, str]] = []
        for model in model_specs:
            if model.model.code not in code_versions:  # one archive per code folder, however many models ship it
                code_versions[model.model.code] = _code_version(model, cache.root)
            key = cache.model_key(model, platform, reference, code_versions[model.model.code])
            cached = cache.get(key)
            if cached is None:
                missing.append((model, key))
            else:
                stacks.append(cached)
                advance()
        stacks.extend(_planned(missing, platform, reference, cache, workers, advance))
    findings = check_plan(stacks, [m for m in model_specs], environment)
    return _document(environment, stacks, findings, platform.account.id if platform.account else None)


def _workers(models: int, jobs: Optional[int], cache: StackCache) -> "parallel.Workers":
    """Worker processes for a fleet's plan, or for a few of its stacks when the command started
    their fork server early (started only if some stack is not in the cache)."""
    from . import parallel

    return parallel.Workers(parallel.planning_processes(models, jobs), cache)


def _platform_plan(platform: PlatformSpec, cache: StackCache, workers: "parallel.Workers") -> StackPlan:
    key = cache.platform_key(platform)
    plan = cache.get(key)
    if plan is not None:
        return plan
    if workers.processes:  # the model stacks' keys hold its outputs: they are not cached either
        return workers.platform(platform, key)
    from .stack_programs import platform_stack

    plan = platform_stack(platform)
    cache.put(key, plan)
    return plan


def _code_version(model: ModelSpec, root: str) -> str:
    """The version of the code the model ships (its source archive's content hash)."""
    return model_archive(root, model.model.code).version


def _planned(
    models: list[tuple[ModelSpec, str]],
    platform: PlatformSpec,
    reference: dict[str, Any],
    cache: StackCache,
    workers: "parallel.Workers",
    advance: Callable[[int], Any],
) -> Iterator[StackPlan]:
    """The plans of model stacks the cache lacks (each with its key), run under the mock runtime:
    in worker processes when there are many, or when their fork server was started early (it has
    the providers imported; this process has not)."""
    from . import parallel

    if not models:
        return
    if workers.processes and (
        workers.started or parallel.started_early() or parallel.worth_parallel(len(models), workers.processes) > 1
    ):
        yield from workers.models(models, platform, reference, advance)
        return
    from .stack_programs import model_stack

    for model, key in models:
        plan = model_stack(model, platform, reference, cache.root)
        cache.put(key, plan)
        yield plan
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
