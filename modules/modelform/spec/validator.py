"""Structural validation: cerberus with our types and parsers, and errors in the user's words.

cerberus reports errors as codes with a document path; `structural_errors` turns each into a
`(path, message, at_key)` triple with a sentence that names the rule ("must be one of sagemaker,
eks (got 'sagmaker'; did you mean 'sagemaker'?)"). The caller attaches file positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable as IterableValue, Mapping, Sequence, Sized
from functools import lru_cache
from typing import Any, Iterable, Iterator, Optional

import cerberus
from cerberus import errors as cerberus_errors
from cerberus.platform import _int_types

from . import aws_catalog, parsers
from .errors import FieldPath, describe_value, did_you_mean
from .located import LocatedList, LocatedMap
from .schema import PATTERN_HELP, schema_at

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "dict": "a mapping",
    "list": "a list",
}


class SpecValidator(cerberus.Validator):
    """cerberus with booleans kept apart from numbers and the spec language's value parsers."""

    types_mapping = dict(cerberus.Validator.types_mapping)
    # YAML `true` is a bool and Python's bool is an int: without this, `min_instances: true` passes.
    types_mapping["integer"] = cerberus.TypeDefinition("integer", _int_types, (bool,))
    types_mapping["number"] = cerberus.TypeDefinition("number", (float,) + _int_types, (bool,))

    def _parsed_with(self, parser, field: str, value: Any) -> None:
        try:
            parser(value)
        except ValueError as exc:
            self._error(field, str(exc))

    def _check_with_duration(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_duration, field, value)

    def _check_with_schedule(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_schedule, field, value)

    def _check_with_s3_uri(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_s3_uri, field, value)

    def _check_with_email(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_email, field, value)

    def _check_with_timestamp(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_timestamp, field, value)

    def _check_with_quantity(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_quantity, field, value)

    def _check_with_cidr(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_private_cidr, field, value)

    def _check_with_allowlist_cidr(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_allowlist_cidr, field, value)

    def _check_with_tag_key(self, field: str, value: Any) -> None:
        if isinstance(value, str) and value.lower().startswith("aws:"):
            self._error(field, f"tag key '{value}' uses the 'aws:' prefix, which AWS reserves")
        else:
            self._parsed_with(parsers.parse_tag_text, field, value)

    def _check_with_tag_value(self, field: str, value: Any) -> None:
        self._parsed_with(parsers.parse_tag_text, field, value)

    def _check_with_region(self, field: str, value: Any) -> None:
        regions = aws_catalog.sagemaker_regions()
        if value not in regions:
            self._error(field, f"'{value}' is not an AWS region with SageMaker{did_you_mean(value, regions)}")

    def _check_with_ec2_instance_type(self, field: str, value: Any) -> None:
        known = aws_catalog.ec2_instance_types()
        if value not in known:
            self._error(field, f"'{value}' is not an EC2 instance type{did_you_mean(value, known)}")

    def _check_with_features(self, field: str, value: Any) -> None:
        if isinstance(value, str):
            if value != "all":
                self._error(field, f"must be 'all' or a list of feature names (got '{value}')")
            return
        if not isinstance(value, list):
            # cerberus runs `check_with` even on a value it has refused (`features:` is null
            # and reported as such): only a list is checked item by item.
            return
        seen: set[str] = set()
        for item in value:
            if not isinstance(item, str) or not item:
                self._error(field, f"feature names are non-empty strings (got {describe_value(item)})")
            elif item in seen:
                self._error(field, f"feature '{item}' is listed twice")
            else:
                seen.add(item)
        if not value:
            self._error(field, "must name at least one feature, or be 'all'")


@lru_cache(maxsize=None)
def _schema(schema_id: int, touched: frozenset[str] | None) -> dict:
    """A schema, or the part of it for the top-level keys an override wrote (built once each)."""
    schema = _SCHEMAS_BY_ID[schema_id]
    return schema if touched is None else {key: rules for key, rules in schema.items() if key in touched}


@lru_cache(maxsize=None)
def _validator(schema_id: int, touched: frozenset[str] | None) -> SpecValidator:
    # Building a cerberus Validator validates and hashes the whole schema: half the cost of a
    # validation. The schemas are constants, so each (schema, top-level subset) is built once.
    return SpecValidator(_schema(schema_id, touched))


_SCHEMAS_BY_ID: dict[int, dict] = {}


