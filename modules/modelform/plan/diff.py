"""`modelform diff`: what changes between two plans, per stack, down to the input values.

Resources are matched by URN (a rename is a delete plus a create, as Pulumi would do it). For a
resource in both plans, the changed input paths are listed (`productionVariants[0].initialVariantWeight`),
and so are changed options (`options.protect`), with old -> new values (JSON documents such as
policies and pipeline definitions compared inside). A change to an input that forces replacement
(`replacements.FORCE_NEW`) makes the resource a `replace` -- `+-` (create the new one, then delete
the old) or `-+` (delete first, with `deleteBeforeReplace`) -- naming the forcing inputs; replacing
a protected or stateful resource is a finding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from .replacements import STATEFUL, forcing

#: At most this many old -> new values per resource (the paths are all listed).
MAX_VALUES = 20
VALUE_WIDTH = 80


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    paths: list[str] = field(default_factory=list)  # for updates: the inputs/options that differ
    values: list[dict[str, Any]] = field(default_factory=list)  # {"path", "old", "new"}
    forced_by: list[str] = field(default_factory=list)  # for replacements: the inputs that force it
    mode: str = ""  # "+-" create before delete, "-+" delete before create

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"urn": self.urn, "type": self.type, "name": self.name}
        if self.paths:
            entry["paths"] = self.paths
        if self.values:
            entry["values"] = self.values
        if self.forced_by:
            entry["forced_by"], entry["mode"] = self.forced_by, self.mode
        return entry


@dataclass
class StackDiff:
    stack: str
    kind: str
    spec: str
    create: list[ResourceChange] = field(default_factory=list)
    delete: list[ResourceChange] = field(default_factory=list)
    update: list[ResourceChange] = field(default_factory=list)
    replace: list[ResourceChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.create or self.delete or self.update or self.replace)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "kind": self.kind,
            "spec": self.spec,
            "create": [c.to_json() for c in self.create],
            "delete": [c.to_json() for c in self.delete],
            "update": [c.to_json() for c in self.update],
            "replace": [c.to_json() for c in self.replace],
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


def changed_values(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Old -> new per changed leaf; a JSON document in a string is compared inside
    (`policy » Statement[0].Resource[0]`)."""
    before, after = _leaves(old), _leaves(new)
    values = []
    for path in sorted(p for p in before.keys() | after.keys() if before.get(p, _MISSING) != after.get(p, _MISSING)):
        shown = path[len("inputs.") :] if path.startswith("inputs.") else path
        was, now = before.get(path), after.get(path)
        inner_was, inner_now = _document(was), _document(now)
        if inner_was is not None and inner_now is not None:
            inner_before, inner_after = dict(flatten(inner_was)), dict(flatten(inner_now))
            for inner in sorted(inner_before.keys() | inner_after.keys()):
                if inner_before.get(inner, _MISSING) != inner_after.get(inner, _MISSING):
                    values.append(_value(f"{shown} » {inner}", inner_before.get(inner), inner_after.get(inner)))
        else:
            values.append(_value(shown, was, now))
    return values[:MAX_VALUES]


def _document(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _value(path: str, old: Any, new: Any) -> dict[str, Any]:
    return {"path": path, "old": _short(old), "new": _short(new)}


def _short(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True)
    if isinstance(value, str) and len(value) > VALUE_WIDTH:
        return value[: VALUE_WIDTH - 1] + "…"
    return value


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The diff document: `{"diff_version": 1, "env": ..., "stacks": [changed stacks only], "summary": {...}}`."""
    old_stacks = {s["stack"]: s for s in old.get("stacks", [])}
    new_stacks = {s["stack"]: s for s in new.get("stacks", [])}
    diffs = []
    findings: list[dict[str, str]] = []
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
            was, now = old_resources[urn], new_resources[urn]
            paths = changed_paths(was, now)
            if not paths:
                continue
            change = ResourceChange(urn, now["type"], now["name"], paths, changed_values(was, now))
            change.forced_by = forcing(now["type"], paths)
            if change.forced_by:
                delete_first = (now.get("options") or {}).get("deleteBeforeReplace")
                change.mode = "-+" if delete_first else "+-"
                diff.replace.append(change)
                findings.extend(_replacement_findings(name, was, change))
            else:
                diff.update.append(change)
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
            "replace": sum(len(d.replace) for d in diffs),
            "delete": sum(len(d.delete) for d in diffs),
        },
        "findings": sorted(findings, key=lambda f: (f["policy"], f["urn"])),
    }


def _replacement_findings(stack: str, old: dict[str, Any], change: ResourceChange) -> Iterator[dict[str, str]]:
    forced = ", ".join(change.forced_by)
    if (old.get("options") or {}).get("protect"):
        yield {
            "policy": "replace-protected",
            "enforcement": "mandatory",
            "urn": change.urn,
            "message": f"{change.name} is protected, but a change to {forced} replaces it: `up` will refuse",
        }
    if change.type in STATEFUL:
        yield {
            "policy": "replace-stateful",
            "enforcement": "mandatory",
            "urn": change.urn,
            "message": f"replacing {change.name} ({change.type.rsplit(':', 1)[1]}) loses what it holds or what "
            f"refers to it; forced by {forced}",
        }
