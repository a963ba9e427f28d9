"""Model stacks planned in worker processes, for fleets: every core plans stacks.

Planning a stack is CPU-bound Python under Pulumi's mock runtime (one interpreter lock), so only
processes use more than one core. Workers come from a fork server: a clean interpreter that
imports the programs once and forks each worker from there, so no worker inherits the planning
process's threads (Pulumi's event-loop executor) and none pays for the imports again. Each task
carries its typed specs and the platform stack's outputs (pickled); the plan it sends back is the
same data a sequential run records, and the planner sorts stacks by name, so the document is
byte-for-byte the same whatever the number of processes.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any, Callable, Iterator, Optional

from .. import naming
from ..programs import model_program
from ..spec import ModelSpec, PlatformSpec
from .engine import run_program
from .stack_plan import StackPlan

#: Below this many model stacks, starting workers (a second or two each) costs more than it saves.
PARALLEL_THRESHOLD = 32
#: Models per task: large enough to amortise the pickling, small enough to balance the load.
CHUNK = 4


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worth_parallel(stacks: int, jobs: Optional[int]) -> int:
    """How many processes to plan `stacks` model stacks with (1: in this process)."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs <= 1 or stacks < PARALLEL_THRESHOLD or "forkserver" not in multiprocessing.get_all_start_methods():
        return 1
    return min(jobs, stacks)


def plan_model_stacks(task: tuple[list[ModelSpec], PlatformSpec, dict[str, Any], str]) -> list[StackPlan]:
    """The plans of a few model stacks, in this process (a worker's task, or the sequential path)."""
    models, platform, reference, root = task
    plans = []
    for model in models:
        resources, outputs = run_program(
            naming.MODEL_PROJECT,
            model.stack_name,
            lambda model=model: model_program(model, platform, repo_root=root),
            reference,
        )
        plans.append(StackPlan(model.stack_name, "Model", model.source, resources, outputs))
    return plans


def plan_models(
    models: list[ModelSpec],
    platform: PlatformSpec,
    reference: dict[str, Any],
    root: str,
    jobs: int,
    advance: Callable[[int], Any],
) -> Iterator[StackPlan]:
    """The plans of `models`, from `jobs` worker processes, as they finish (any order)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    tasks = [(models[i : i + CHUNK], platform, reference, root) for i in range(0, len(models), CHUNK)]
    with context.Pool(processes=jobs) as pool:
        for plans in pool.imap_unordered(plan_model_stacks, tasks):
            advance(len(plans))
            yield from plans
