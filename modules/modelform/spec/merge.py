"""Environment overrides: deep-merge one `environments.<env>` mapping over the base document.

Rules (the spec language, plus what it leaves open, chosen to match what reviewers expect):
- mappings merge key by key, recursively;
- a non-empty list whose items are all mappings with a `name`, merged over a base list of
  such mappings, merges item by item by `name` (base order kept, new names appended);
- any other list replaces the base list; in particular `[]` clears it (`scheduled: []`);
- `null` removes the key (as in JSON Merge Patch, RFC 7386);
- scalars replace.

The result keeps marks: values written by the override carry `origin=<env>`, so an error found
after the merge is reported at the override's line.
"""

from __future__ import annotations

from typing import Any, Optional

from .located import LocatedList, LocatedMap, Mark, new_mark


def _from(mark: Mark, origin: str) -> Mark:
    """`mark` written by `origin` (what `mark._replace(origin=origin)` gives, without its
    keyword machinery: every override key and value passes here)."""
    return new_mark((mark[0], mark[1], origin))


def with_origin(value: Any, origin: str) -> Any:
    """A copy of override data whose marks all say which environment wrote them."""
    if isinstance(value, LocatedMap):
        result = LocatedMap(_from(value.mark, origin))
        key_marks, value_marks = value.key_marks, value.value_marks
        for key, item in value.items():
            result.set(key, with_origin(item, origin), _from(key_marks[key], origin), _from(value_marks[key], origin))
        return result
    if isinstance(value, LocatedList):
        result_list = LocatedList(_from(value.mark, origin))
        for item, mark in zip(value, value.item_marks):
            result_list.add(with_origin(item, origin), _from(mark, origin))
        return result_list
    return value


def _is_named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value)
    )


def deep_merge(base: Any, override: Any) -> Any:
    """`override` (already marked with its origin) merged over `base`. Neither is modified."""
    if isinstance(base, LocatedMap) and isinstance(override, LocatedMap):
        result = LocatedMap(override.mark)
        for key, value in base.items():
            result.set(key, value, base.key_marks[key], base.value_marks[key])
        for key, value in override.items():
            if value is None:
                result.pop(key, None)
                continue
            merged = deep_merge(base[key], value) if key in base else value
            result.set(key, merged, override.key_marks[key], override.value_marks[key])
        return result
    if isinstance(base, LocatedList) and _is_named_list(base) and _is_named_list(override):
        return _merge_named_lists(base, override)
    return override


def _merge_named_lists(base: LocatedList, override: LocatedList) -> LocatedList:
    result = LocatedList(override.mark)
    overrides = {item["name"]: (item, mark) for item, mark in zip(override, override.item_marks)}
    for item, mark in zip(base, base.item_marks):
        if item["name"] in overrides:
            patch, patch_mark = overrides.pop(item["name"])
            result.add(deep_merge(item, patch), patch_mark)
        else:
            result.add(item, mark)
    for patch, patch_mark in overrides.values():
        result.add(patch, patch_mark)
    return result


def apply_environment(base: LocatedMap, environment: Optional[str]) -> LocatedMap:
    """The document as it stands in `environment`: the base without `environments`, with that
    environment's override (if any) merged over it. `None` gives the base alone."""
    plain_base = LocatedMap(base.mark)
    for key, value in base.items():
        if key != "environments":
            plain_base.set(key, value, base.key_marks[key], base.value_marks[key])
    overrides = base.get("environments")
    override = overrides.get(environment) if isinstance(overrides, dict) else None
    if not isinstance(override, LocatedMap):
        return plain_base
    return deep_merge(plain_base, with_origin(override, environment))


def override_mark(base: LocatedMap, environment: str) -> Mark:
    """Where `environments.<environment>` is written, for errors that have no better place."""
    overrides = base.get("environments")
    if isinstance(overrides, LocatedMap) and environment in overrides:
        return overrides.key_marks[environment]._replace(origin=environment)
    return base.mark
