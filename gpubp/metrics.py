"""Metrics computed on the device: each returns a 0-d array, read by the caller once.

Keeping metrics on the device lets the fit loop add up a whole epoch and make
one host read at its end instead of one per batch.
"""

from __future__ import annotations

from typing import Any

from .backend import namespace


def predicted_classes(out: Any) -> Any:
    """Class indices from network outputs: argmax of (n, C) logits, or z > 0 for one logit."""
    xp = namespace(out)
    if out.shape[1] == 1:
        return xp.astype(out[:, 0] > 0, xp.int64)  # (n,)
    return xp.argmax(out, axis=1)  # (n,)


def correct_count(out: Any, labels: Any) -> Any:
    """How many rows are classified right, as a float 0-d array (labels: (n,) indices or (n, C) one-hot)."""
    xp = namespace(out)
    if labels.ndim == 2:  # one-hot rows (the mse loss's targets), or one column of labels
        labels = xp.argmax(labels, axis=1) if labels.shape[1] > 1 else labels[:, 0]  # (n,)
    hits = predicted_classes(out) == xp.astype(labels, xp.int64)
    return xp.sum(xp.astype(hits, out.dtype))


def squared_error_sum(out: Any, target: Any) -> Any:
    """sum((out - target)^2) over all elements (target (n,) is read as (n, 1))."""
    xp = namespace(out)
    if target.ndim == 1:
        target = xp.reshape(target, (-1, 1))
    diff = out - xp.astype(target, out.dtype)
    return xp.sum(diff * diff)


def r2_score(mse: float, target_variance: float) -> float:
    """Coefficient of determination 1 - MSE / Var(y) (host floats; Var 0 gives 0 or 1)."""
    if target_variance == 0:
        return 1.0 if mse == 0 else 0.0
    return 1.0 - mse / target_variance
