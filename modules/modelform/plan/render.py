"""Plans and diffs for people: a terminal table, and Markdown that fits a pull-request comment.

GitHub refuses comments above 65,536 characters. The Markdown keeps a summary table of every
stack and then adds per-stack detail while it fits a budget below that limit; stacks whose detail
does not fit are listed by name with a pointer to the JSON, never cut mid-table.
"""

from __future__ import annotations

import json

from typing import Any

#: GitHub's comment limit, less room for a CI bot's own header and footer.
COMMENT_BUDGET = 60_000
_SHORT_TYPE_PREFIXES = ("aws:", "kubernetes:", "modelform:", "pulumi:")


def short_type(type_token: str) -> str:
    """`aws:sagemaker/endpoint:Endpoint` -> `sagemaker/Endpoint`; components keep their token."""
    if type_token.startswith("aws:") and type_token.count(":") == 2:
        module, kind = type_token.split(":")[1:]
        return f"{module.split('/')[0]}/{kind}"
    return type_token


# --- plan ---------------------------------------------------------------------------------------


def plan_table(plan: dict[str, Any]) -> str:
    lines = [f"modelform plan — environment {plan['env']}", ""]
    total = 0
    for stack in plan["stacks"]:
        resources = stack["resources"]
        total += len(resources)
        account = f", account {stack['account']}" if stack.get("account") else ""
        lines.append(f"{stack['stack']}  ({stack['kind']}, {stack['spec']}{account}): {len(resources)} resources")
        lines += [f"  + {line}" for line in _tree(resources)]
        lines.append("")
    lines.append(f"{len(plan['stacks'])} stacks, {total} resources")
    lines += _findings_lines(plan["findings"])
    return "\n".join(lines) + "\n"


def _tree(resources: list[dict[str, Any]]) -> list[str]:
    """Components with their children indented below them, each level sorted by name."""
    children: dict[Any, list[dict[str, Any]]] = {}
    for resource in resources:
        children.setdefault(resource["parent"], []).append(resource)
    lines: list[str] = []

    def walk(parent: Any, depth: int) -> None:
        for resource in sorted(children.get(parent, []), key=lambda r: (r["name"], r["type"])):
            flags = " [protected]" if resource.get("options", {}).get("protect") else ""
            lines.append(f"{'   ' * depth}{resource['name']}  ({short_type(resource['type'])}){flags}")
            walk(resource["urn"], depth + 1)

    walk(None, 0)
    return lines


def _findings_lines(findings: list[dict[str, str]]) -> list[str]:
    if not findings:
        return []
    lines = ["", f"{len(findings)} policy finding(s):"]
    lines += [f"  {f['enforcement'].upper():9} {f['policy']}: {f['urn']}: {f['message']}" for f in findings]
    return lines


def plan_markdown(plan: dict[str, Any]) -> str:
    head = [
        f"## modelform plan — `{plan['env']}`",
        "",
        "| stack | kind | spec | account | resources |",
        "|---|---|---|---|---:|",
    ]
    head += [
        f"| `{s['stack']}` | {s['kind']} | `{s['spec']}` | {s.get('account', 'the deployer’s')} "
        f"| {len(s['resources'])} |"
        for s in plan["stacks"]
    ]
    head += _findings_markdown(plan["findings"])
    sections = []
    for stack in plan["stacks"]:
        rows = [
            f"| {short_type(r['type'])} | `{r['name']}` |"
            f"{' protected' if r.get('options', {}).get('protect') else ''} |"
            for r in stack["resources"]
        ]
        sections.append(
            (
                stack["stack"],
                "\n".join(
                    [
                        f"<details><summary><code>{stack['stack']}</code>: {len(rows)} resources</summary>",
                        "",
                        "| type | name | |",
                        "|---|---|---|",
                        *rows,
                        "",
                        "</details>",
                    ]
                ),
            )
        )
    return _within_budget("\n".join(head), sections)


def _findings_markdown(findings: list[dict[str, str]]) -> list[str]:
    if not findings:
        return ["", "No policy findings."]
    lines = ["", "| enforcement | policy | resource | finding |", "|---|---|---|---|"]
    lines += [f"| {f['enforcement']} | {f['policy']} | `{f['urn']}` | {f['message']} |" for f in findings]
    return lines


def _within_budget(head: str, sections: list[tuple[str, str]]) -> str:
    """The head (summary tables), then as many detail sections as fit the comment budget."""
    reserve = 1_500  # for the lines that say what was left out, below
    head_lines = head.split("\n")
    kept_head: list[str] = []
    used = 0
    for index, line in enumerate(head_lines):
        if used + len(line) + 1 > COMMENT_BUDGET - reserve:
            kept_head.append(
                f"\n_... {len(head_lines) - index} more row(s) do not fit a comment; see the JSON (`--format json`)._"
            )
            return "\n".join(kept_head).rstrip() + "\n"
        kept_head.append(line)
        used += len(line) + 1
    parts = [*kept_head, ""]
    left_out = []
    for name, section in sections:
        if used + len(section) + 2 <= COMMENT_BUDGET - reserve:
            parts += [section, ""]
            used += len(section) + 2
        else:
            left_out.append(name)
    if left_out:
        parts.append(
            f"_Details of {len(left_out)} more stack(s) do not fit a comment "
            f"({', '.join(f'`{n}`' for n in left_out[:20])}"
            f"{', ...' if len(left_out) > 20 else ''}); see the JSON (`--format json`)._"
        )
    return "\n".join(parts).rstrip() + "\n"


