"""The two stack programs run under the offline engine: a stack's plan from its typed specs, in
this process or in a planning worker (which answers with the stack's cache entry, see `parallel`)."""

from __future__ import annotations

from typing import Any, Optional

from .. import naming
from ..programs import model_program, platform_program
from ..spec import ModelSpec, PlatformSpec
from . import stack_cache
from .engine import run_program
from .stack_plan import StackPlan


def platform_stack(platform: PlatformSpec) -> StackPlan:
    stack = naming.platform_stack(platform.name, platform.environment)
    resources, outputs = run_program(naming.PLATFORM_PROJECT, stack, lambda: platform_program(platform))
    return StackPlan(stack, "Platform", platform.source, resources, outputs)


def model_stack(model: ModelSpec, platform: PlatformSpec, reference: dict[str, Any], root: str) -> StackPlan:
    resources, outputs = run_program(
        naming.MODEL_PROJECT,
        model.stack_name,
        lambda: model_program(model, platform, repo_root=root),
        reference,
    )
    return StackPlan(model.stack_name, "Model", model.source, resources, outputs)


def platform_entry(task: tuple[PlatformSpec, str, Optional[str]]) -> str:
    """A worker's task: the platform stack's cache entry, also written to `folder` if any."""
    platform, key, folder = task
    return stack_cache.written_entry(folder, key, platform_stack(platform))


def model_entries(
    task: tuple[list[tuple[ModelSpec, str]], PlatformSpec, dict[str, Any], str, Optional[str]],
) -> list[tuple[str, str]]:
    """A worker's task: the cache entries (key, text) of a few model stacks, also written to
    `folder` if any."""
    models, platform, reference, root, folder = task
    return [
        (key, stack_cache.written_entry(folder, key, model_stack(model, platform, reference, root)))
        for model, key in models
    ]
