"""The loss-curve PNG of a run (matplotlib is optional)."""

from __future__ import annotations

import os
from typing import Any

PLOT_HINT = "pip install 'gpubp[plot]'"


def plot_losses(history: Any, path: str | os.PathLike[str]) -> bool:
    """Write train and validation loss per epoch to ``path``; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
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
    fig.tight_layout()
    tmp = f"{os.fspath(path)}.tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return True
