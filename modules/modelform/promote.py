"""`modelform promote`: move a variant to another model version (or weight) by editing its spec.

GitOps: every deployed version is a reviewed commit, so promotion is an edit of the spec file,
not a call to AWS. The edit changes the value and nothing else: the file is parsed with positions
kept, the value's characters are replaced where they stand (or the key is added next to its
siblings, in the mapping's own style), and every other byte, comments and formatting included,
stays as it was. The result is validated with the rest of the spec set before it is written;
with AWS credentials, the version must be `Approved` in the model's registry; without them, it
says that it could not check.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .spec.errors import SpecErrors, format_path
from .spec.located import LocatedList, LocatedMap, Mark
from .spec.yaml_loader import parse_document

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?(?=[\s,}\]#]|$)")


class PromoteError(Exception):
    """The promotion cannot be made as asked: one line for the user."""


class InvalidEdit(PromoteError):
    """The edit would make the specs invalid; `errors` says how."""

    def __init__(self, message: str, errors: list):
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True)
class Promotion:
    """What to write: the spec file's new text, the edits made, and what could not be checked."""

    file: str
    text: str
    edits: list["Edit"]
    notice: Optional[str]


@dataclass(frozen=True)
class Edit:
    path: str  # the field, e.g. deployments[0].variants[1].model_version
    line: int
    before: Optional[str]  # as written; None when the key was added
    after: str


def _find(items: Any, name: str, what: str, where: str) -> tuple[int, LocatedMap]:
    if not isinstance(items, LocatedList):
        raise PromoteError(f"{where} has no {what}s")
    for index, item in enumerate(items):
        if isinstance(item, LocatedMap) and item.get("name") == name:
            return index, item
    known = ", ".join(str(i.get("name")) for i in items if isinstance(i, LocatedMap))
    raise PromoteError(f"no {what} '{name}' in {where} ({what}s: {known or 'none'})")


def locate_variant(
    document: LocatedMap, deployment: str, variant: str, environment: Optional[str], fields: tuple[str, ...]
) -> tuple[tuple, LocatedMap]:
    """(path, mapping) of the variant to edit: the environment's override when it sets one of
    `fields` for that variant, else the base document's."""
    _, base_deployment = _find(document.get("deployments"), deployment, "deployment", "the spec")
    index, base_variant = _find(base_deployment.get("variants"), variant, "variant", f"deployment '{deployment}'")
    base_path = ("deployments", document["deployments"].index(base_deployment), "variants", index)
    overrides = document.get("environments")
    if environment and isinstance(overrides, LocatedMap) and isinstance(overrides.get(environment), LocatedMap):
        override = overrides[environment]
        try:
            d_index, o_deployment = _find(override.get("deployments"), deployment, "deployment", "")
            v_index, o_variant = _find(o_deployment.get("variants"), variant, "variant", "")
        except PromoteError:
            return base_path, base_variant
        if any(field in o_variant for field in fields):
            return ("environments", environment, "deployments", d_index, "variants", v_index), o_variant
    return base_path, base_variant


def _replace(lines: list[str], mark: Mark, text: str) -> str:
    """Put `text` in place of the number written at `mark`; the number as it was."""
    row, column = mark.line - 1, mark.column - 1
    line = lines[row]
    token = _NUMBER.match(line, column)
    if token is None:
        raise PromoteError(f"line {mark.line}: the value is not written as a plain number; edit it by hand")
    lines[row] = line[: token.start()] + text + line[token.end() :]
    return token.group(0)


def _closing_brace(lines: list[str], mark: Mark) -> tuple[int, int]:
    """The row and column of the `}` closing the flow mapping that opens at `mark`."""
    depth, quote = 0, ""
    for row in range(mark.line - 1, len(lines)):
        line = lines[row]
        start = mark.column - 1 if row == mark.line - 1 else 0
        for column in range(start, len(line)):
            char = line[column]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (column == 0 or line[column - 1] in " \t"):
                break  # a comment: the rest of the line
            elif char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
                if depth == 0:
                    return row, column
    raise PromoteError(f"line {mark.line}: the variant's mapping is not closed")


