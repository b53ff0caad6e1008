"""Deciding the task from a target column: class labels or values to regress, checked once.

``task='auto'`` reads text, booleans and at most :data:`MAX_AUTO_CLASSES`
distinct whole numbers in one column as class labels, and anything else as
values. The labels themselves stay as read; the classifier encodes them.
"""

from __future__ import annotations

from typing import Any

from ..backend import host
from ..errors import GpubpError, ParameterError
from .dataset import Dataset

#: Values of ``task``.
TASKS: tuple[str, ...] = ("auto", "classify", "regress")

#: ``task='auto'`` reads whole-number targets with at most this many distinct values as class labels.
MAX_AUTO_CLASSES = 50


def _column(y: Any) -> Any:
    """A one-column 2-D target as 1-D."""
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


def _whole(labels: Any) -> bool:
    return labels.dtype.kind in "iub" or bool(host.all(labels == host.floor(labels)))


def infer_task(y: Any) -> str:
    """``classify`` for text, booleans or at most 50 distinct whole numbers in one column; else ``regress``."""
    labels = _column(y)
    if labels.dtype.kind in "iuf":
        few = labels.ndim == 1 and len(host.unique(labels)) <= MAX_AUTO_CLASSES
        return "classify" if few and _whole(labels) else "regress"
    return "classify"


def decide_task(ds: Dataset, task: str) -> tuple[str, Any]:
    """The task for ``ds`` and its target ready for the estimator of that task.

    Returns
    -------
    task : {'classify', 'regress'}
    y : ndarray
        ``classify``: the labels, one column (whole floats become int64, so
        classes read ``3``, not ``3.0``). ``regress``: float64 values.

    Raises
    ------
    ParameterError
        ``task`` is unknown, or the target does not suit it (the message
        names the row and column).
    GpubpError
        A classification target with a single class.
    """
    if task not in TASKS:
        raise ParameterError("task", f"must be one of {', '.join(TASKS)}", task)
    y = ds.y
    labels = _column(y)
    kind = y.dtype.kind
    if kind == "U" and task != "classify":
        text = [i for i, v in enumerate(labels.flat) if _not_number(v)]
        if len(text) < labels.size:  # numbers and text mixed: a typo, or labels meant as text
            i = text[0]
            raise ParameterError(
                "task",
                f"{ds.where(i)}: {str(labels.flat[i])!r} is not a number, though other values are "
                "(fix it, or choose classify to read every value as a class label)",
                task,
            )
        if task == "regress":
            raise ParameterError(
                "task", f"{ds.where(0)}: {str(labels.flat[0])!r} is text; regression needs numbers", task
            )
    if task == "auto":
        task = infer_task(y)
    if task == "regress":
        return task, y.astype(host.float64)
    if labels.ndim != 1:
        raise ParameterError("task", f"{ds.what} has shape {y.shape}; class labels must be one column", task)
    if kind == "f":
        if not _whole(labels):
            i = int(host.argmax(labels != host.floor(labels)))
            raise ParameterError(
                "task", f"{ds.where(i)}: {labels[i].item()!r} is not a whole number, so not a class label", task
            )
        labels = labels.astype(host.int64)
    values = host.unique(labels)
    if len(values) < 2:
        raise GpubpError(f"{ds.what} has a single class ({values[0].item()!r}); classification needs at least two")
    return task, labels


def _not_number(value: Any) -> bool:
    try:
        float(value)
    except ValueError:
        return True
    return False
