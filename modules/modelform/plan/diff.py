"""`modelform diff`: what changes between two plans, per stack, down to the input paths.

Resources are matched by URN (a rename is a delete plus a create, as Pulumi would do it). For a
resource in both plans, the changed input paths are listed (`productionVariants[0].initialVariantWeight`),
and so are changed options (`options.protect`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    paths: list[str] = field(default_factory=list)  # for updates: the inputs/options that differ

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"urn": self.urn, "type": self.type, "name": self.name}
        if self.paths:
            entry["paths"] = self.paths
        return entry


@dataclass
class StackDiff:
    stack: str
    kind: str
    spec: str
    create: list[ResourceChange] = field(default_factory=list)
    delete: list[ResourceChange] = field(default_factory=list)
    update: list[ResourceChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.create or self.delete or self.update)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "kind": self.kind,
            "spec": self.spec,
            "create": [c.to_json() for c in self.create],
            "delete": [c.to_json() for c in self.delete],
            "update": [c.to_json() for c in self.update],
        }


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """`{"a": [{"b": 1}]}` -> `("a[0].b", 1)`; empty containers are leaves."""
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _leaves(resource: dict[str, Any]) -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for section in ("inputs", "options"):
        if resource.get(section):
            leaves.update(flatten(resource[section], section))
    return leaves


def changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    before, after = _leaves(old), _leaves(new)
    paths = sorted(p for p in before.keys() | after.keys() if before.get(p, _MISSING) != after.get(p, _MISSING))
    return [p[len("inputs.") :] if p.startswith("inputs.") else p for p in paths]


_MISSING = object()


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The diff document: `{"diff_version": 1, "env": ..., "stacks": [changed stacks only], "summary": {...}}`."""
    old_stacks = {s["stack"]: s for s in old.get("stacks", [])}
    new_stacks = {s["stack"]: s for s in new.get("stacks", [])}
    diffs = []
    for name in sorted(old_stacks.keys() | new_stacks.keys()):
        before, after = old_stacks.get(name), new_stacks.get(name)
        reference = after or before
        assert reference is not None
        diff = StackDiff(name, reference["kind"], reference["spec"])
        old_resources = {r["urn"]: r for r in (before or {}).get("resources", [])}
        new_resources = {r["urn"]: r for r in (after or {}).get("resources", [])}
        for urn in sorted(new_resources.keys() - old_resources.keys()):
            diff.create.append(ResourceChange(urn, new_resources[urn]["type"], new_resources[urn]["name"]))
        for urn in sorted(old_resources.keys() - new_resources.keys()):
            diff.delete.append(ResourceChange(urn, old_resources[urn]["type"], old_resources[urn]["name"]))
        for urn in sorted(old_resources.keys() & new_resources.keys()):
            paths = changed_paths(old_resources[urn], new_resources[urn])
            if paths:
                diff.update.append(ResourceChange(urn, new_resources[urn]["type"], new_resources[urn]["name"], paths))
        if diff.changed:
            diffs.append(diff)
    return {
        "diff_version": 1,
        "env": new.get("env", old.get("env")),
        "stacks": [d.to_json() for d in diffs],
        "summary": {
            "stacks": len(diffs),
            "create": sum(len(d.create) for d in diffs),
            "update": sum(len(d.update) for d in diffs),
            "delete": sum(len(d.delete) for d in diffs),
        },
    }
