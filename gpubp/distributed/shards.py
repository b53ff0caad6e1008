"""Reading one process's rows of a data set: the features of the rows it trains on, and nothing more.

Data parallel, every process needs all the *targets* (one value per row: the
split into train, validation and test parts is drawn over all of them, as one
process draws it) but only *its own rows' features*. :func:`open_dataset`
gives a :class:`~gpubp.data.Dataset` whose ``y`` is read whole and whose ``X``
is read by rows where the file allows:

* ``.npy`` and ``.npz``: ``X[rows]`` asks :func:`gpubp.data.load_dataset` for
  the range of rows they span (``rows=(start, stop)``: a ``.npy`` file and a
  stored ``.npz`` member are memory-mapped and read only there, a compressed
  member is inflated up to ``stop``) and keeps the rows asked for; every value
  read is checked, and a bad one is named by its row in the whole file. ``y``
  is read alone: the ``.npy`` file's last column, the ``.npz`` file's ``y``.
* CSV files and the built-in sets are read whole and then cut (a stopgap: a
  CSV file has no row index to seek to; the built-ins are small).

The command gives each process a contiguous share of the training rows (and
of the test rows), so the range it reads holds little besides its own rows
(the other parts' rows between them: the test split's 20% by default).
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

from ..backend import host
from ..data import Dataset, load_dataset
from ..data.files import SOURCES, file_kind, int64_labels, open_binary
from ..data.npy_file import npy_cell, npy_header, npy_targets, read_npy
from ..errors import GpubpError, one_line


def open_dataset(source: str, *, target: str | None = None, seed: int = 0) -> Dataset:
    """A data set with its targets read whole and its features read by rows where the file allows.

    Raises
    ------
    GpubpError
        As :func:`gpubp.data.load_dataset`; for ``.npy`` and ``.npz`` files the
        feature values are checked when rows are read (``ds.X[rows]``).
    """
    source = os.fspath(source)
    kind = None if source in SOURCES or target is not None else file_kind(source)
    if kind == ".npy":
        data = read_npy(source)  # a memory map: the header judged, nothing read
        if data.shape[1] < 2:
            return load_dataset(source)  # its own error: one column is no data set
        last = data.shape[1] - 1
        y, where = npy_targets(source, data), npy_cell(source, data)
        return Dataset(_Rows(source, data.shape[0], last), y, [f"x{j}" for j in range(last)], "y", source, where)
    if kind == ".npz":
        n, width = _npz_shape(source)
        y = _npz_targets(source, n)
        features = [f"x{j}" for j in range(width)]
        return Dataset(_Rows(source, n, width), y, features, "y", source, lambda i: f"{source}: y[{i}]")
    return load_dataset(source, target=target, seed=seed)


class _Rows:
    """The features of a file as ``X``: ``X[rows]`` (sorted row indices) reads the range they span, keeps them."""

    ndim = 2
    dtype = host.dtype(host.float64)

    def __init__(self, source: str, n: int, width: int) -> None:
        self.source, self.shape = source, (n, width)

    def __getitem__(self, rows: Any) -> Any:
        rows = host.asarray(rows, dtype=host.int64)
        if len(rows) == 0:
            return host.empty((0, self.shape[1]))
        start, stop = int(rows.min()), int(rows.max()) + 1
        return load_dataset(self.source, rows=(start, stop)).X[rows - start]


def _npz_shape(path: str) -> tuple[int, int]:
    """(rows, features) of an ``.npz`` file's ``X``, from its .npy header: nothing inflated but the header."""
    with open_binary(path) as f:
        if not f.read(1):
            raise GpubpError(f"{path}: the file is empty")
        f.seek(0)
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise GpubpError(f"{path}: not a valid .npz file ({one_line(exc)})") from None
        with archive:
            names = {name.removesuffix(".npy"): name for name in archive.namelist()}
            for key in ("X", "y"):
                if key not in names:
                    raise GpubpError(
                        f"{path}: no array {key!r} (found: {', '.join(names) or 'none'}); expected X (n, features) "
                        "and y (n,)"
                    )
            with archive.open(names["X"]) as member:
                head = npy_header(member, f"{path}: array 'X'")
    if len(head.shape) != 2 or 0 in head.shape:
        raise GpubpError(f"{path}: array 'X' has shape {head.shape}; expected 2-D (samples, features), neither empty")
    return head.shape[0], head.shape[1]


def _npz_targets(path: str, n: int) -> Any:
    """The whole ``y`` of an ``.npz`` file, read and checked as :func:`gpubp.data.load_dataset` checks it."""
    with open_binary(path) as f, zipfile.ZipFile(f) as archive:
        name = next(name for name in archive.namelist() if name.removesuffix(".npy") == "y")
        with archive.open(name) as member:
            head = npy_header(member, f"{path}: array 'y'", kinds="biufU")
            if len(head.shape) not in (1, 2) or 0 in head.shape[1:]:
                raise GpubpError(f"{path}: array 'y' has shape {head.shape}; expected (samples,) or (samples, targets)")
            if head.shape[0] != n:
                raise GpubpError(f"{path}: X has {n} rows but y has {head.shape[0]}")
            data = member.read(head.nbytes)
    if len(data) != head.nbytes:
        raise GpubpError(f"{path}: array 'y' is cut short (the file is corrupt)")
    y = host.frombuffer(data, dtype=head.dtype).reshape(head.shape, order="F" if head.fortran_order else "C")
    if y.dtype.kind == "f":
        y = y.astype(host.float64)
        bad = ~host.isfinite(y)
        if bad.any():
            index = ", ".join(str(int(i)) for i in host.argwhere(bad)[0])
            raise GpubpError(f"{path}: y[{index}] is {y[bad][0]} (values must be finite numbers)")
    elif y.dtype.kind in "iub":
        y = int64_labels(y, lambda i: f"{path}: y[{i}]")
    else:
        y = y.copy()  # text labels: an array of its own, not a view of the bytes read
    return y
