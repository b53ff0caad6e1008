"""What every reader needs: telling a data file's kind, opening it, and naming columns in messages."""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from ..errors import GpubpError

#: Built-in data sets, accepted by name as a source.
SOURCES: tuple[str, ...] = ("digits", "xor", "spirals", "sine")

#: File types a source may be.
SUFFIXES: tuple[str, ...] = (".csv", ".npz")


def file_kind(path: str) -> str:
    """'.csv' or '.npz' for an existing regular file; otherwise the error saying what ``path`` is."""
    suffix = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise GpubpError(f"{path}: is a directory, not a .csv or .npz file")
    if os.path.islink(path) and not os.path.exists(path):  # a dangling link, or a loop of links
        try:
            os.stat(path)
        except OSError as exc:
            raise GpubpError(f"{path}: a symbolic link that leads nowhere ({exc.strerror or exc})") from None
    if suffix not in SUFFIXES:
        if os.path.exists(path):
            raise GpubpError(f"{path}: unsupported file type {suffix or '(no extension)'} (expected .csv or .npz)")
        raise GpubpError(
            f"unknown data source {path!r}: choose {', '.join(SOURCES)}, or give a path to a .csv or .npz file"
        )
    if not os.path.exists(path):
        raise GpubpError(f"{path}: no such file")
    if not os.path.isfile(path):  # a FIFO or a device would be read forever, or never
        raise GpubpError(f"{path}: not a regular file (a pipe or a device?); give a .csv or .npz file")
    return suffix


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
