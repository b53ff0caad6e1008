"""The PNGs gpubp draws: a run's loss curve, and the helpers the bench plot shares (matplotlib is optional)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from .errors import GpubpError


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
