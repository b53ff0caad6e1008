"""Data on the host: the bundled digits, three synthetic sets, and the user's CSV, .npz or .npy files.

Everything here is NumPy (:data:`gpubp.backend.host`); moving arrays to a device
happens in the estimators, once. A reader returns a :class:`Dataset` with the
target as the file holds it; :func:`decide_task` checks it against a task once,
and the classifier encodes the labels. Every bad input raises
:class:`~gpubp.errors.GpubpError` naming the file, row and column.

One module per source: :mod:`.builtin`, :mod:`.csv_file` (with :mod:`.csv_text`,
its exact reader), :mod:`.npz_file`, :mod:`.npy_file`;
:mod:`.split` cuts train / validation / test parts.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import GpubpError, ParameterError
from .builtin import BUILTINS
from .csv_file import load_csv, read_csv
from .csv_file import numbers as numbers  # kept for callers of the old API
from .csv_file import read_table as read_table
from .dataset import Dataset
from .files import SOURCES, check_rows, columns_by_name, file_kind, row_slice
from .npy_file import finite_float, load_npy, read_npy
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


def load_dataset(
    source: str | os.PathLike[str],
    *,
    target: str | None = None,
    seed: int = 0,
    rows: tuple[int, int] | None = None,
) -> Dataset:
    """Load a built-in data set or the user's CSV / .npz / .npy file.

    Parameters
    ----------
    source : str or PathLike
        ``digits`` (the bundled UCI handwritten digits, 1797 x 64), ``xor``,
        ``spirals``, ``sine`` (synthetic), or a path ending in ``.csv``,
        ``.npz`` or ``.npy`` (a 2-D numeric array whose last column is the
        target, memory-mapped). A built-in name wins over a file of the same name.
    target : str or None
        CSV only: the target column's name; default the last column.
    seed : int
        Seeds the synthetic sets (ignored by ``digits`` and files).
    rows : (start, stop) or None
        Only these data rows (0-based, stop exclusive): one process's shard.
        A .npy file reads only them; an .npz file inflates only up to ``stop``;
        a CSV file is read whole and sliced; a built-in set is sliced.

    Raises
    ------
    ParameterError
        ``target`` given for a source without named columns, or not a column.
    GpubpError
        Unknown source, unreadable or malformed file; the message names the file, row, column or array.
    """
    source = os.fspath(source)
    check_rows(rows)
    if source in SOURCES:
        if target is not None:
            raise ParameterError("target", f"needs a CSV file with named columns, not the built-in {source!r}", target)
        ds = BUILTINS[source](seed)
        if rows is not None:
            part, where = row_slice(source, rows, ds.n_samples), ds.where
            ds.X, ds.y, ds.where = ds.X[part], ds.y[part], lambda i: where(i + part.start)
        return ds
    kind = file_kind(source)
    if kind == ".csv":
        return load_csv(source, target, rows=rows)
    if target is not None:
        raise ParameterError("target", f"needs a CSV file with named columns; {source} holds arrays X and y", target)
    if kind == ".npy":
        return load_npy(source, rows=rows)
    return load_npz(source, rows=rows)


def load_features(
    source: str | os.PathLike[str],
    *,
    n_features: int,
    target: str | None = None,
    feature_names: list[str] | None = None,
    seed: int = 0,
    rows: tuple[int, int] | None = None,
) -> Any:
    """Only the features of a source, for prediction: (n, n_features) float64.

    With ``feature_names`` (those of the CSV file a model was trained on), a
    CSV file's columns are taken by name, in the model's order: a missing one
    is an error, other columns (the target among them) are ignored. Without,
    a CSV file may hold just the feature columns, or the features and the
    ``target`` column (default: the last column), which is then dropped.
    A built-in source or an ``.npz`` file gives its ``X`` (``y`` may be absent);
    a ``.npy`` file gives all its columns, or all but the last (the target)
    when it has ``n_features + 1``. ``rows`` as for :func:`load_dataset`.

    Raises
    ------
    GpubpError
        A malformed file, a missing feature column, or a feature count that
        does not match ``n_features``.
    """
    source = os.fspath(source)
    check_rows(rows)
    kind = None if source in SOURCES else file_kind(source)
    if kind is None:
        X = BUILTINS[source](seed).X
        X = X if rows is None else X[row_slice(source, rows, len(X))]
    elif kind == ".csv":

        def choose(header: list[str]) -> tuple[list[int], None]:
            if feature_names is not None:
                return columns_by_name(source, header, feature_names), None
            if target in header:  # the column the model predicts is never one of its inputs
                return [j for j in range(len(header)) if header[j] != target], None
            if len(header) == n_features:
                return list(range(len(header))), None
            return list(range(len(header) - 1)), None

        X = read_csv(source, choose, rows=rows).X
    elif kind == ".npy":
        data = read_npy(source, rows)
        width = n_features if data.shape[1] == n_features else data.shape[1] - 1
        X = finite_float(source, data, range(width), 0 if rows is None else rows[0])
    else:
        X = load_npz(source, need_y=False, rows=rows).X
    if X.shape[1] != n_features:
        raise GpubpError(f"{source}: has {X.shape[1]} feature columns but the model was trained on {n_features}")
    return X