# --- diff ----------------------------------------------------------------------------------------


def scope_lines(diff: dict[str, Any]) -> list[str]:
    """Which stacks were planned on both sides, and the rule that selected each."""
    scope = diff.get("scope")
    if scope is None:
        return []
    if scope["everything"]:
        return [f"Planned: every stack — {scope['everything']}.", ""]
    if not scope["models"]:
        return ["Planned: the platform stack only — no spec, code or program file changed.", ""]
    chosen = "; ".join(f"{model}: {reason}" for model, reason in scope["models"].items())
    return [f"Planned: the platform stack and {chosen}.", ""]


def _value_text(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value) if not isinstance(value, str) else value


def _counts(summary: dict[str, Any]) -> str:
    return (
        f"{summary['create']} to create, {summary['update']} to update, {summary.get('replace', 0)} to replace, "
        f"{summary['delete']} to delete"
    )


def diff_table(diff: dict[str, Any]) -> str:
    summary = diff["summary"]
    lines = [f"modelform diff — environment {diff['env']}", "", *scope_lines(diff)]
    for stack in diff["stacks"]:
        lines.append(f"{stack['stack']}  ({stack['kind']}, {stack['spec']})")
        for change in stack["create"]:
            lines.append(f"  + {short_type(change['type'])}  {change['name']}")
        for change in stack.get("replace", []):
            lines.append(
                f"  {change['mode']} {short_type(change['type'])}  {change['name']}: replaced, forced by "
                f"{', '.join(change['forced_by'])}"
            )
            lines += [
                f"      {v['path']}: {_value_text(v['old'])} → {_value_text(v['new'])}"
                for v in change.get("values", [])
            ]
        for change in stack["update"]:
            lines.append(f"  ~ {short_type(change['type'])}  {change['name']}: {', '.join(change['paths'])}")
            lines += [
                f"      {v['path']}: {_value_text(v['old'])} → {_value_text(v['new'])}"
                for v in change.get("values", [])
            ]
        for change in stack["delete"]:
            lines.append(f"  - {short_type(change['type'])}  {change['name']}")
        lines.append("")
    for finding in diff.get("findings", []):
        lines.append(f"{finding['enforcement'].upper()}  {finding['policy']}: {finding['message']}")
    lines.append(f"{summary['stacks']} stack(s) change: {_counts(summary)}" if summary["stacks"] else "No changes.")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return _value_text(value).replace("|", "\\|").replace("`", "'")


def diff_markdown(diff: dict[str, Any]) -> str:
    summary = diff["summary"]
    head = [f"## modelform diff — `{diff['env']}`", "", *scope_lines(diff)]
    if not summary["stacks"]:
        return "\n".join(head + ["No infrastructure changes."]) + "\n"
    head += [
        f"**{summary['create']}** to create, **{summary['update']}** to update, **{summary.get('replace', 0)}** to "
        f"replace, **{summary['delete']}** to delete in {summary['stacks']} stack(s).",
        "",
    ]
    findings = [f"> **{f['enforcement']}** `{f['policy']}`: {f['message']}" for f in diff.get("findings", [])]
    head += [*findings, ""] if findings else []
    head += [
        "| stack | spec | create | update | replace | delete |",
        "|---|---|---:|---:|---:|---:|",
    ]
    head += [
        f"| `{s['stack']}` | `{s['spec']}` | {len(s['create'])} | {len(s['update'])} | {len(s.get('replace', []))} "
        f"| {len(s['delete'])} |"
        for s in diff["stacks"]
    ]
    sections = []
    for stack in diff["stacks"]:
        rows = [f"| + | {short_type(c['type'])} | `{c['name']}` | |" for c in stack["create"]]
        rows += [
            f"| {c['mode']} | {short_type(c['type'])} | `{c['name']}` | replaced, forced by "
            f"{', '.join(f'`{p}`' for p in c['forced_by'])} |"
            for c in stack.get("replace", [])
        ]
        rows += [
            f"| ~ | {short_type(c['type'])} | `{c['name']}` | "
            + "<br>".join(f"`{v['path']}`: {_cell(v['old'])} → {_cell(v['new'])}" for v in c.get("values", [])[:3])
            + (" …" if len(c.get("values", [])) > 3 or (not c.get("values") and c["paths"]) else "")
            + " |"
            for c in stack["update"]
        ]
        rows += [f"| - | {short_type(c['type'])} | `{c['name']}` | |" for c in stack["delete"]]
        sections.append(
            (
                stack["stack"],
                "\n".join(
                    [
                        f"<details><summary><code>{stack['stack']}</code></summary>",
                        "",
                        "| | type | name | changed |",
                        "|---|---|---|---|",
                        *rows,
                        "",
                        "</details>",
                    ]
                ),
            )
        )
    return _within_budget("\n".join(head), sections)


#: ANSI colours of the change markers, on terminals only (https://no-color.org: NO_COLOR turns them off).
_MARKER_COLOURS = {"+": "32", "~": "33", "-": "31", "+-": "35", "-+": "35"}


def colour_wanted(stream, environ) -> bool:
    return stream.isatty() and not environ.get("NO_COLOR")


def colourise(text: str) -> str:
    """Colour the change lines of a table: create green, update yellow, delete red, replace magenta."""
    lines = []
    for line in text.splitlines():
        marker = line.lstrip().split(" ", 1)[0]
        if line.startswith("  ") and marker in _MARKER_COLOURS:
            line = f"\x1b[{_MARKER_COLOURS[marker]}m{line}\x1b[0m"
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")
