"""What an IAM role may do, in plain words, derived from the policy documents the plan holds.

Nothing here is restated by hand: each sentence is read off one planned statement (its actions,
resources and conditions), so a change of policy changes the report. Actions are named by their
verb and object ("s3:GetObject" -> read objects), resources by what they are ("s3://bucket/prefix/*",
"the sagemaker pipeline fraud-detector-retraining"); anything unknown is shown as written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

#: The verb of an action name, in words (an action is <Verb><Object>, e.g. PutObject).
VERBS = {
    "Get": "read",
    "Put": "write",
    "List": "list",
    "Describe": "describe",
    "Create": "create",
    "Delete": "delete",
    "Update": "update",
    "Start": "start",
    "Stop": "stop",
    "Invoke": "invoke",
    "Send": "send",
    "Publish": "publish",
    "Decrypt": "decrypt with",
    "Encrypt": "encrypt with",
    "GenerateDataKey": "make data keys with",
    "Pass": "hand over",
    "Assume": "assume",
    "Add": "add",
    "Search": "search",
    "Batch": "batch",
    "Tag": "tag",
    "Receive": "receive",
    "Change": "change",
}
_WORD = re.compile(r"[A-Z][a-z0-9]*|[a-z0-9]+")


@dataclass(frozen=True)
class Permission:
    """One statement, in words."""

    effect: str  # "may" | "may not"
    actions: str
    resources: str
    conditions: str

    def sentence(self) -> str:
        text = f"{self.effect} {self.actions} on {self.resources}"
        return text + (f", {self.conditions}" if self.conditions else "")


def action_words(action: str) -> str:
    """`s3:GetObject` -> `read object (s3)`; `sagemaker:*` -> `do anything (sagemaker)`."""
    service, _, name = action.partition(":")
    if name == "*":
        return f"do anything ({service})"
    if name.startswith("GenerateDataKey"):
        return f"make data keys ({service})"
    words = _WORD.findall(name.rstrip("*"))
    if not words:
        return action
    verb = VERBS.get(words[0])
    rest = " ".join(w.lower() for w in words[1:])
    if verb is None:
        return f"{' '.join(w.lower() for w in words)}{'*' if name.endswith('*') else ''} ({service})"
    return f"{verb} {rest}{'*' if name.endswith('*') else ''} ({service})".replace("  ", " ")


def resource_words(resource: str) -> str:
    """An ARN as what it is; `*` as any resource."""
    if resource == "*":
        return "any resource"
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return resource
    service, path = parts[2], parts[5]
    if service == "s3":
        return f"s3://{path}"
    if path == "*":
        return f"any {service} resource"
    cut = min((i for i in (path.find("/"), path.find(":")) if i >= 0), default=-1)
    if cut < 0:
        return f"{service} {path}"
    kind, name = path[:cut].replace("-", " "), path[cut + 1 :]
    return f"{service} {kind} {name}"


def _grouped(phrases: Iterable[str]) -> str:
    """`read object (s3), write object (s3)` -> `read object, write object (s3)`."""
    by_service: dict[str, list[str]] = {}
    for phrase in phrases:
        words, _, service = phrase.rpartition(" (")
        by_service.setdefault(service.rstrip(")"), []).append(words)
    return "; ".join(f"{', '.join(dict.fromkeys(words))} ({service})" for service, words in by_service.items())


def _conditions(condition: dict[str, Any]) -> str:
    words = []
    for operator, pairs in sorted(condition.items()):
        for key, value in sorted(pairs.items()):
            values = value if isinstance(value, list) else [value]
            words.append(f"when {key} {operator} {', '.join(str(v) for v in values)}")
    return "; ".join(words)


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def permissions(policy: str | dict) -> list[Permission]:
    """Every statement of one policy document, in words (placeholders of values known only after
    deployment, such as `<acme-ml-artifacts.bucket>`, are kept as the plan shows them)."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    result = []
    for statement in _listed(document.get("Statement", [])):
        effect = "may" if statement.get("Effect") == "Allow" else "may not"
        actions = _grouped(action_words(a) for a in _listed(statement.get("Action", [])))
        resources = ", ".join(resource_words(r) for r in _listed(statement.get("Resource", "*")))
        result.append(Permission(effect, actions, resources, _conditions(statement.get("Condition", {}))))
    return result


@dataclass(frozen=True)
class RoleAccess:
    name: str
    description: str
    trusted_by: str
    permissions: tuple[Permission, ...]


def role_access(resources: Iterable[dict]) -> list[RoleAccess]:
    """Each planned IAM role of a stack with what its inline policies allow, in words."""
    resources = list(resources)
    policies: dict[str, list[Permission]] = {}
    for resource in resources:
        if resource["type"] == "aws:iam/rolePolicy:RolePolicy":
            role = str(resource["inputs"].get("role", "")).strip("<>").removesuffix(".id")
            policies.setdefault(role, []).extend(permissions(resource["inputs"]["policy"]))
    roles = []
    for resource in resources:
        if resource["type"] != "aws:iam/role:Role":
            continue
        inputs = resource["inputs"]
        trust = permissions(inputs.get("assumeRolePolicy", "{}"))
        principals = _trusted(inputs.get("assumeRolePolicy", "{}"))
        roles.append(
            RoleAccess(
                resource["name"],
                inputs.get("description", ""),
                principals or ", ".join(p.resources for p in trust),
                tuple(policies.get(resource["name"], [])),
            )
        )
    return sorted(roles, key=lambda r: r.name)


def _trusted(policy: str | dict) -> str:
    """Who may assume the role: the services or identity providers of its trust policy."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    who = []
    for statement in _listed(document.get("Statement", [])):
        principal = statement.get("Principal", {})
        for kind in ("Service", "Federated", "AWS"):
            for value in _listed(principal.get(kind, [])):
                who.append(resource_words(value) if value.startswith("arn:") else value)
    return ", ".join(dict.fromkeys(who))