def structural_errors(
    document: dict, schema: dict, touched: Optional[Iterable[str]] = None
) -> list[tuple[FieldPath, str, bool]]:
    """Validate `document` against `schema`; each problem as (path, message, points_at_key).

    With `touched` (the top-level keys an environment override wrote), only those fields are
    validated: the rest of an environment-merged document is the base, already validated. A
    touched key that is gone (an override set it to null) but is required is reported here.
    """
    if touched is None:
        return [] if _accepts(document, schema) else cerberus_problems(document, schema)
    keys = frozenset(key for key in touched if isinstance(key, str))
    known = frozenset(keys & schema.keys())
    written = {key: document[key] for key in keys if key in document}
    _SCHEMAS_BY_ID.setdefault(id(schema), schema)
    accepted = _accepts(written, _schema(id(schema), known))
    problems = [] if accepted else cerberus_problems(written, schema, known)
    for key in sorted(keys):
        if key not in document and schema.get(key, {}).get("required"):
            problems.append(((key,), "required field is missing (an environment override cannot remove it)", True))
    return problems


def cerberus_problems(
    document: dict, schema: dict, known: Optional[frozenset[str]] = None
) -> list[tuple[FieldPath, str, bool]]:
    """What cerberus finds in `document` (checked against the `known` top-level fields only, when
    given), in the user's words: the path every refusal takes."""
    _SCHEMAS_BY_ID.setdefault(id(schema), schema)
    validator = _validator(id(schema), known)
    validator.validate(document, normalize=False)
    return [problem for error in validator._errors for problem in _flatten(error, schema)]


class _CheckProbe:
    """Runs one of `SpecValidator`'s `check_with` methods outside cerberus, noting only whether it
    objects (the messages are cerberus's to produce)."""

    _parsed_with = SpecValidator._parsed_with

    def __init__(self) -> None:
        self.objected = False

    def _error(self, *_: Any) -> None:
        self.objected = True


@lru_cache(maxsize=None)
def _pattern(pattern: str) -> "re.Pattern[str]":
    return re.compile(pattern if pattern.endswith("$") else pattern + "$")  # as cerberus reads it


def _accepts(document: Any, schema: dict) -> bool:
    """Whether cerberus would find nothing wrong, decided several times faster than asking it.

    Almost every document of a large repository is valid, and cerberus spends most of its time
    on bookkeeping for errors there are none of. This walks the same rules, compiled once per
    schema into plain Python (`_Compiler`). It is conservative: whatever it is unsure of counts
    as a problem, and then cerberus validates the document and words the errors, so a refusal
    never depends on this function. A test checks that it never accepts what cerberus refuses.
    """
    entry = _COMPILED.get(id(schema))
    if entry is None:
        entry = _COMPILED[id(schema)] = (schema, _Compiler().compile(schema))  # the schema is kept
        # alive with its function, so that its id is never reused for another schema
    return entry[1](document)


_COMPILED: dict[int, tuple[dict, Any]] = {}


def _learn(known: dict, pairs: tuple, value: Any) -> bool:
    """Whether `value` has one of a field's types (cerberus's `included`/`excluded` pairs); the
    answer depends on its class alone, so it is asked once per class (`Mapping` and `Sequence`
    are slow to ask)."""
    answer = known[value.__class__] = any(isinstance(value, inc) and not isinstance(value, exc) for inc, exc in pairs)
    return answer


def _in_allowed(value: Any, allowed: list) -> bool:
    if isinstance(value, IterableValue) and not isinstance(value, str):
        return all(item in allowed for item in value)
    return value in allowed


#: Answers of `check_with` methods for string values (durations, schedules, addresses), which a
#: fleet repeats: (method name, value) -> accepted. Bounded.
_CHECKED: dict[tuple[str, str], bool] = {}
_MAX_CHECKED = 100_000


def _probe(name: str) -> Any:
    """`SpecValidator._check_with_<name>` as a function of the value: True if it does not object."""
    method = getattr(SpecValidator, "_check_with_" + name)

    def passes_check(value: Any) -> bool:
        remembered = value.__class__ is str
        if remembered:
            answer = _CHECKED.get((name, value))
            if answer is not None:
                return answer
        probe = _CheckProbe()
        try:
            method(probe, "", value)
            answer = not probe.objected
        except Exception:  # cerberus will report it in its own way
            answer = False
        if remembered and len(_CHECKED) < _MAX_CHECKED:
            _CHECKED[(name, value)] = answer
        return answer

    return passes_check


#: The classes of located YAML data (and of plain data, in tests and merged documents).
_USUAL_CLASSES = (str, int, float, bool, LocatedMap, LocatedList, dict, list)