def _insert(lines: list[str], mapping: LocatedMap, key: str, text: str) -> int:
    """Add `key: text` to `mapping` in its own style; the line it is on."""
    first = lines[mapping.mark.line - 1][mapping.mark.column - 1 :]
    if first.startswith("{"):
        row, column = _closing_brace(lines, mapping.mark)
        line = lines[row]
        before = line[:column].rstrip()
        lines[row] = f"{before}, {key}: {text}" + line[len(before) :]  # the spacing before `}` kept
        return row + 1
    last = max(m.line for m in mapping.key_marks.values())
    indent = min(m.column for m in mapping.key_marks.values()) - 1
    lines.insert(last, " " * indent + f"{key}: {text}")
    return last + 1


def edit_text(
    text: str, file: str, *, deployment: str, variant: str, environment: Optional[str], changes: dict[str, str]
) -> tuple[str, list[Edit]]:
    """`text` with `changes` (field -> new value as written) made to the variant; every other
    byte as it was."""
    try:
        document = parse_document(text, file)
    except SpecErrors as errors:
        raise PromoteError(f"{file} does not parse: {errors.errors[0]}") from None
    path, mapping = locate_variant(document, deployment, variant, environment, tuple(changes))
    if "model_version" in changes and "artifact" in mapping:
        raise PromoteError(
            f"variant '{variant}' serves an artifact ({mapping['artifact']}), not a registry version; "
            "replace `artifact` with `model_version` by hand"
        )
    ending = "\r\n" if "\r\n" in text else "\n"
    trailing = text.endswith(("\n", "\r\n"))
    lines = text.splitlines()
    edits = []
    # Replacements first, right to left (a longer number moves what follows it on its line), then
    # insertions (which add characters or lines after every position read).
    present = sorted((k for k in changes if k in mapping), key=lambda k: mapping.value_marks[k], reverse=True)
    for key in present:
        before = _replace(lines, mapping.value_marks[key], changes[key])
        edits.append(Edit(format_path(path + (key,)), mapping.value_marks[key].line, before, changes[key]))
    edits.reverse()
    for key, value in changes.items():
        if key not in mapping:
            edits.append(Edit(format_path(path + (key,)), _insert(lines, mapping, key, value), None, value))
    return ending.join(lines) + (ending if trailing else ""), edits


def registry_status(region: str, model: str, version: int, session_factory: Optional[Callable] = None) -> Optional[str]:
    """The version's approval status in the model's registry, or None without AWS credentials."""
    import boto3
    import botocore.exceptions

    from .model_registry import model_package_arn

    session = (session_factory or boto3.session.Session)(region_name=region)
    if session.get_credentials() is None:
        return None
    try:
        account = session.client("sts").get_caller_identity()["Account"]
        answer = session.client("sagemaker").describe_model_package(
            ModelPackageName=model_package_arn(region, account, model, version)
        )
    except botocore.exceptions.ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise PromoteError(f"version {version} of {model} is not in its registry: {message}") from None
    except botocore.exceptions.BotoCoreError as error:
        raise PromoteError(f"the registry could not be asked: {error}") from None
    return answer["ModelApprovalStatus"]


def promote(
    specs,
    model,
    *,
    deployment: str,
    variant: str,
    environment: Optional[str],
    version: Optional[int],
    weight: Optional[float],
) -> Promotion:
    """The promotion of `model`'s variant, validated with the whole spec set (`specs`) and, with
    AWS credentials, against the registry. Nothing is written here."""
    from .spec import load_spec_texts

    changes = {}
    if version is not None:
        changes["model_version"] = str(version)
    if weight is not None:
        changes["weight"] = f"{weight:g}"
    file = model.source
    with open(file, encoding="utf-8", newline="") as handle:
        text = handle.read()
    edited, edits = edit_text(
        text, file, deployment=deployment, variant=variant, environment=environment, changes=changes
    )
    texts = []
    for other in specs.files:
        if os.path.abspath(other) == os.path.abspath(file):
            texts.append((other, edited))
        else:
            with open(other, "rb") as handle:
                texts.append((other, handle.read()))
    checked = load_spec_texts(texts, root=specs.root)
    if checked.errors:
        raise InvalidEdit(f"the edit would make the specs invalid; {file} is unchanged", checked.errors)
    notice = None
    platform = specs.platform(model.environment)
    if version is not None and platform is not None:
        status = registry_status(platform.region, model.name, version)
        if status is None:
            notice = f"not checked against the registry (no AWS credentials): is version {version} Approved?"
        elif status != "Approved":
            raise PromoteError(
                f"version {version} of {model.name} is {status} in the registry; only Approved versions are promoted"
            )
    return Promotion(file, edited, edits, notice)
