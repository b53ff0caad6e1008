"""The PNGs gpubp draws: a run's loss curve and the bench plot (matplotlib is optional)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from .errors import GpubpError

PLOT_HINT = "pip install 'gpubp[plot]'"


def _pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(plt: Any, fig: Any, path: str | os.PathLike[str]) -> None:
    """Write the figure to a temporary file and rename it into place, so no half-written image is left.

    Raises
    ------
    GpubpError
        ``cannot write plot PATH: <reason>`` (a full disk, a read-only folder, a folder in the way);
        the temporary file is removed, whatever stopped the write.
    """
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
    kind = os.path.splitext(path)[1].lstrip(".").lower()
    try:
        fig.tight_layout()
        if kind not in fig.canvas.get_supported_filetypes():
            kind = "png"
        fig.savefig(tmp, format=kind)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise GpubpError(f"cannot write plot {path}: {(exc.strerror or str(exc)).rstrip('.')}") from None
        raise
    finally:
        plt.close(fig)


def plot_losses(history: Any, path: str | os.PathLike[str]) -> bool:
    """Write train and validation loss per epoch to ``path``; False if matplotlib is missing.

    Raises
    ------
    GpubpError
        The file cannot be written (see ``_save``).
    """
    plt = _pyplot()
    if plt is None:
        return False
    epochs = history.column("epoch")
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, history.column("train_loss"), label="train")
    val = history.column("val_loss")
    if any(v is not None for v in val):
        ax.plot(epochs, val, label="validation")
    if history.best_epoch:
        ax.axvline(history.best_epoch, color="grey", linestyle=":", label=f"best (epoch {history.best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title("gpubp training loss")
    ax.legend()
    _save(plt, fig, path)
    return True


def plot_bench(doc: dict[str, Any], path: str | os.PathLike[str]) -> bool:
    """Step time against batch size per target (one panel per width), crossover marked; False without matplotlib.

    ``doc`` is the document :func:`gpubp.bench.run_bench` writes as JSON. Depths
    are told apart by line style; each GPU's crossover (the smallest batch at
    which it beats every CPU target) is a star and a dotted vertical line.
    """
    plt = _pyplot()
    if plt is None:
        return False
    widths = sorted({r["width"] for r in doc["results"]})
    depths = sorted({r["depth"] for r in doc["results"]})
    targets = [t["target"] for t in doc["targets"]]
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(1, len(widths), figsize=(4.2 * len(widths) + 1, 4.2), dpi=100, squeeze=False)
    for ax, width in zip(axes[0], widths, strict=True):
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
                if rows:
                    ax.plot(
                        [r["batch"] for r in rows],
                        [r["median_s"] * 1e3 for r in rows],
                        marker="o",
                        markersize=3,
                        color=f"C{ti}",
                        linestyle=styles[di % len(styles)],
                        label=f"{target}, depth {depth}",
                    )
        for c in doc.get("crossover") or []:
            if c["width"] != width:
                continue
            row = next(
                r
                for r in doc["results"]
                if (r["target"], r["width"], r["depth"], r["batch"])
                == (c["target"], c["width"], c["depth"], c["batch"])
            )
            ax.axvline(c["batch"], color="grey", linestyle=":", linewidth=1)
            ax.plot([c["batch"]], [row["median_s"] * 1e3], marker="*", markersize=14, color="black", linestyle="none")
            ax.annotate(f"crossover\nbatch {c['batch']}", (c["batch"], row["median_s"] * 1e3), fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_title(f"width {width}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("median step time (ms)")
    axes[0][-1].legend(fontsize=7)
    sweep = doc["sweep"]
    if not doc["gpu"]:
        headline = "no GPU: crossover not measured"
    elif doc.get("crossover"):
        c = doc["crossover"][0]
        headline = f"crossover: {c['target']} wins from batch {c['batch']} at width {c['width']} (depth {c['depth']})"
    else:
        headline = "crossover: the GPU did not win at any measured point"
    fig.suptitle(
        f"gpubp bench: one training step, {sweep['dtype']}, {sweep['loss']}, plain SGD\n{headline}", fontsize=10
    )
    _save(plt, fig, path)
    return True