class _Compiler:
    """Writes a schema's rules as Python source: one function per mapping schema (its fields
    looked up in a table) and one per field, with every rule of the field inlined as a test that
    returns False. Executed once per schema; a validation is then a few calls per value instead
    of a few per rule, and no cerberus bookkeeping at all."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tables: list[str] = []
        self.namespace: dict[str, Any] = {
            "Mapping": Mapping,
            "Sequence": Sequence,
            "Sized": Sized,
            "LocatedMap": LocatedMap,
            "LocatedList": LocatedList,
            "_learn": _learn,
            "_in_allowed": _in_allowed,
        }
        self.functions: dict[int, str] = {}  # id(schema or rules) -> function name
        self.constants: dict[Any, str] = {}

    def compile(self, schema: dict) -> Any:
        name = self.mapping(schema)
        exec("\n".join([*self.lines, *self.tables]), self.namespace)  # noqa: S102 - our own source
        return self.namespace[name]

    def constant(self, value: Any, key: Any = None) -> str:
        key = ("id", id(value)) if key is None else key
        if key not in self.constants:
            self.constants[key] = f"_c{len(self.constants)}"
            self.namespace[self.constants[key]] = value
        return self.constants[key]

    def mapping(self, schema: dict) -> str:
        if id(schema) in self.functions:
            return self.functions[id(schema)]
        name = self.functions[id(schema)] = f"mapping_{len(self.functions)}"
        fields = {field: self.field(rules) for field, rules in schema.items()}
        table = f"{name}_fields"
        self.tables.append(f"{table} = {{{', '.join(f'{field!r}: {check}' for field, check in fields.items())}}}")
        required = [field for field, rules in schema.items() if rules.get("required")]
        self.lines += [
            f"def {name}(d):",
            "    t = d.__class__",
            "    if t is not LocatedMap and t is not dict and not isinstance(d, Mapping):",
            "        return False",
            f"    fields = {table}",
            "    for key, value in d.items():",
            "        check = fields.get(key)",
            "        if check is None or not check(value):",
            "            return False",
            f"    return {' and '.join(f'{field!r} in d' for field in required) or 'True'}",
            "",
        ]
        return name

    def field(self, rules: dict) -> str:
        """One field's rules as a function of its value (True: cerberus would accept it)."""
        if id(rules) in self.functions:
            return self.functions[id(rules)]
        name = self.functions[id(rules)] = f"field_{len(self.functions)}"
        self.constant(rules)  # kept alive with the source that names it by id
        nullable = bool(rules.get("nullable")) and "check_with" not in rules
        body = [f"if v is None: return {nullable}", "t = v.__class__"]

        def refuse_if(condition: str) -> None:
            body.append(f"if {condition}: return False")

        kinds = rules.get("type")
        declared = (kinds,) if isinstance(kinds, str) else tuple(kinds or ())
        if kinds is not None:
            pairs = tuple((d.included_types, d.excluded_types) for d in map(SpecValidator.types_mapping.get, declared))
            known = self.constant({}, ("types", declared))
            learned = f"({known}.get(t) or _learn({known}, {self.constant(pairs, ('pairs', declared))}, v))"
            # The classes YAML data has are answered by identity; any other class is learned.
            usual = [kind for kind in _USUAL_CLASSES if _learn({}, pairs, kind.__new__(kind))]
            refuse_if(" and ".join([*(f"t is not {kind.__name__}" for kind in usual), f"not {learned}"]))
        if "empty" in rules and not rules["empty"]:
            # An empty value skips the length, pattern and allowed rules in cerberus; be strict instead.
            refuse_if("not v and isinstance(v, Sized)")
        if "allowed" in rules:
            allowed = list(rules["allowed"])  # scalars: a string's answer comes from a set
            strings = self.constant(frozenset(value for value in allowed if isinstance(value, str)))
            refuse_if(f"(v not in {strings}) if t is str else not _in_allowed(v, {self.constant(allowed)})")
        for rule, compare in (("minlength", "<"), ("maxlength", ">")):
            if rule in rules:
                refuse_if(f"(t is not str and not isinstance(v, Sized)) or len(v) {compare} {int(rules[rule])}")
        if "regex" in rules:
            refuse_if(f"t is str and {self.constant(_pattern(rules['regex']).match)}(v) is None")
        for rule, compare in (("min", ">="), ("max", "<=")):
            if rule in rules:  # a value that cannot be compared is refused, as cerberus does
                body += ["try:", f"    if not v {compare} {self.constant(rules[rule])}: return False"]
                body += ["except TypeError:", "    return False"]
        if "check_with" in rules:
            refuse_if(f"not {self.constant(_probe(rules['check_with']))}(v)")
        if "keysrules" in rules or "valuesrules" in rules:
            refuse_if("t is not LocatedMap and t is not dict and not isinstance(v, Mapping)")
            each = []
            if "keysrules" in rules:
                each.append(f"not {self.field(rules['keysrules'])}(key)")
            if "valuesrules" in rules:
                each.append(f"not {self.field(rules['valuesrules'])}(item)")
            body += ["for key, item in v.items():", f"    if {' or '.join(each)}: return False"]
        if "schema" in rules:
            # cerberus reads `schema` by the value's type: item rules for a list, field rules for a
            # mapping; the field's declared type says which one the schema was written as.
            nested = rules["schema"]
            body.append("if t is LocatedList or t is list or (t is not str and isinstance(v, Sequence)):")
            if "list" in declared:
                body += ["    for item in v:", f"        if not {self.field(nested)}(item): return False"]
            else:
                body.append("    return False")
            body.append("else:")
            if "dict" in declared:
                body.append(f"    if not {self.mapping(nested)}(v): return False")
            else:
                body.append("    return False")
        self.lines += [f"def {name}(v):", *(f"    {line}" for line in body), "    return True", ""]
        return name


