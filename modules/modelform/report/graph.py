"""A model stack's resources as a graph: one box per component, its resources inside, arrows for
`dependsOn`. Drawn by Graphviz's `dot` as SVG (inline in the report, no files beside it)."""

from __future__ import annotations

from typing import Optional

#: Resources never drawn: providers are plumbing, not part of what the model is.
HIDDEN_TYPES = ("pulumi:providers:",)


def _short(resource_type: str) -> str:
    """`aws:sagemaker/endpoint:Endpoint` -> `sagemaker Endpoint`."""
    module, _, name = resource_type.rpartition(":")
    family = module.split(":")[-1].split("/")[0]
    return f"{family} {name}"


def resource_graph_svg(stack: dict) -> tuple[Optional[str], str]:
    """(the SVG, "") or (None, why there is no picture)."""
    import graphviz

    resources = [r for r in stack["resources"] if not r["type"].startswith(HIDDEN_TYPES)]
    # Node ids by position: URNs hold colons, which DOT would read as ports.
    ids = {r["urn"]: f"r{index}" for index, r in enumerate(sorted(resources, key=lambda r: r["urn"]))}
    components = {r["urn"]: r for r in resources if r["type"].startswith("modelform:")}
    graph = graphviz.Digraph(stack["stack"], graph_attr={"rankdir": "LR", "fontname": "DejaVu Sans", "fontsize": "10"})
    graph.attr("node", shape="box", style="rounded,filled", fillcolor="#f3f6fa", fontname="DejaVu Sans", fontsize="9")
    members: dict[Optional[str], list[dict]] = {}
    for resource in resources:
        if resource["urn"] in components:
            continue
        parent = resource.get("parent")
        while parent is not None and parent not in components:
            parent = next((r.get("parent") for r in resources if r["urn"] == parent), None)
        members.setdefault(parent, []).append(resource)
    for parent, children in sorted(members.items(), key=lambda item: item[0] or ""):
        target = graph
        if parent is not None:
            component = components[parent]
            cluster = graphviz.Digraph(f"cluster_{len(target.body)}")
            cluster.attr(
                label=f"{component['name']} ({component['type'].split(':')[-1]})",
                style="rounded",
                color="#0072B2",
                fontname="DejaVu Sans",
                fontsize="10",
            )
            target = cluster
        for resource in sorted(children, key=lambda r: r["urn"]):
            target.node(ids[resource["urn"]], f"{resource['name']}\n{_short(resource['type'])}")
        if parent is not None:
            graph.subgraph(target)
    for resource in resources:
        for dependency in resource.get("options", {}).get("dependsOn", []):
            if dependency in ids and dependency not in components and resource["urn"] not in components:
                graph.edge(ids[dependency], ids[resource["urn"]], color="#999999")
    try:
        return graph.pipe(format="svg", encoding="utf-8"), ""
    except graphviz.ExecutableNotFound:
        return None, "Graphviz's dot is not installed here (apt-get install graphviz): no resource graph"
