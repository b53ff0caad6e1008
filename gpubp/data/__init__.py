"""Data on the host: the bundled digits, three synthetic sets, and the user's CSV or .npz files.

Everything here is NumPy (:data:`gpubp.backend.host`); moving arrays to a device
happens in the estimators, once. A reader returns a :class:`Dataset` with the
target as the file holds it; :func:`decide_task` checks it against a task once,
and the classifier encodes the labels. Every bad input raises
:class:`~gpubp.errors.GpubpError` naming the file, row and column.

One module per source: :mod:`.builtin`, :mod:`.csv_file`, :mod:`.npz_file`;
:mod:`.split` cuts train / validation / test parts.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import GpubpError, ParameterError
from .builtin import BUILTINS
from .csv_file import load_csv, numbers, read_table
from .dataset import Dataset
from .files import SOURCES, columns_by_name, file_kind
from .npz_file import load_npz
from .split import Split, split_indices
from .targets import MAX_AUTO_CLASSES, TASKS, decide_task, infer_task

__all__ = [
    "MAX_AUTO_CLASSES",
    "SOURCES",
    "TASKS",
    "Dataset",
    "Split",
    "columns_by_name",
    "decide_task",
    "infer_task",
    "load_dataset",
    "load_features",
    "split_indices",
]


def load_dataset(source: str | os.PathLike[str], *, target: str | None = None, seed: int = 0) -> Dataset:
    """Load a built-in data set or the user's CSV / .npz file.

    Parameters
    ----------
    source : str or PathLike
        ``digits`` (the bundled UCI handwritten digits, 1797 x 64), ``xor``,
        ``spirals``, ``sine`` (synthetic), or a path ending in ``.csv`` or
        ``.npz``. A built-in name wins over a file of the same name.
    target : str or None
        CSV only: the target column's name; default the last column.
    seed : int
        Seeds the synthetic sets (ignored by ``digits`` and files).

    Raises
    ------
    ParameterError
        ``target`` given for a source without named columns, or not a column.
    GpubpError
        Unknown source, unreadable or malformed file; the message names the file, row, column or array.
    """
    source = os.fspath(source)
    if source in SOURCES:
        if target is not None:
            raise ParameterError("target", f"needs a CSV file with named columns, not the built-in {source!r}", target)
        return BUILTINS[source](seed)
    if file_kind(source) == ".csv":
        return load_csv(source, target)
    if target is not None:
        raise ParameterError("target", f"needs a CSV file with named columns; {source} holds arrays X and y", target)
    return load_npz(source)


def load_features(
    source: str | os.PathLike[str],
    *,
    n_features: int,
    target: str | None = None,
    feature_names: list[str] | None = None,
    seed: int = 0,
) -> Any:
    """Only the features of a source, for prediction: (n, n_features) float64.

    With ``feature_names`` (those of the CSV file a model was trained on), a
    CSV file's columns are taken by name, in the model's order: a missing one
    is an error, other columns (the target among them) are ignored. Without,
    a CSV file may hold just the feature columns, or the features and the
    ``target`` column (default: the last column), which is then dropped.
    A built-in source or an ``.npz`` file gives its ``X`` (``y`` may be absent).

    Raises
    ------
    GpubpError
        A malformed file, a missing feature column, or a feature count that
        does not match ``n_features``.
    """
    source = os.fspath(source)
    if source in SOURCES:
        X = BUILTINS[source](seed).X
    elif file_kind(source) == ".csv":
        header, body = read_table(source)
        if feature_names is not None:
            cols = columns_by_name(source, header, feature_names)
        elif target in header:  # the column the model predicts is never one of its inputs
            cols = [j for j in range(len(header)) if header[j] != target]
        elif len(header) == n_features:
            cols = list(range(len(header)))
        else:
            cols = list(range(len(header) - 1))
        X = numbers(source, header, body, cols)
    else:
        X = load_npz(source, need_y=False).X
    if X.shape[1] != n_features:
        raise GpubpError(f"{source}: has {X.shape[1]} feature columns but the model was trained on {n_features}")
    return X
