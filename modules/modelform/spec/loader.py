"""Load a set of spec files into typed specs, or into every problem they contain.

The one entry point of the spec layer (`load_specs`). For each file: parse (positions kept),
check the header, validate the structure of the base document and of every environment override
merged over it, then the shape, typed and cross-file rules. Problems of all files are collected
and returned together, sorted by file and line; a file with problems yields no typed spec, so
nothing downstream is ever built from an invalid spec.
"""

from __future__ import annotations

import gc
import os
import re
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Collection, Iterator, Mapping, Optional, Sequence

from . import cache as spec_cache
from . import forked, rules
from .errors import ROOT_PATH_TEXT, FieldPath, SpecError, SpecErrors, describe_value, did_you_mean, format_path
from .located import LocatedMap, locate, marks_along
from .merge import apply_environment, override_mark
from .schema import DEFAULT_ENVIRONMENTS, SCHEMAS, SPEC_VERSION
from .types import ModelSpec, PlatformSpec, Sections, in_environment, model_from_document, platform_from_document
from .validator import structural_errors
from .yaml_loader import parse_document, read_bytes

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class SpecSet:
    """Every valid spec in every environment, and every problem found."""

    files: list[str] = field(default_factory=list)
    root: str = "."  # the repository root that model.code is relative to
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    errors: list[SpecError] = field(default_factory=list)
    #: What is valid but probably not meant (e.g. a scheduled window that is over); never blocks.
    warnings: list[SpecError] = field(default_factory=list)
    #: Model spec files read for their name only (`load_specs(only=...)`): file -> model name.
    #: They take part in the cross-file name rule; nothing else is known of them.
    indexed: dict[str, str] = field(default_factory=dict)
    _models: dict[tuple[str, str], ModelSpec] = field(default_factory=dict)
    _platforms: dict[str, PlatformSpec] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def models(self, environment: str) -> list[ModelSpec]:
        return [spec for (name, env), spec in sorted(self._models.items()) if env == environment]

    def model(self, name: str, environment: str) -> ModelSpec:
        return self._models[(name, environment)]

    def platform(self, environment: str) -> Optional[PlatformSpec]:
        return self._platforms.get(environment)

    def raise_for_errors(self) -> "SpecSet":
        if self.errors:
            raise SpecErrors(self.errors)
        return self


def find_spec_files(paths: Sequence[str]) -> tuple[list[str], list[SpecError]]:
    """Files named directly, and `*.yaml` / `*.yml` under folders (recursively), sorted."""
    files: list[str] = []
    problems: list[SpecError] = []
    for path in paths:
        if os.path.isdir(path):
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                files.extend(os.path.join(folder, n) for n in sorted(names) if n.endswith(SPEC_SUFFIXES))
        elif os.path.exists(path):
            files.append(path)
        else:
            problems.append(SpecError(path, 1, 1, ROOT_PATH_TEXT, "no such file or folder"))
    return sorted(dict.fromkeys(os.path.normpath(f) for f in files)), problems


