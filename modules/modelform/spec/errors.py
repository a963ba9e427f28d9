"""The one error type the spec layer produces, and how it prints.

Every problem found in a spec file becomes a `SpecError` carrying the file, the 1-based line and
column, the field path and a sentence a user can act on. Nothing else ever escapes the loader for
bad *input*: the CLI prints these one per line as `<file>:<line>:<col>: <field.path>: <message>`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

PathElement = Union[str, int]
FieldPath = tuple[PathElement, ...]

#: How the document itself (rather than a field in it) is named in a field path.
ROOT_PATH_TEXT = "(root)"


def format_path(path: Sequence[PathElement]) -> str:
    """`("deployments", 0, "autoscaling")` -> `deployments[0].autoscaling`."""
    text = ""
    for element in path:
        if isinstance(element, int):
            text += f"[{element}]"
        else:
            text += f".{element}" if text else str(element)
    return text or ROOT_PATH_TEXT


@dataclass(frozen=True, order=True)
class SpecError:
    """One problem in one spec file. Ordered by file, then position, so reports read top-down."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __post_init__(self) -> None:
        # One problem, one line: values quoted back from the file may hold newlines or
        # control characters, and a pasted paragraph should not flood the terminal.
        object.__setattr__(self, "message", _one_line(self.message, 600))
        object.__setattr__(self, "path", _one_line(self.path, 200))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {self.message}"


def _one_line(text: str, limit: int) -> str:
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SpecErrors(Exception):
    """Raised by the strict entry points when any spec is invalid; carries every problem found."""

    def __init__(self, errors: Iterable[SpecError]):
        self.errors = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix for near misses, or an empty string."""
    matches = difflib.get_close_matches(str(word), sorted(set(candidates)), n=1, cutoff=0.7)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def describe_value(value: object) -> str:
    """How a value is quoted back to the user in a message: its YAML-ish form and type."""
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    name = kind.get(type(value), type(value).__name__)
    shown = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{name} {shown}" if value is not None else "null"