def _flatten(error: cerberus_errors.ValidationError, schema: dict) -> Iterator[tuple[FieldPath, str, bool]]:
    if error.is_group_error:
        for child in error.child_errors or ():
            yield from _flatten(child, schema)
        return
    path = tuple(error.document_path)
    code = error.code
    value = error.value
    if code == cerberus_errors.UNKNOWN_FIELD.code:
        parent = schema_at(schema, path[:-1]) or {}
        known = (parent.get("schema") or {}).keys()
        yield path, f"unknown field '{path[-1]}'{did_you_mean(str(path[-1]), known)}", True
    elif code == cerberus_errors.REQUIRED_FIELD.code:
        yield path, "required field is missing", True
    elif code == cerberus_errors.BAD_TYPE.code:
        yield path, _type_message(error.constraint, value), False
    elif code == cerberus_errors.NOT_NULLABLE.code:
        yield path, "needs a value (got null)", False
    elif code == cerberus_errors.EMPTY_NOT_ALLOWED.code:
        yield path, "must not be empty", False
    elif code in (cerberus_errors.MIN_LENGTH.code, cerberus_errors.MAX_LENGTH.code):
        yield path, _length_message(code, error.constraint, value), False
    elif code == cerberus_errors.REGEX_MISMATCH.code:
        help_text = PATTERN_HELP.get(error.constraint, f"the pattern {error.constraint}")
        yield path, f"'{value}' must be {help_text}", False
    elif code == cerberus_errors.MIN_VALUE.code:
        yield path, f"must be at least {error.constraint} (got {value})", False
    elif code == cerberus_errors.MAX_VALUE.code:
        yield path, f"must be at most {error.constraint} (got {value})", False
    elif code == cerberus_errors.UNALLOWED_VALUE.code:
        allowed = [str(a) for a in error.constraint]
        yield (
            path,
            f"must be {_one_of(allowed)} (got {describe_value(value)}){did_you_mean(str(value), allowed)}",
            False,
        )
    elif code == cerberus_errors.UNALLOWED_VALUES.code:
        allowed = [str(a) for a in error.constraint]
        bad = [v for v in value if v not in error.constraint]
        yield path, f"{', '.join(repr(b) for b in bad)}: each item must be {_one_of(allowed)}", False
    elif code == cerberus_errors.CUSTOM.code:
        yield path, str(error.info[0]), False
    else:  # pragma: no cover - every rule the schemas use is translated above
        yield path, f"violates rule '{error.rule}' ({error.constraint})", False


def _one_of(allowed: list[str]) -> str:
    return allowed[0] if len(allowed) == 1 else "one of " + ", ".join(allowed)


def _type_message(expected: Any, value: Any) -> str:
    kinds = expected if isinstance(expected, list) else [expected]
    wanted = " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
    hint = ""
    if "string" in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        hint = f"; quote it: '{value}'"
    return f"must be {wanted} (got {describe_value(value)}){hint}"


def _length_message(code: int, limit: int, value: Any) -> str:
    least = code == cerberus_errors.MIN_LENGTH.code
    if isinstance(value, str):
        unit = "character" if limit == 1 else "characters"
        return f"must be {'at least' if least else 'at most'} {limit} {unit} (got {len(value)})"
    unit = "item" if limit == 1 else "items"
    return f"must have {'at least' if least else 'at most'} {limit} {unit} (got {len(value)})"
