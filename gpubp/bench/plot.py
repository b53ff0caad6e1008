"""The bench's PNG: step time against batch size per target, the spread shaded, the crossover starred."""

from __future__ import annotations

import os
from typing import Any

from ..plot import _pyplot, _save
from .report import NO_GPU


def plot_bench(doc: dict[str, Any], path: str | os.PathLike[str]) -> bool:
    """Step time against batch size per target (one panel per width), crossover marked; False without matplotlib.

    ``doc`` is the document :func:`gpubp.bench.run_bench` writes as JSON. Depths
    are told apart by line style; where rows carry quartiles (``q1_s``,
    ``q3_s``) the band between them is shaded; each GPU's crossover (the
    smallest batch at which it beats every CPU target) is a star and a dotted
    vertical line.
    """
    plt = _pyplot()
    if plt is None:
        return False
    widths = sorted({r["width"] for r in doc["results"]})
    depths = sorted({r["depth"] for r in doc["results"]})
    targets = [t["target"] for t in doc["targets"]]
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(1, max(1, len(widths)), figsize=(4.2 * len(widths) + 1, 4.2), dpi=100, squeeze=False)
    for ax, width in zip(axes[0], widths, strict=False):
        for ti, target in enumerate(targets):
            for di, depth in enumerate(depths):
                rows = sorted(
                    (
                        r
                        for r in doc["results"]
                        if r["target"] == target and r["width"] == width and r["depth"] == depth
                    ),
                    key=lambda r: r["batch"],
                )
                if not rows:
                    continue
                batches = [r["batch"] for r in rows]
                ax.plot(
                    batches,
                    [r["median_s"] * 1e3 for r in rows],
                    marker="o",
                    markersize=3,
                    color=f"C{ti}",
                    linestyle=styles[di % len(styles)],
                    label=f"{target}, depth {depth}",
                )
                if all("q1_s" in r and "q3_s" in r for r in rows):
                    low, high = [r["q1_s"] * 1e3 for r in rows], [r["q3_s"] * 1e3 for r in rows]
                    ax.fill_between(batches, low, high, color=f"C{ti}", alpha=0.2, linewidth=0)
        _mark_crossover(ax, doc, width)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_title(f"width {width}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("median step time (ms), quartiles shaded")
    if axes[0][-1].get_legend_handles_labels()[0]:  # none when every measurement failed
        axes[0][-1].legend(fontsize=7)
    sweep = doc["sweep"]
    fig.suptitle(
        f"gpubp bench: one training step, {sweep['dtype']}, {sweep['loss']}, plain SGD\n{_headline(doc)}", fontsize=10
    )
    _save(plt, fig, path)
    return True


def _mark_crossover(ax: Any, doc: dict[str, Any], width: int) -> None:
    """A star and a dotted line at each GPU's crossover batch in this width's panel."""
    for c in doc.get("crossover") or []:
        if c["width"] != width:
            continue
        row = next(
            r
            for r in doc["results"]
            if (r["target"], r["width"], r["depth"], r["batch"]) == (c["target"], c["width"], c["depth"], c["batch"])
        )
        ax.axvline(c["batch"], color="grey", linestyle=":", linewidth=1)
        ax.plot([c["batch"]], [row["median_s"] * 1e3], marker="*", markersize=14, color="black", linestyle="none")
        ax.annotate(f"crossover\nbatch {c['batch']}", (c["batch"], row["median_s"] * 1e3), fontsize=8)


def _headline(doc: dict[str, Any]) -> str:
    """The title's second line: the crossover, why there is none, and a busy machine."""
    if not doc["gpu"]:
        text = NO_GPU
    elif doc.get("crossover"):
        c = doc["crossover"][0]
        text = f"crossover: {c['target']} wins from batch {c['batch']} at width {c['width']} (depth {c['depth']})"
    else:
        text = "crossover: the GPU did not win at any measured point"
    if doc.get("busy"):
        text += "; the machine was busy: timings unreliable"
    return text
