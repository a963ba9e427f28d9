"""Stacks planned in worker processes, for fleets: every core plans stacks.

Planning a stack is CPU-bound Python under Pulumi's mock runtime (one interpreter lock), so only
processes use more than one core. Workers come from a fork server: a clean interpreter that
imports the programs and every provider module they use once (`programs.import_providers`, a few
seconds) and forks each worker from there, so no worker inherits the planning process's threads
(Pulumi's event-loop executor) and none pays for the imports again. `start_early` starts it while
the specs are still being validated, so those imports cost no time of their own.

The platform stack is planned in a worker too: the planning process then never imports a provider
SDK, and its core stays free for the workers. Each task carries its typed specs and the platform
stack's outputs (pickled). A worker sends back each stack's cache entry (the stack plan as JSON
text; it writes the entry to the cache itself when there is one), so encoding happens on every
core, and the planner reads the plan back exactly as it reads a cached one: the document is
byte-for-byte the same whatever the number of processes.

A command that plans a few stacks of a fleet (`plan --model`) starts the fork server early too:
validating the fleet's specs takes about as long as its imports, and one worker then plans those
stacks with the providers already imported.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from multiprocessing.pool import Pool
from typing import Any, Callable, Iterator, Optional

from ..spec import ModelSpec, PlatformSpec
from ..spec.forked import cores
from . import stack_cache
from .stack_plan import StackPlan

#: Below this many model stacks, starting workers (a second or two each) costs more than it saves.
PARALLEL_THRESHOLD = 32
#: Models per task: large enough to amortise the pickling, small enough to balance the load.
CHUNK = 4
#: What the fork server imports before it forks any worker.
_PRELOAD = ["modelform.plan.worker"]
#: Whether this process started the fork server early (`start_early`).
_early = False


def worth_parallel(stacks: int, jobs: Optional[int]) -> int:
    """How many processes to plan `stacks` model stacks with (1: in this process)."""
    jobs = cores() if jobs is None else jobs
    if jobs <= 1 or stacks < PARALLEL_THRESHOLD or "forkserver" not in multiprocessing.get_all_start_methods():
        return 1
    return min(jobs, stacks)


def planning_processes(stacks: int, jobs: Optional[int]) -> int:
    """How many worker processes plan `stacks` model stacks: 0 (this process plans them), or as
    many as are worth it, or one for a few stacks when the fork server was started early (it has
    the providers imported; this process has not)."""
    processes = worth_parallel(stacks, jobs)
    if processes > 1:
        return processes
    return 1 if _early and jobs != 1 else 0


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def started_early() -> bool:
    """Whether this process started the fork server early (its preload is under way or done)."""
    return _early


def start_early(stacks: int, jobs: Optional[int] = None) -> bool:
    """Start the fork server now (it imports the programs and providers in its own process, while
    this one goes on) when a fleet of `stacks` model specs is to be validated and planned, or some
    of its stacks. True if started."""
    global _early
    if worth_parallel(stacks, jobs) <= 1:
        return False
    _context()
    multiprocessing.forkserver.ensure_running()
    _early = True
    return True


class Workers:
    """Worker processes for one plan, started on first use (a plan read from the cache needs none).
    `processes`: 0 when this process plans every stack itself."""

    def __init__(self, processes: int, cache: stack_cache.StackCache):
        self.processes = processes
        self.cache = cache
        self._pool: Optional[Pool] = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def _started(self) -> Pool:
        if self._pool is None:
            self._pool = _context().Pool(processes=self.processes)
        return self._pool

    def platform(self, platform: PlatformSpec, key: str) -> StackPlan:
        """The platform stack's plan, planned by a worker."""
        from . import stack_programs

        text = self._started().apply(stack_programs.platform_entry, ((platform, key, self.cache.folder),))
        return self.cache.adopt(key, text)

    def models(
        self,
        models: list[tuple[ModelSpec, str]],
        platform: PlatformSpec,
        reference: dict[str, Any],
        advance: Callable[[int], Any],
    ) -> Iterator[StackPlan]:
        """The plans of `models` (each with its cache key), as workers finish them (any order)."""
        from . import stack_programs

        tasks = [
            (models[i : i + CHUNK], platform, reference, self.cache.root, self.cache.folder)
            for i in range(0, len(models), CHUNK)
        ]
        for entries in self._started().imap_unordered(stack_programs.model_entries, tasks):
            advance(len(entries))
            for key, text in entries:
                yield self.cache.adopt(key, text)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *_: Any) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
