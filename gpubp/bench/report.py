"""What the bench tells: the crossover, the text table, the busy warning and the JSON file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from ..errors import GpubpError

NO_GPU = "no GPU: crossover not measured"

#: A measurement is slowed when its median round took more than this much longer than its fastest round:
#: then most of its rounds were slowed, and its median with them (a few slow rounds leave the median alone).
SLOWED = 0.25

#: The machine was too busy to trust when more than this share of the measurements are slowed (quiet runs
#: here: 0-3 of 25, one with a slow start and end 7; busy ones 9-25).
BUSY_SHARE = 1 / 3

#: ... or when other processes used more than this share of the CPUs while the bench ran.
OTHERS_SHARE = 0.25


def crossover(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per GPU target, depth and width: the smallest batch at which it beats every CPU target.

    Sorted by (width, batch): the first entry is the smallest width and batch at which a GPU wins.
    """
    cpu_best: dict[tuple[int, int, int], float] = {}
    for r in rows:
        if not r["gpu"]:
            key = (r["depth"], r["width"], r["batch"])
            cpu_best[key] = min(cpu_best.get(key, math.inf), r["median_s"])
    found: dict[tuple[str, int, int], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["batch"]):
        key = (r["depth"], r["width"], r["batch"])
        if not r["gpu"] or key not in cpu_best or r["median_s"] >= cpu_best[key]:
            continue
        group = (r["target"], r["depth"], r["width"])
        if group not in found:
            found[group] = {
                "target": r["target"],
                "depth": r["depth"],
                "width": r["width"],
                "batch": r["batch"],
                "speedup": cpu_best[key] / r["median_s"],
            }
    return sorted(found.values(), key=lambda c: (c["width"], c["batch"], c["depth"]))


def busy_verdict(slowdowns: Mapping[str, float], others: float | None = None) -> str | None:
    """Why timings with these spreads are not to be trusted, or None when the machine was steady enough.

    Parameters
    ----------
    slowdowns : mapping of str to float
        Each measurement's median over its fastest round, less one
        (:attr:`gpubp.bench.timing.Spread.slowdown`), by name.
    others : float or None
        The share of the CPUs other work used meanwhile
        (:func:`gpubp.bench.environment.others_share`); None if unknown.

    Returns
    -------
    str or None
        What was wrong: other work using more than :data:`OTHERS_SHARE` of
        the CPUs (a steady load slows every measurement alike, so their
        spreads stay small), or more than :data:`BUSY_SHARE` of the
        measurements slowed (by more than :data:`SLOWED`); both where both.
    """
    reasons = []
    if others is not None and others > OTHERS_SHARE:
        reasons.append(f"other processes used {others:.0%} of the CPUs meanwhile")
    slowed = {name: x for name, x in slowdowns.items() if x > SLOWED}
    if slowdowns and len(slowed) > BUSY_SHARE * len(slowdowns):
        worst = max(slowed, key=lambda name: slowed[name])
        by = f"{slowed[worst]:.0%}" if slowed[worst] < 10 else ">999%"
        reasons.append(
            f"in {len(slowed)} of {len(slowdowns)} measurements the median round took over {SLOWED:.0%} longer "
            f"than the fastest (worst {worst}: {by})"
        )
    return "; ".join(reasons) or None


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(doc: dict[str, Any]) -> str:
    """The results as aligned text: one line per (point, target), then the peaks and the crossover.

    ``step`` is the median over the rounds, ``min``/``max`` the extremes and
    ``iqr`` the interquartile range as a share of the median.
    """
    w = max([14, *(len(t["target"]) for t in doc["targets"])])
    head = f"{'depth':>5} {'width':>6} {'batch':>6}  {'target':<{w}} {'step':>11} {'min':>11} {'max':>11} {'iqr':>6} "
    head += f"{'samples/s':>11} {'GFLOP/s':>9} {'of peak':>8}"
    lines = [head, "-" * len(head)]
    for r in doc["results"]:
        share = f"{100 * r['peak_share']:.0f}%" if r.get("peak_share") is not None else "-"
        iqr = "-" if r.get("iqr") is None else f"{100 * r['iqr']:.0f}%" if r["iqr"] < 10 else ">999%"
        lines.append(
            f"{r['depth']:>5} {r['width']:>6} {r['batch']:>6}  {r['target']:<{w}} {_ms(r['median_s']):>11} "
            f"{_ms(r['min_s']):>11} {_ms(r['max_s']):>11} {iqr:>6} "
            f"{r['samples_per_s']:>11.4g} {r['gflops']:>9.1f} {share:>8}"
        )
    lines.append(peak_text(doc))
    lines.append(crossover_text(doc))
    return "\n".join(lines)


def peak_text(doc: dict[str, Any]) -> str:
    """One line: each device's matmul peak (its fastest block, by the library that reached it)."""
    parts = []
    for d in doc.get("devices", []):
        if d["peak_gflops"] is None:
            parts.append(f"{d['device']} not measured")
        else:
            parts.append(f"{d['device']} {d['peak_gflops']:.1f} GFLOP/s ({d['peak_backend']}, n={d['peak_n']})")
    return "matmul peak: " + (", ".join(parts) or "not measured")


def crossover_text(doc: dict[str, Any]) -> str:
    """One line: where the GPU starts to win, or why that was not measured."""
    if not doc["gpu"]:
        return NO_GPU + (f" ({doc['no_gpu_reason']})" if doc.get("no_gpu_reason") else "")
    if not doc["crossover"]:
        return "crossover: no GPU target beat the CPU at any measured point"
    c = doc["crossover"][0]
    return (
        f"crossover: {c['target']} wins from batch {c['batch']} at width {c['width']} "
        f"(depth {c['depth']}, {c['speedup']:.2f}x the best CPU)"
    )


def write_json(path: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` as JSON atomically (a temporary file renamed into place); also for benchmarks/."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise GpubpError(f"cannot write {path} ({exc.strerror or exc})") from None
