"""Pictures where people would rather look than read: traffic against capacity for `simulate`,
and the capacity timeline of a deployment for `report`. matplotlib, drawn off-screen (Agg), as SVG
text or PNG files; fonts and metadata fixed so that the same input draws the same bytes."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .simulation import Result
    from .spec.types import ScheduledCapacity

#: The plot's colours, readable by the colour-blind (Okabe-Ito).
DEMAND, CAPACITY, RECOMMENDED, WINDOW = "#000000", "#0072B2", "#009E73", "#E69F00"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "modelform"  # stable element ids
    matplotlib.rcParams["font.family"] = "DejaVu Sans"
    import matplotlib.pyplot as plt

    return plt


def _series(result: "Result") -> tuple[list[datetime], list[float], list[float]]:
    """Per minute: when, demand (rps) and in-service capacity (rps), summed over the variants."""
    minutes = len(result.variants[0].minutes)
    start = result.traffic.start
    times = [start + timedelta(minutes=m) for m in range(minutes)]
    demand = [sum(v.minutes[m]["demand"] for v in result.variants) / 60 for m in range(minutes)]
    capacity = [sum(v.minutes[m]["in_service"] * v.policy.max_rps for v in result.variants) for m in range(minutes)]
    return times, demand, capacity


def traffic_vs_capacity(reactive: "Result", recommended: "Result", path: str) -> None:
    """A PNG: the traffic, the capacity scaling alone gives, and the capacity with the
    recommended windows (shaded)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=110)
    times, demand, capacity = _series(reactive)
    _, _, with_windows = _series(recommended)
    for window in recommended.windows:
        axes.axvspan(window.start, window.end, color=WINDOW, alpha=0.15, label=f"window {window.name}")
    axes.step(times, demand, where="post", color=DEMAND, linewidth=1.6, label="requests per second")
    axes.step(times, capacity, where="post", color=CAPACITY, linewidth=1.4, label="capacity, scaling alone")
    axes.step(
        times,
        with_windows,
        where="post",
        color=RECOMMENDED,
        linewidth=1.4,
        linestyle="--",
        label="capacity, recommended windows",
    )
    axes.set_ylabel("requests per second")
    axes.set_title(
        f"{reactive.model} / {reactive.deployment}: dropped {reactive.dropped:,} scaling alone, "
        f"{recommended.dropped:,} with the windows"
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    plt.close(figure)


def capacity_timeline(
    title: str,
    start: datetime,
    days: int,
    floor: int,
    ceiling: int,
    windows: Sequence["ScheduledCapacity"],
    unit: str,
) -> str:
    """An SVG (text): a deployment's floor and ceiling over the next `days`, windows shaded."""
    plt = _pyplot()
    end = start + timedelta(days=days)
    edges = sorted(
        {
            start,
            end,
            *(w.start for w in windows if start < w.start < end),
            *(w.end for w in windows if start < w.end < end),
        }
    )
    floors, ceilings = [], []
    for moment in edges:
        active = [w for w in windows if w.start <= moment < w.end]
        floors.append(active[0].floor if active else floor)
        ceilings.append(active[0].ceiling if active else ceiling)
    figure, axes = plt.subplots(figsize=(7, 2.6), dpi=100)
    for window in windows:
        if window.end > start and window.start < end:
            axes.axvspan(max(window.start, start), min(window.end, end), color=WINDOW, alpha=0.2)
            axes.annotate(window.name, (max(window.start, start), max(ceilings) * 0.95), fontsize=7)
    axes.step(edges, ceilings, where="post", color=CAPACITY, label=f"ceiling ({unit})")
    axes.step(edges, floors, where="post", color=RECOMMENDED, label=f"floor ({unit})")
    axes.set_ylim(0, max(ceilings) * 1.1)
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=7)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(figure)
    return buffer.getvalue()
