"""Safe YAML reading that keeps every position and refuses what an auditor could misread.

PyYAML's composer gives us nodes with positions; we build the data ourselves instead of calling
`safe_load`, so that we can:

- keep the line and column of every key and value (`LocatedMap` / `LocatedList`);
- reject duplicate keys (loaders silently keep the last one; an auditor reads the first);
- accept only plain YAML: strings, numbers, booleans, null, mappings, lists, anchors/aliases and
  `<<` merge keys. Any other tag (`!!python/object`, `!!binary`, `!custom`) is an error and is
  never constructed, so no tag can run code;
- bound alias expansion: every node visited counts, shared or not, so an alias bomb stops after
  `MAX_NODES` visits in milliseconds instead of expanding to billions of nodes;
- keep YAML 1.1 timestamps (`version: 2026-11-01`) as the text the user wrote, not a `date`.
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache
from typing import Any, Optional

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ROOT_PATH_TEXT, FieldPath, SpecError, SpecErrors, describe_value, format_path
from .located import LocatedList, LocatedMap, Mark, new_mark

#: Largest spec file read, in bytes. Real specs are a few KiB.
MAX_FILE_BYTES = 1024 * 1024
#: Nodes visited while building one document, aliases counted each time they are expanded.
MAX_NODES = 50_000
#: Deepest nesting of mappings and lists. The spec language needs about 6.
MAX_DEPTH = 64

_C_OR_PYTHON_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Tags the resolver gave (kind, text, implicit) before, at most this many.
MAX_RESOLVED = 100_000
_RESOLVER = yaml.resolver.Resolver()  # the safe loaders' own resolver (C or Python alike)


@lru_cache(maxsize=MAX_RESOLVED)
def _resolved_tag(kind: Any, value: Any, implicit: Any) -> str:
    return _RESOLVER.resolve(kind, value, implicit)


class _Loader(_C_OR_PYTHON_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader (libyaml's when installed), answering the resolver from memory.

    For every scalar the composer asks which tag its text has, and the resolver tries a handful of
    regular expressions in Python: a tenth of the composer's time. The answer depends only on the
    node kind, the text and how it was written (plain or quoted), and a fleet's specs repeat the
    same keys and values thousands of times."""

    # The memory itself, not a method calling it: the composer asks once per node.
    resolve = staticmethod(_resolved_tag)
    # The composer also tells the resolver where each node is, for path-based resolvers; none is
    # registered, so both calls do nothing, and C builtins do nothing faster than two Python
    # methods per node that check for them (same arguments, answer ignored).
    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)


_LOADER = _Loader
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str", "timestamp")}


class _Fatal(Exception):
    """Stops building a document; the message is reported at `mark`."""

    def __init__(self, message: str, mark: Mark):
        super().__init__(message)
        self.message = message
        self.mark = mark


def _indenting_tab(text: str, up_to_line: Optional[int]) -> Optional[Mark]:
    """Where the first tab in a line's leading whitespace is, on or before the line the parser
    stopped at (YAML forbids tabs in indentation; inside block scalars they are text)."""
    lines = text.split("\n")[: up_to_line or None]
    for number, line in enumerate(lines, start=1):
        indentation = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indentation and line.strip():
            return Mark(number, indentation.index("\t") + 1)
    return None


def _mark(node_or_mark: Any) -> Mark:
    """The 1-based position of a node (or of a PyYAML mark). On the hot path: a spec has hundreds
    of nodes, each with a mark or two, so the tuple is made without Mark's Python-level __new__."""
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return new_mark((mark.line + 1, mark.column + 1, None))


_STR, _TIMESTAMP, _MERGE = _TAG + "str", _TAG + "timestamp", _TAG + "merge"
_SEQ, _MAP = _TAG + "seq", _TAG + "map"


#: Scalars other than strings, constructed before: (tag, text) -> value. A fleet's specs repeat
#: the same numbers and booleans thousands of times; bounded like the resolver's memory.
_CONSTRUCTED: dict[tuple[str, str], Any] = {}


