"""What every reader needs: telling a data file's kind, opening it, choosing rows, sizing memory, naming columns."""

from __future__ import annotations

import operator
import os
from collections.abc import Callable
from typing import Any, BinaryIO

from ..backend import host
from ..errors import GpubpError, ParameterError
from ..io import available_memory as available_memory  # one place asks the system

#: Built-in data sets, accepted by name as a source.
SOURCES: tuple[str, ...] = ("digits", "xor", "spirals", "sine")

#: File types a source may be.
SUFFIXES: tuple[str, ...] = (".csv", ".npz", ".npy")

_KINDS = "a .csv, .npz or .npy file"


def file_kind(path: str) -> str:
    """'.csv', '.npz' or '.npy' for an existing regular file; otherwise the error saying what ``path`` is."""
    suffix = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise GpubpError(f"{path}: is a directory, not {_KINDS}")
    if os.path.islink(path) and not os.path.exists(path):  # a dangling link, or a loop of links
        try:
            os.stat(path)
        except OSError as exc:
            raise GpubpError(f"{path}: a symbolic link that leads nowhere ({exc.strerror or exc})") from None
    if suffix not in SUFFIXES:
        if os.path.exists(path):
            shown = suffix or "(no extension)"
            raise GpubpError(f"{path}: unsupported file type {shown} (expected .csv, .npz or .npy)")
        raise GpubpError(f"unknown data source {path!r}: choose {', '.join(SOURCES)}, or give a path to {_KINDS}")
    if not os.path.exists(path):
        raise GpubpError(f"{path}: no such file")
    if not os.path.isfile(path):  # a FIFO or a device would be read forever, or never
        raise GpubpError(f"{path}: not a regular file (a pipe or a device?); give {_KINDS}")
    return suffix


def int64_labels(y: Any, cell: Callable[[int], str]) -> Any:
    """Integer (or boolean) labels as int64; a uint64 label beyond int64's range is an error, never wrapped round.

    ``cell(i)`` names where ``y[i]`` is in the file, for the message.
    """
    if y.dtype.kind == "u" and y.dtype.itemsize == 8 and y.size:
        big = host.flatnonzero(y > host.iinfo(host.int64).max)
        if big.size:
            i = int(big[0])
            raise GpubpError(f"{cell(i)} is {int(y[i])}, beyond the largest integer label, 2**63 - 1")
    return y.astype(host.int64, copy=False)


def open_binary(path: str) -> BinaryIO:
    """The file opened for binary reading; failing to open it is an error naming the reason."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise GpubpError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GpubpError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise GpubpError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def check_rows(rows: Any) -> tuple[int, int] | None:
    """``rows`` as a pair of ints ``(start, stop)`` with ``0 <= start <= stop``, or None; else a ParameterError."""
    if rows is None:
        return None
    try:
        start, stop = rows
        if isinstance(start, bool) or isinstance(stop, bool):
            raise TypeError
        start, stop = operator.index(start), operator.index(stop)
    except (TypeError, ValueError):
        raise ParameterError("rows", "must be a pair (start, stop) of whole numbers", rows) from None
    if not 0 <= start <= stop:
        raise ParameterError("rows", "must be (start, stop) with 0 <= start <= stop", rows)
    return start, stop


def row_slice(source: str, rows: Any, n: int) -> slice:
    """The slice of ``n`` data rows that ``rows = (start, stop)`` selects (stop past the end means to the end).

    Raises ParameterError for a malformed ``rows``, GpubpError when it selects no row.
    """
    start, stop = check_rows(rows) or (0, n)
    if start >= n or start == stop:
        raise GpubpError(f"{source}: rows ({start}, {stop}) selects none of its {n} data rows")
    return slice(start, min(stop, n))


def listing(names: list[Any], limit: int = 20) -> str:
    """Names joined by commas, shortened when there are many."""
    names = [str(name) for name in names]
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}, ... ({len(names)} in all)"


def columns_by_name(source: str, names: list[str], wanted: list[str]) -> list[int]:
    """Positions of the columns ``wanted`` (a model's features) among ``names``; a missing one is an error.

    Linear in the number of columns: one dict of positions, one look-up per wanted name.
    """
    position: dict[str, int] = {}
    for j, name in enumerate(names):
        position.setdefault(name, j)
    missing = [name for name in wanted if name not in position]
    if missing:
        raise GpubpError(
            f"{source}: no column {listing([repr(m) for m in missing])}; the model was trained on the columns "
            f"{listing(wanted)} (here: {listing(names)})"
        )
    return [position[name] for name in wanted]
