"""Tags merged into every taggable resource: the spec's own tags plus who and what it belongs to."""

from __future__ import annotations

from typing import Mapping

MANAGED_BY = {"managed-by": "modelform"}


def model_tags(spec_tags: Mapping[str, str], model: str, environment: str, owner: str, team: str) -> dict[str, str]:
    """The spec's tags win over nothing: ours use the `modelform:` prefix, which specs cannot collide with
    by accident, and are applied last so a spec cannot disguise which model a resource belongs to."""
    return {
        **dict(spec_tags),
        **MANAGED_BY,
        "modelform:model": model,
        "modelform:environment": environment,
        "modelform:owner": owner,
        "modelform:team": team,
    }


def platform_tags(spec_tags: Mapping[str, str], platform: str, environment: str) -> dict[str, str]:
    return {**dict(spec_tags), **MANAGED_BY, "modelform:platform": platform, "modelform:environment": environment}
