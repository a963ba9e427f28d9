"""`modelform report`: what each model of an environment is, for auditors, on one page.

Per model: who owns it, what data it touches, where it runs and how it scales (with a picture of
its capacity over the next 60 days), how it rolls out and rolls back, what watches it, what
retrains it and who approves a new version, what each of its roles may do in plain words, the
policy findings and stated scanner exceptions of its stack, a graph of its resources, and the
history of its spec file. Built from the specs and the offline plan; rendered with Jinja2
templates into one self-contained HTML page (pictures inline, no scripts, nothing fetched) or a
Markdown summary for pull requests.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from ..charts import capacity_timeline
from ..spec import SpecSet
from .facts import model_facts, stack_findings
from .graph import resource_graph_svg
from .history import spec_history

#: How far ahead the capacity pictures look.
TIMELINE_DAYS = 60


def build_report(
    specs: SpecSet,
    environment: str,
    plan: dict[str, Any],
    *,
    as_of: datetime,
    repo_root: str,
    pictures: bool = True,
) -> dict[str, Any]:
    """Everything the templates show. `as_of`: where the capacity timelines start (a day, UTC)."""
    platform = specs.platform(environment)
    stacks = {s["stack"]: s for s in plan["stacks"]}
    start = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    models = []
    for model in specs.models(environment):
        stack = stacks.get(model.stack_name)
        if stack is None:
            continue
        facts = model_facts(model, platform, stack, stack_findings(plan, model.stack_name), repo_root)
        for deployment in facts["deployments"]:
            scaling = deployment["scaling"]
            deployment["timeline_svg"] = (
                _inline(
                    capacity_timeline(
                        f"{model.name} / {deployment['name']}: floor and ceiling, next {TIMELINE_DAYS} days",
                        start,
                        TIMELINE_DAYS,
                        scaling["floor"],
                        scaling["ceiling"],
                        deployment["window_specs"],
                        deployment["unit"],
                    )
                )
                if pictures
                else None
            )
        graph, facts["graph_note"] = resource_graph_svg(stack) if pictures else (None, "")
        facts["graph_svg"] = _inline(graph) if graph else None
        facts["history"] = spec_history(os.path.abspath(model.source), os.path.dirname(os.path.abspath(model.source)))
        models.append(facts)
    platform_stack = next((s for s in plan["stacks"] if s["kind"] == "Platform"), None)
    return {
        "env": environment,
        "as_of": start.strftime("%Y-%m-%d"),
        "platform": None
        if platform is None
        else {
            "name": platform.name,
            "region": platform.region,
            "clusters": [c.name for c in platform.clusters],
            "findings": stack_findings(plan, platform_stack["stack"]) if platform_stack else [],
        },
        "models": models,
        "findings": {
            "mandatory": sum(1 for f in plan["findings"] if f["enforcement"] == "mandatory"),
            "advisory": sum(1 for f in plan["findings"] if f["enforcement"] == "advisory"),
        },
    }


def _inline(svg: str) -> str:
    """An SVG document as an element of the page: without its XML declaration and doctype."""
    return svg[svg.index("<svg") :]


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("modelform.report", "templates"),
        autoescape=select_autoescape(["html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["finding_name"] = lambda urn: urn.rsplit("::", 1)[-1]
    return environment


def render_html(report: dict[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(report=report)


def render_markdown(report: dict[str, Any]) -> str:
    return _environment().get_template("report.md.j2").render(report=report)


__all__ = ["build_report", "render_html", "render_markdown"]