def repository_root(file: str, explicit_root: Optional[str]) -> str:
    """The folder that model.code is relative to: --root, else the folder holding `specs/`,
    else the current directory."""
    if explicit_root is not None:
        return explicit_root
    folder = os.path.dirname(os.path.abspath(file))
    while True:
        if os.path.basename(folder) == "specs":
            return os.path.dirname(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            return os.getcwd()
        folder = parent


class _Document:
    """One parsed spec file and what validating it found."""

    def __init__(self, file: str, data: LocatedMap):
        self.file = file
        self.data = data
        self.kind: str = data.get("kind")  # type: ignore[assignment]
        self.errors: list[SpecError] = []
        self.warnings: list[SpecError] = []
        self._seen: set[tuple[str, str]] = set()
        #: Typed sections built so far, shared by the environments whose overrides leave them alone.
        self.sections = Sections()

    def report(
        self,
        path: FieldPath,
        message: str,
        *,
        at_key: bool = False,
        environment: Optional[str] = None,
        document: Optional[LocatedMap] = None,
        warning: bool = False,
    ) -> None:
        """Record a problem at the position of `path` (in the environment-merged document when
        `environment` is given: at the override's line if the override wrote any part of it)."""
        path_text = format_path(path)
        if (path_text, message) in self._seen:
            return  # the base document already reported it; do not repeat it per environment
        self._seen.add((path_text, message))
        if environment is None:
            mark = locate(self.data, path, key=at_key)
        else:
            marks = marks_along(document, path, key=at_key)
            from_override = [m for m in marks if m.origin == environment]
            mark = from_override[-1] if from_override else override_mark(self.data, environment)
            message += f" (environment {environment})"
        (self.warnings if warning else self.errors).append(
            SpecError(self.file, mark.line, mark.column, path_text, message)
        )


def _check_header(document: _Document) -> bool:
    data = document.data
    kind = data.get("kind")
    if "kind" not in data:
        document.report(("kind",), "required field is missing; write `kind: Model` or `kind: Platform`", at_key=True)
        return False
    if not isinstance(kind, str) or kind not in SCHEMAS:
        shown = repr(kind) if isinstance(kind, str) else describe_value(kind)
        document.report(("kind",), f"must be Model or Platform (got {shown}){did_you_mean(str(kind), SCHEMAS)}")
        return False
    version = data.get("spec_version")
    if (
        "spec_version" in data
        and version != SPEC_VERSION
        and not isinstance(version, bool)
        and isinstance(version, int)
    ):
        document.report(
            ("spec_version",), f"this modelform reads spec_version {SPEC_VERSION}, not {version}; upgrade modelform"
        )
        return False
    return True


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Loading allocates hundreds of thousands of small long-lived objects; the cyclic garbage
    collector would rescan them again and again (a third of the time for 1,000 specs). The few
    cycles made meanwhile (cerberus validators) are collected once it is back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_specs(
    paths: Sequence[str] = ("specs",), root: Optional[str] = None, *, only: Optional[Collection[str]] = None
) -> SpecSet:
    """Validate every spec under `paths`. Never raises for bad input: problems are in `.errors`.

    With `only` (file paths), only those files and the Platform spec are validated; every other
    model spec is read for its name alone (`SpecSet.indexed`), so that a diff of one changed spec
    costs the same in a repository of 3 models or of 1,000.
    """
    rules.forget_filesystem()
    with _collection_paused():
        return _load_files(paths, root, None if only is None else {os.path.abspath(f) for f in only})


def _load_files(paths: Sequence[str], root: Optional[str], only: Optional[set[str]]) -> SpecSet:
    files, problems = find_spec_files(paths)
    raws: dict[str, bytes] = {}
    for file in files:
        try:
            raws[file] = read_bytes(file)
        except SpecErrors as unreadable:
            problems.extend(unreadable.errors)
    return _load_raws(files, raws, problems, root, only, {})


def _load_raws(
    files: list[str],
    raws: dict[str, bytes],
    problems: list[SpecError],
    root: Optional[str],
    only: Optional[set[str]],
    indexed: dict[str, str],
) -> SpecSet:
    """Validate `raws` (file -> bytes), reading valid specs from the spec cache; with `only`, the
    other model specs are known by name alone (`indexed`: some already are)."""
    names = {file: model_name_of(raw) for file, raw in raws.items()}
    now = datetime.now(timezone.utc)
    store = None
    if spec_cache.enabled():
        repo = root if root is not None else (repository_root(files[0], None) if files else os.getcwd())
        # Every spec file that is not plainly a model spec (the Platform spec, above all) is context.
        context = b"".join(f.encode() + b"\0" + raw + b"\0" for f, raw in sorted(raws.items()) if names[f] is None)
        store = spec_cache.SpecCache(repo, context)
    cached: dict[str, spec_cache.Entry] = {}
    keys: dict[str, str] = {}
    for file, raw in raws.items():
        name = names[file]
        if only is not None and os.path.abspath(file) not in only and name is not None:
            indexed[file] = name
        elif store is not None and name is not None:
            keys[file] = store.key(file, raw)
            entry = store.get(keys[file], now)
            if entry is not None and entry.name == name and _code_still_checks_out(entry, file, root):
                cached[file] = entry
    taken = Counter([*indexed.values(), *(e.name for e in cached.values())])
    for file in [f for f, e in cached.items() if taken[e.name] > 1]:
        del cached[file]  # a name twice: validate, so that the rule is reported where it belongs
    pending = [file for file in raws if file not in indexed and file not in cached]
    fresh = {file: key for file, key in keys.items() if file not in cached}
    second = _second_share(pending, raws, names, taken)
    result = None
    if second:
        result = _validated_on_two_cores(
            files, raws, names, pending, second, problems, root, indexed, cached, store, fresh, now
        )
    if result is None:
        result = _validated(files, raws, pending, problems, root, indexed, cached)
        if store is not None:
            _remember(store, result, fresh, now)
    return result


def _validated(
    files: list[str],
    raws: dict[str, bytes],
    pending: list[str],
    problems: list[SpecError],
    root: Optional[str],
    indexed: dict[str, str],
    cached: dict[str, "spec_cache.Entry"],
) -> SpecSet:
    """Parse and validate the `pending` files (the others are indexed or cached)."""
    sources: list[tuple[str, LocatedMap]] = []
    for file in pending:
        try:
            sources.append((file, parse_document(raws[file], file)))
        except SpecErrors as unparsable:
            problems.extend(unparsable.errors)
    return _load(files, sources, problems, root, indexed, cached)


#: From this many model specs to validate, a forked copy of this process validates some of them on
#: a second core (below it, forking and sending the typed specs back cost more than that saves).
TWO_CORES_FROM = 100
#: The copy's share of the model specs: a little under half, because the copy also pickles its
#: answer and takes most of the copy-on-write page faults. (At 1,000 specs: 0.70 s with this
#: share, 0.75 s with half.)
SECOND_SHARE = 0.46


def _second_share(
    pending: list[str], raws: dict[str, bytes], names: dict[str, Optional[str]], taken: Counter
) -> list[str]:
    """The model spec files a second core validates: `SECOND_SHARE` of them, or none.

    Validating a model spec needs nothing of another model spec but its name (names are unique),
    so each core validates its share against the Platform spec and the other share's names. Only
    when that gives exactly one core's answer: every pending file is a model spec whose name is
    read without parsing (`model_name_of`) and unique, or plainly the Platform spec."""
    if len(pending) < TWO_CORES_FROM or forked.cores() < 2 or not forked.can_fork():
        return []
    models = [file for file in pending if names[file] is not None]
    if len(models) < TWO_CORES_FROM or not all(_is_plain_platform(raws[f]) for f in pending if names[f] is None):
        return []
    if len({names[file] for file in models}) != len(models) or any(taken[names[file]] for file in models):
        return []
    return models[len(models) - round(len(models) * SECOND_SHARE) :]


def _is_plain_platform(raw: bytes) -> bool:
    kinds = _TOP_LEVEL_KIND.findall(raw)
    return len(kinds) == 1 and kinds[0][1] == b"Platform"


def _validated_on_two_cores(
    files: list[str],
    raws: dict[str, bytes],
    names: dict[str, Optional[str]],
    pending: list[str],
    second: list[str],
    problems: list[SpecError],
    root: Optional[str],
    indexed: dict[str, str],
    cached: dict[str, "spec_cache.Entry"],
    store: Optional["spec_cache.SpecCache"],
    fresh: dict[str, str],
    now: datetime,
) -> Optional[SpecSet]:
    """`pending` validated by this process and a forked copy (`second`: the copy's share; both
    validate the Platform spec), merged into exactly what one process gives; None if the copy
    failed (the caller then validates everything itself)."""
    theirs = set(second)
    mine = [file for file in pending if file not in theirs]
    mine_names = {file: name for file in mine if (name := names[file]) is not None}
    cached_names = {file: entry.name for file, entry in cached.items()}

    def second_core() -> tuple[list[SpecError], list[SpecError], dict[tuple[str, str], ModelSpec]]:
        context = [file for file in pending if file not in theirs and file not in mine_names]  # the Platform spec
        part = _validated(files, raws, [*context, *second], [], root, {**indexed, **mine_names, **cached_names}, {})
        if store is not None:  # each core writes the cache entries of its own share
            _remember(store, part, {file: key for file, key in fresh.items() if file in theirs}, now)
        models = {key: spec for key, spec in part._models.items() if spec.source in theirs}
        return [e for e in part.errors if e.file in theirs], [w for w in part.warnings if w.file in theirs], models

    try:
        copy = forked.Forked(second_core)
    except OSError:  # no process to be had: one core it is
        return None
    try:
        result = _validated(
            files, raws, mine, list(problems), root, {**indexed, **{f: names[f] or "" for f in second}}, cached
        )
        answer = copy.result()
    except BaseException:
        copy.cancel()
        raise
    if answer is None:
        return None
    errors, warnings, models = answer
    result.indexed = indexed
    result.errors = sorted([*result.errors, *errors])
    result.warnings = sorted([*result.warnings, *warnings])
    validated = {**result._models, **models}
    # In the order one process inserts them: validated specs by file, then the cached ones.
    order = {file: position for position, file in enumerate(pending)}
    result._models = dict(sorted(validated.items(), key=lambda item: order.get(item[1].source, len(order))))
    if store is not None:
        _remember(store, result, {file: key for file, key in fresh.items() if file not in theirs}, now)
    return result


def _code_still_checks_out(entry: "spec_cache.Entry", file: str, root: Optional[str]) -> bool:
    """The filesystem is not cached: the code folder and entry points must still be there."""
    code_root = repository_root(file, root)
    for spec in entry.specs.values():
        model = spec.model
        needed = spec.training is not None
        if rules.code_layout_problems(code_root, model.code, model.entry_point, model.inference_entry_point, needed):
            return False
    return True


def _remember(store: "spec_cache.SpecCache", result: SpecSet, keys: dict[str, str], now: datetime) -> None:
    """Cache the specs validated this time that came out valid."""
    failed = {error.file for error in result.errors}
    by_file: dict[str, dict[str, ModelSpec]] = {}
    for (_, env), spec in result._models.items():
        by_file.setdefault(spec.source, {})[env] = spec
    warned: dict[str, list[SpecError]] = {}
    for warning in result.warnings:
        warned.setdefault(warning.file, []).append(warning)
    for file, key in keys.items():
        specs = by_file.get(file)
        if file in failed or not specs:
            continue
        name = next(iter(specs.values())).name
        warnings = tuple(warned.get(file, ()))
        store.put(key, spec_cache.Entry(name, specs, warnings, spec_cache.valid_until(specs, now)))


def load_spec_texts(
    texts: Sequence[tuple[str, str | bytes]], root: Optional[str] = None, *, indexed: Mapping[str, str] = {}
) -> SpecSet:
    """Validate specs given as (file name, content) pairs, e.g. read from a git revision.
    `indexed`: other model spec files known by name only (file -> model name), as in `load_specs`."""
    rules.forget_filesystem()
    with _collection_paused():
        return _load_texts(texts, root, dict(indexed))


def _load_texts(texts: Sequence[tuple[str, str | bytes]], root: Optional[str], indexed: dict[str, str]) -> SpecSet:
    raws = {name: text.encode("utf-8") if isinstance(text, str) else text for name, text in texts}
    files = sorted(set(raws) | set(indexed))
    return _load_raws(files, raws, [], root, None, indexed)


#: A top-level `kind:` line of a block-style spec (what nearly every spec file is); its kind is
#: group 2 (group 1 is the optional quote).
_KIND_LINE = rb"kind:[ \t]*([\"']?)([A-Za-z]+)\1[ \t]*(?:#.*)?\r?$"
_TOP_LEVEL_KIND = re.compile(rb"^" + _KIND_LINE, re.MULTILINE)
#: In one pass (a fleet's files are all read this way): each top-level `kind:` line (groups 1-2),
#: `name:` line (groups 3-4), or a line that makes the file unusual (group 5): a `kind` or `name`
#: key written any other way, several documents, anchors or tags at the top, flow style,
#: directives, quoted or complex keys.
_TOP_LEVEL_LINES = re.compile(
    rb"^(?:" + _KIND_LINE + rb"|name:[ \t]*([\"']?)([a-z][a-z0-9-]*)\3[ \t]*(?:#.*)?\r?$"
    rb"|((?:kind|name)[ \t]*:|---|\.\.\.|[&*!?{\[<%|>\"']))",
    re.MULTILINE,
)


def model_name_of(raw: bytes) -> Optional[str]:
    """The model name of a spec file read as text, without parsing it; None unless the file says
    `kind: Model` and `name: ...` exactly once each on top-level lines of a plain block mapping
    (anything unusual is parsed and validated instead, so this never has to be clever)."""
    kinds, names = [], []
    for _, kind, _, name, odd in _TOP_LEVEL_LINES.findall(raw):
        if odd:
            return None
        if kind:
            kinds.append(kind)
        else:
            names.append(name)
    if kinds != [b"Model"] or len(names) != 1:
        return None
    return names[0].decode("ascii")


def _load(
    files: list[str],
    sources: list[tuple[str, LocatedMap]],
    problems: list[SpecError],
    root: Optional[str],
    indexed: dict[str, str],
    cached: Optional[dict[str, "spec_cache.Entry"]] = None,
) -> SpecSet:
    cached = cached or {}
    result = SpecSet(files=files, errors=problems, indexed=indexed)
    result.root = root if root is not None else (repository_root(files[0], None) if files else os.getcwd())
    documents: list[_Document] = []
    for file, data in sources:
        document = _Document(file, data)
        if _check_header(document):
            documents.append(document)
        else:
            result.errors.extend(document.errors)

    platforms = [d for d in documents if d.kind == "Platform"]
    for extra in platforms[1:]:
        extra.report(("kind",), f"only one Platform spec per spec set; {platforms[0].file} is already one")
        documents.remove(extra)
        result.errors.extend(extra.errors)
    platform_document = platforms[0] if platforms else None
    result.environments = _known_environments(platform_document)

    typed = {id(d): _validate_document(d, result.environments, root) for d in documents}
    _check_model_names(documents, {**indexed, **{file: entry.name for file, entry in cached.items()}})
    platform_ok = platform_document is not None and not platform_document.errors
    for document in documents:
        # Environments without an override first: a problem of the base is then reported once,
        # at the base's line, rather than at the first override's.
        for environment in sorted(result.environments, key=lambda env: _has_override(document, env)):
            spec = typed[id(document)].get(environment)
            if not isinstance(spec, ModelSpec):
                continue
            platform = typed[id(platform_document)].get(environment) if platform_ok else None
            if platform_document is not None and platform is None:
                continue  # the platform is invalid there; its own errors say why
            for path, message in rules.cross_file_problems(spec, platform):
                document.report(path, message, **_in_environment(document, environment))

    for document in documents:
        result.errors.extend(document.errors)
        result.warnings.extend(document.warnings)
        if document.errors:
            continue
        for environment, spec in typed[id(document)].items():
            if isinstance(spec, ModelSpec):
                result._models[(spec.name, environment)] = spec
            else:
                result._platforms[environment] = spec
    for entry in cached.values():  # valid before, and nothing they depend on has changed
        for environment, spec in entry.specs.items():
            result._models[(spec.name, environment)] = spec
        result.warnings.extend(entry.warnings)
    result.errors.sort()
    result.warnings.sort()
    return result


def _known_environments(platform_document: Optional[_Document]) -> tuple[str, ...]:
    """dev, staging, prod, and any environment the Platform spec declares."""
    declared = platform_document.data.get("environments") if platform_document else None
    extra = [name for name in (declared if isinstance(declared, dict) else {}) if isinstance(name, str)]
    return tuple(dict.fromkeys((*DEFAULT_ENVIRONMENTS, *extra)))


def _has_override(document: _Document, environment: str) -> bool:
    overrides = document.data.get("environments")
    return isinstance(overrides, dict) and isinstance(overrides.get(environment), dict)


def _in_environment(document: _Document, environment: str) -> dict[str, Any]:
    """`report` arguments for a problem of `environment`: override-aware when it has an override
    (the document merged for it)."""
    if _has_override(document, environment):
        return {"environment": environment, "document": apply_environment(document.data, environment)}
    return {}


def _validate_document(document: _Document, environments: tuple[str, ...], root: Optional[str]) -> dict[str, Any]:
    """Validate the base and each environment; the typed spec of every clean environment."""
    schema = SCHEMAS[document.kind]
    for path, message, at_key in structural_errors(document.data, schema):
        document.report(path, message, at_key=at_key)
    for path, message in rules.unknown_environment_problems(document.data, environments):
        document.report(path, message, at_key=True)
    if document.errors:
        return {}
    code_root = repository_root(document.file, root) if document.kind == "Model" else None
    # The base first, so a problem of the base is reported once, at the base's line, and not
    # again for each environment whose override leaves it in place.
    base = apply_environment(document.data, None)
    base_spec = _check(document, base, {}, environments, code_root)
    specs: dict[str, Any] = {}
    for environment in environments:
        where = _in_environment(document, environment)
        spec = _check(document, where["document"], where, environments, code_root, base_spec) if where else base_spec
        if spec is not None:
            specs[environment] = in_environment(spec, environment)
    return specs


def _check(
    document: _Document,
    merged: LocatedMap,
    where: dict[str, Any],
    environments: tuple[str, ...],
    code_root: Optional[str],
    base_spec: Any = None,
) -> Any:
    """Run every rule on one (environment-merged) document. Returns the typed spec when the
    document is well-formed enough to build one (its semantic problems are reported, and keep
    the file out of the result, but cross-file rules can still look at it).

    `base_spec`: the base document's typed spec, whose model rules have run. An override that
    changes nothing those rules read (`protect: true` in prod, typically) gets their answers
    again, every one already reported at the base's line: they are not asked twice."""
    if where:  # the base passed structurally; what the override wrote must pass too
        touched = document.data["environments"][where["environment"]].keys()
        structural = structural_errors(merged, SCHEMAS[document.kind], touched)
        for path, message, at_key in structural:
            document.report(path, message, at_key=at_key, **where)
        if structural:
            return None
    if document.kind == "Model":
        shape = list(rules.shape_problems(merged))
        for path, message in shape:
            document.report(path, message, **where)
        if shape:
            return None
    spec = _typed(document, merged, where.get("environment", ""), environments)
    if isinstance(base_spec, ModelSpec) and rules.same_for_model_rules(spec, base_spec):
        return spec
    problems = rules.model_problems(spec, code_root) if document.kind == "Model" else rules.platform_problems(spec)
    for path, message in problems:
        document.report(path, message, **where)
    if document.kind == "Model":
        for path, message in rules.model_warnings(spec, datetime.now(timezone.utc)):
            document.report(path, message, warning=True, **where)
    return spec


def _typed(document: _Document, merged: LocatedMap, environment: str, environments: tuple[str, ...]) -> Any:
    if document.kind == "Model":
        return model_from_document(merged, environment, document.file, document.sections)
    return platform_from_document(merged, environment, document.file, environments)


def _check_model_names(documents: list[_Document], indexed: dict[str, str]) -> None:
    """Model names are unique across the spec set; the second file of a pair is reported (or the
    validated one, when the other was only indexed)."""
    first: dict[str, str] = {name: file for file, name in sorted(indexed.items(), reverse=True)}
    validated: set[str] = set()
    for document in sorted(documents, key=lambda d: d.file):
        if document.kind != "Model" or not isinstance(document.data.get("name"), str):
            continue
        name = document.data["name"]
        if name in validated or (name in first and first[name] != document.file):
            document.report(("name",), f"model '{name}' is also defined in {first[name]}; model names are unique")
        else:
            first[name] = document.file
            validated.add(name)