class _Builder:
    """Turns one composed YAML node tree into located plain data, collecting problems.

    The hot path (a spec has a hundred nodes, a fleet a hundred thousand) is `mapping` and
    `sequence` building their scalar items in place; `build` handles any node, and is where every
    other node passes."""

    def __init__(self, file: str):
        self.file = file
        self.errors: list[SpecError] = []
        self.visited = 0
        self.on_stack: set[int] = set()
        self.scalars = SafeConstructor()

    def error(self, mark: Mark, path: FieldPath, message: str) -> None:
        self.errors.append(SpecError(self.file, mark.line, mark.column, format_path(path), message))

    def too_many(self, node: Node) -> _Fatal:
        return _Fatal(
            f"the document expands to more than {MAX_NODES:,} nodes "
            "(alias expansion is bounded; is this an alias bomb?)",
            _mark(node),
        )

    # Every node visited counts, aliases each time they are expanded (`visited`); the loops below
    # count in place rather than through a call, as they do everything else on the hot path.

    def build(self, node: Node, path: FieldPath = ()) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self.too_many(node)
        if node.__class__ is ScalarNode:  # a scalar contains nothing, so it cannot be on the stack
            return self.scalar(node, path)
        return self.container(node, path)

    def container(self, node: Node, path: FieldPath) -> Any:
        """A mapping or a list (already counted)."""
        if len(path) > MAX_DEPTH:
            raise _Fatal(f"nesting deeper than {MAX_DEPTH} levels", _mark(node))
        if id(node) in self.on_stack:
            raise _Fatal("an alias refers to a node that contains it (recursive structure)", _mark(node))
        self.on_stack.add(id(node))
        try:
            kind = node.__class__
            if kind is SequenceNode:
                return self.sequence(node, path)
            if kind is MappingNode:
                return self.mapping(node, path)
        finally:
            self.on_stack.discard(id(node))
        raise _Fatal("unsupported YAML node", _mark(node))  # pragma: no cover - composer emits only the three

    def scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        tag = node.tag
        if tag == _STR or tag == _TIMESTAMP:
            # Strings need no constructor (the common case). Timestamps keep what the user
            # wrote: `2026-11-01` is a data version label, not a date.
            return node.value
        key = (tag, node.value)
        value = _CONSTRUCTED.get(key, _CONSTRUCTED)
        if value is _CONSTRUCTED:
            if tag not in _SCALAR_TAGS:
                raise _Fatal(_tag_message(tag), _mark(node))
            value = self.scalars.construct_object(node, deep=True)
            if len(_CONSTRUCTED) < MAX_RESOLVED:
                _CONSTRUCTED[key] = value
        if value.__class__ is float and not math.isfinite(value):
            self.error(_mark(node), path, f"{node.value!r} is not a finite number")
        return value

    def sequence(self, node: SequenceNode, path: FieldPath) -> LocatedList:
        if node.tag != _SEQ:
            raise _Fatal(_tag_message(node.tag), _mark(node))
        result = LocatedList(_mark(node))
        values, marks = result, result.item_marks
        for index, item in enumerate(node.value):
            self.visited += 1
            if self.visited > MAX_NODES:
                raise self.too_many(item)
            if item.__class__ is ScalarNode:
                tag = item.tag
                value = item.value if tag == _STR or tag == _TIMESTAMP else self.scalar(item, path + (index,))
            else:
                value = self.container(item, path + (index,))
            start = item.start_mark
            values.append(value)
            marks.append(new_mark((start.line + 1, start.column + 1, None)))
        return result

    def mapping(self, node: MappingNode, path: FieldPath) -> LocatedMap:
        if node.tag != _MAP:
            raise _Fatal(_tag_message(node.tag), _mark(node))
        result = LocatedMap(_mark(node))
        key_marks, value_marks = result.key_marks, result.value_marks
        merge_sources: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.__class__ is ScalarNode and key_node.tag == _STR:
                key = key_node.value  # what build() returns for it, without the call
                self.visited += 1
                if self.visited > MAX_NODES:
                    raise self.too_many(key_node)
            elif key_node.tag == _MERGE:
                merge_sources.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
                continue
            else:
                key = self.build(key_node, path)
            if not isinstance(key, str):
                self.error(
                    _mark(key_node),
                    path,
                    f"keys must be strings; {describe_value(key)} comes from "
                    f"{key_node.value!r}" + (" (quote it)" if isinstance(key_node, ScalarNode) else ""),
                )
                continue
            if key in result:
                first = key_marks[key]
                self.error(
                    _mark(key_node),
                    path + (key,),
                    f"duplicate key '{key}' (first defined at line {first.line}); "
                    "YAML loaders silently keep the last one",
                )
                continue
            self.visited += 1
            if self.visited > MAX_NODES:
                raise self.too_many(value_node)
            if value_node.__class__ is ScalarNode:
                tag = value_node.tag
                if tag == _STR or tag == _TIMESTAMP:
                    result[key] = value_node.value
                else:
                    result[key] = self.scalar(value_node, path + (key,))
            else:
                result[key] = self.container(value_node, path + (key,))
            start = key_node.start_mark
            key_marks[key] = new_mark((start.line + 1, start.column + 1, None))
            start = value_node.start_mark
            value_marks[key] = new_mark((start.line + 1, start.column + 1, None))
        # `<<: *defaults` fills only the keys the mapping does not set itself (YAML merge key).
        for source_node in merge_sources:
            source = self.build(source_node, path)
            if not isinstance(source, LocatedMap):
                raise _Fatal("a '<<' merge key takes a mapping or a list of mappings", _mark(source_node))
            for key, value in source.items():
                if key not in result:
                    result.set(key, value, source.key_marks[key], source.value_marks[key])
        return result


