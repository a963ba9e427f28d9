"""What the offline engine records of a stack: its resources (with engine-shaped inputs and the
options the mocks cannot see) and its outputs. Plain data, without Pulumi: plans read back from
the stack cache, the policies and the readiness checks use it without importing the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: Optional[str]
    inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        entry = {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent, "inputs": self.inputs}
        if self.options:
            entry["options"] = self.options
        return entry


@dataclass
class StackPlan:
    stack: str
    kind: str  # "Model" | "Platform"
    spec: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "kind": self.kind,
            "spec": self.spec,
            "resources": [r.to_json() for r in self.resources],
        }
