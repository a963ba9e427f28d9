"""Stack plans kept by their inputs, across runs: a plan or a diff runs Pulumi only for the stacks
whose inputs changed since any earlier run on this machine (or a CI cache restored from `main`).

A stack's program is a deterministic function of
- the program (this package and the SDKs under it: `content_cache.program_identity()`),
- the typed specs it is given (the environment's model spec and Platform spec; their repr names
  every field and value),
- the platform stack's outputs a model stack reads through its StackReference,
- the model code it ships (the source archive's content hash, which is also its version),
- where it runs from (the repository root and the working directory: file assets are recorded
  relative to it).
The key hashes all of these, so an entry is only ever read back where the program would record
the same resources, inputs, options and outputs again; the plan is byte-for-byte the same with or
without the cache (tested). Entries live in `.modelform/cache/stacks/`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from ..content_cache import ContentCache, key_of, write_entry
from ..spec import ModelSpec, PlatformSpec
from .stack_plan import PlannedResource, StackPlan


class StackCache:
    """Stack plans by key, on disk under `root` (None: in this process only) and in memory."""

    def __init__(self, root: Optional[str]):
        self.root = os.path.abspath(root or os.getcwd())
        self._entries = ContentCache(self.root if root is not None else None, "stacks")
        self.hits = self.misses = 0

    def platform_key(self, platform: PlatformSpec) -> str:
        return key_of("platform-stack", repr(platform), os.getcwd())

    def model_key(self, model: ModelSpec, platform: PlatformSpec, reference: dict[str, Any], code_version: str) -> str:
        return key_of(
            "model-stack",
            repr(model),
            repr(platform),
            json.dumps(reference, sort_keys=True),
            code_version,
            self.root,
            os.getcwd(),
        )

    @property
    def folder(self) -> Optional[str]:
        """Where entries are written (None: in memory only); planning workers write there too."""
        return self._entries.folder

    def get(self, key: str) -> Optional[StackPlan]:
        text = self._entries.get(key)
        if text is None:
            self.misses += 1
            return None
        try:
            plan = _from_json(json.loads(text))
        except (ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return plan

    def put(self, key: str, plan: StackPlan) -> None:
        self._entries.put(key, entry_text(plan))

    def adopt(self, key: str, text: str) -> StackPlan:
        """The plan of an entry a planning worker made (and wrote to `folder` already), kept in
        memory too. Read back as any cached entry is, so the plan cannot depend on who made it."""
        self._entries.remember(key, text)
        return _from_json(json.loads(text))


def entry_text(plan: StackPlan) -> str:
    """A stack plan as its cache entry."""
    return json.dumps(_to_json(plan), sort_keys=True)


def written_entry(folder: Optional[str], key: str, plan: StackPlan) -> str:
    """`plan`'s entry, written under `folder` (a StackCache's) unless it is None."""
    text = entry_text(plan)
    if folder is not None:
        write_entry(folder, key, text.encode("utf-8"))
    return text


def _to_json(plan: StackPlan) -> dict[str, Any]:
    return {**plan.to_json(), "outputs": plan.outputs}


def _from_json(entry: dict[str, Any]) -> StackPlan:
    resources = [
        PlannedResource(r["urn"], r["type"], r["name"], r["parent"], r["inputs"], r.get("options", {}))
        for r in entry["resources"]
    ]
    return StackPlan(entry["stack"], entry["kind"], entry["spec"], resources, entry["outputs"])