def _tag_message(tag: str) -> str:
    shown = "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
    return (
        f"YAML tag '{shown}' is not allowed; spec files use plain YAML "
        "(strings, numbers, booleans, null, mappings, lists)"
    )


def parse_document(text: str | bytes, file: str) -> LocatedMap:
    """Parse one spec document. Raises `SpecErrors` listing every problem found.

    The document must be exactly one YAML mapping.
    """

    def fail(message: str, mark: Mark = Mark(1, 1)) -> SpecErrors:
        return SpecErrors([SpecError(file, mark.line, mark.column, ROOT_PATH_TEXT, message)])

    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise fail(f"file is {len(text):,} bytes; spec files are limited to {MAX_FILE_BYTES:,}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(f"file is not UTF-8 text (byte {exc.start})") from None
    elif len(text) > MAX_FILE_BYTES:
        raise fail(f"file is {len(text):,} characters; spec files are limited to {MAX_FILE_BYTES:,}")
    if "\x00" in text:
        raise fail("file contains NUL characters; it is not a YAML text file")

    try:
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        tab = _indenting_tab(text, mark.line + 1 if mark else None)
        if tab is not None:  # PyYAML says "found character that cannot start any token"
            raise fail("tabs are not allowed for indentation; use spaces", tab) from None
        raise fail(f"YAML syntax error: {problem}", _mark(mark) if mark else Mark(1, 1)) from None
    except yaml.reader.ReaderError as exc:  # control characters: a position, no mark
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise fail(f"character #x{code:04x} is not allowed in YAML: {exc.reason}", Mark(line, column)) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every YAMLError subclass is handled above
        raise fail(f"YAML error: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise fail(f"nesting deeper than {MAX_DEPTH} levels") from None

    documents = [d for d in documents if d is not None]
    if not documents:
        raise fail("file is empty; a spec file holds one YAML mapping with `kind: Model` or `kind: Platform`")
    if len(documents) > 1:
        raise fail(
            f"file holds {len(documents)} YAML documents; a spec file holds exactly one",
            _mark(documents[1]),
        )
    root = documents[0]
    builder = _Builder(file)
    try:
        data = builder.build(root)
    except _Fatal as fatal:
        raise fail(fatal.message, fatal.mark) from None
    except RecursionError:
        raise fail(f"nesting deeper than {MAX_DEPTH} levels") from None
    if builder.errors:
        raise SpecErrors(builder.errors)
    if not isinstance(data, LocatedMap):
        raise fail(
            "a spec file holds one YAML mapping (`kind: Model` or `kind: Platform`), not "
            f"{describe_value(_plain_scalar(data))}",
            _mark(root),
        )
    return data


def _plain_scalar(value: Any) -> Any:
    return list(value) if isinstance(value, LocatedList) else value


def read_bytes(path: str, display_name: Optional[str] = None) -> bytes:
    """A spec file's bytes (one more than the limit at most); unreadable files become a
    `SpecErrors` like any other problem."""
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        name = display_name or path
        raise SpecErrors([SpecError(name, 1, 1, ROOT_PATH_TEXT, f"cannot read file: {exc.strerror}")]) from None


def read_document(path: str, display_name: Optional[str] = None) -> LocatedMap:
    """Read and parse a spec file."""
    return parse_document(read_bytes(path, display_name), display_name or path)
