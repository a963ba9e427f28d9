"""Plain YAML data that remembers where each value came from.

`LocatedMap` and `LocatedList` are a `dict` and a `list` (so cerberus and ordinary code use them
unchanged) that also keep a `Mark` for themselves, for each key and for each value. Scalars cannot
carry attributes, so their marks live in the container that holds them. Because marks travel with
the containers, an environment override merged over the base keeps pointing at the override's
lines, and errors found after the merge still land on the line a user wrote.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple, Optional, Sequence

from .errors import PathElement


class Mark(NamedTuple):
    """A 1-based position in a spec file; `origin` is the environment whose override wrote it
    (None for the base document)."""

    line: int
    column: int
    origin: Optional[str] = None


#: `new_mark((line, column, origin))`: a Mark without NamedTuple's Python-level `__new__`. The
#: loader makes one or two per YAML node and an override's merge one per key and value.
new_mark = partial(tuple.__new__, Mark)


class LocatedMap(dict):
    """A mapping with the position of itself, of each key and of each value."""

    __slots__ = ("mark", "key_marks", "value_marks")

    def __init__(self, mark: Mark):
        super().__init__()
        self.mark = mark
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}

    def set(self, key: Any, value: Any, key_mark: Mark, value_mark: Mark) -> None:
        self[key] = value
        self.key_marks[key] = key_mark
        self.value_marks[key] = value_mark


class LocatedList(list):
    """A sequence with the position of itself and of each item."""

    __slots__ = ("mark", "item_marks")

    def __init__(self, mark: Mark):
        super().__init__()
        self.mark = mark
        self.item_marks: list[Mark] = []

    def add(self, value: Any, mark: Mark) -> None:
        self.append(value)
        self.item_marks.append(mark)


def marks_along(root: Any, path: Sequence[PathElement], *, key: bool = False) -> list[Mark]:
    """The marks of every node on `path` that exists, outermost first.

    With `key=True` the last element's mark is the mark of its *key* (used for "unknown field",
    where the key is the mistake). A path that leaves the data stops at the last node that exists:
    a missing required field is reported at the mapping that should hold it.
    """
    marks = [root.mark] if isinstance(root, (LocatedMap, LocatedList)) else [Mark(1, 1)]
    node = root
    for index, element in enumerate(path):
        last = index == len(path) - 1
        if isinstance(node, LocatedMap) and not isinstance(element, int) and element in node:
            marks.append(node.key_marks[element] if key and last else node.value_marks[element])
            node = node[element]
        elif isinstance(node, LocatedList) and isinstance(element, int) and 0 <= element < len(node):
            marks.append(node.item_marks[element])
            node = node[element]
        else:
            break
    return marks


def locate(root: Any, path: Sequence[PathElement], *, key: bool = False) -> Mark:
    """The position of the deepest node on `path` that exists."""
    return marks_along(root, path, key=key)[-1]


def to_plain(value: Any) -> Any:
    """Drop the marks: plain dicts and lists, for code that must not see positions."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value
