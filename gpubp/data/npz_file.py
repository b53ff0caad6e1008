"""``.npz`` archives holding arrays ``X`` (n, features) and ``y``; judged before inflating, never unpickled.

An archive is a zip file: its directory says how large each member is, packed
and unpacked, and each member's .npy header says its dtype and shape. All of
that is read and checked -- dtypes (no Python objects), shapes, rows of X
against rows of y, the unpacked size against the memory there is and against
the archive's own size (a 20 MB archive that would inflate to gigabytes is a
zip bomb, refused at once) -- before a single byte is inflated.
"""

from __future__ import annotations

import math
import zipfile
from typing import Any, BinaryIO

from ..backend import host
from ..errors import GpubpError, one_line
from .dataset import Dataset
from .files import available_memory, check_rows, int64_labels, open_binary, row_slice
from .npy_file import NpyHeader, npy_header

#: A member may unpack to at most this many times its packed size (zlib's own limit is about 1032).
MAX_RATIO = 100

#: Members that unpack to less than this are never refused for their ratio (an array of zeros packs well).
SMALL = 64 << 20

#: The arrays read may take at most this share of the memory available when reading starts.
MEMORY_SHARE = 0.5


def load_npz(path: str, need_y: bool = True, *, rows: tuple[int, int] | None = None) -> Dataset:
    """Arrays X (n, f) and y (n,) or (n, t) from an .npz archive, judged before inflating, never unpickled.

    With ``need_y`` False (prediction) an archive without ``y`` is read too (``y`` is then None).
    Only the rows ``rows = (start, stop)`` are kept (default all); members stored
    uncompressed in C order are read only there, others are inflated up to ``stop``.
    """
    check_rows(rows)
    with open_binary(path) as f:
        if not f.read(1):
            raise GpubpError(f"{path}: the file is empty")
        f.seek(0)
        archive = _open(path, f)
        with archive:
            members = _members(path, archive)
            keys = ("X", "y") if need_y or "y" in members else ("X",)
            for key in keys:
                if key not in members:
                    found = ", ".join(members) or "none"
                    raise GpubpError(f"{path}: no array {key!r} (found: {found}); expected X (n, features) and y (n,)")
            heads = {key: _judge(path, archive, members[key], key) for key in keys}
            n = _check_shapes(path, heads)
            part = row_slice(path, rows, n) if rows is not None else slice(0, n)
            _check_size(path, archive, {key: members[key] for key in keys}, heads, part)
            arrays = {key: _read(path, archive, members[key], key, heads[key], part) for key in keys}
    X = _finite(path, "X", arrays.pop("X").astype(host.float64, copy=False), part.start)
    y = arrays.get("y")
    if y is not None:
        if y.dtype.kind == "f":
            y = _finite(path, "y", y.astype(host.float64, copy=False), part.start)
        elif y.dtype.kind in "iu":
            y = int64_labels(y, lambda i: f"{path}: y[{i + part.start}]")
    features = [f"x{j}" for j in range(X.shape[1])]
    start = part.start
    return Dataset(X, y, features, "y", path, lambda i: f"{path}: y[{i + start}]")


def _open(path: str, f: BinaryIO) -> zipfile.ZipFile:
    """The archive's directory (nothing inflated); a file that is not a zip archive is an error saying what it is."""
    try:
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        f.seek(0)
        if f.read(6) == b"\x93NUMPY":
            raise GpubpError(f"{path}: holds a single .npy array, not an .npz archive with arrays X and y") from None
        reason = f"neither a zip archive nor a .npy array: {one_line(exc)}"
        raise GpubpError(f"{path}: not a valid .npz file ({reason})") from None


def _members(path: str, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's arrays by name (``X`` for ``X.npy``); a name that appears twice is an error."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name in members:
            raise GpubpError(f"{path}: member {info.filename!r} appears twice; the archive is damaged or crafted")
        members[name] = info
    return members


def _judge(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> NpyHeader:
    """The member's .npy header, read through at most a few kilobytes of inflating; dtype judged."""
    where = f"{path}: array {key!r}"
    if not info.filename.endswith(".npy"):
        raise GpubpError(f"{path}: member {info.filename!r} is not a .npy array")
    if info.flag_bits & 0x1:
        raise GpubpError(f"{where} is encrypted")
    try:
        with archive.open(info) as member:
            return npy_header(member, where, "biufU")  # type: ignore[arg-type]
    except GpubpError:
        raise
    except Exception as exc:  # zlib.error, BadZipFile, NotImplementedError (a compression zipfile lacks), EOFError
        raise GpubpError(f"{where} cannot be read, the file is corrupt ({one_line(exc)})") from None


def _check_shapes(path: str, heads: dict[str, NpyHeader]) -> int:
    """X 2-D numbers, y one or two dimensions with as many rows: checked from the headers; the row count."""
    X = heads["X"]
    if X.dtype.kind not in "biuf":
        raise GpubpError(f"{path}: array 'X' has dtype {X.dtype}; features must be numbers")
    if len(X.shape) != 2 or 0 in X.shape:
        raise GpubpError(f"{path}: array 'X' has shape {X.shape}; expected 2-D (samples, features), neither empty")
    y = heads.get("y")
    if y is not None:
        if len(y.shape) not in (1, 2) or 0 in y.shape[1:]:
            raise GpubpError(f"{path}: array 'y' has shape {y.shape}; expected (samples,) or (samples, targets)")
        if y.shape[0] != X.shape[0]:
            raise GpubpError(f"{path}: X has {X.shape[0]} rows but y has {y.shape[0]}")
    return X.shape[0]


def _check_size(
    path: str, archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], heads: dict[str, NpyHeader], part: slice
) -> None:
    """Refuse, before inflating, a member that lies about its size, inflates too far, or will not fit in memory."""
    kept = part.stop - part.start
    need = 0
    for key, info in infos.items():
        head = heads[key]
        where = f"{path}: array {key!r}"
        if info.file_size != head.offset + head.nbytes:
            raise GpubpError(
                f"{where}: its header promises {head.nbytes} bytes of data, the archive's directory "
                f"{info.file_size - head.offset}; the file is corrupt"
            )
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > SMALL and ratio > MAX_RATIO:
            raise GpubpError(
                f"{where}: would inflate {info.compress_size} bytes to {info.file_size} ({ratio:.0f} times); "
                f"more than {MAX_RATIO} times is refused as a zip bomb (save real data with numpy.savez, "
                "uncompressed, or as .npy)"
            )
        items = kept * math.prod(head.shape[1:])
        need += items * (head.dtype.itemsize + 8)  # the array as stored, and as float64
    available = available_memory()
    if need > MEMORY_SHARE * available:
        raise GpubpError(
            f"{path}: reading it needs about {need / 2**30:.1f} GiB, more than half the "
            f"{available / 2**30:.1f} GiB of memory available; read a part with rows=(start, stop), or use .npy"
        )


def _read(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, head: NpyHeader, part: slice) -> Any:
    """The member's rows ``part``, inflated into one preallocated array (only up to ``part.stop`` for C order)."""
    where = f"{path}: array {key!r}"
    shape = head.shape
    row = head.nbytes // max(1, shape[0])  # bytes per row in C order
    c_order = not head.fortran_order or len(shape) == 1
    first, count = (part.start, part.stop - part.start) if c_order else (0, shape[0])
    out = host.empty((count, *shape[1:]), dtype=head.dtype)
    try:
        with archive.open(info) as member:
            member.seek(head.offset + first * row)  # a stored member seeks; a packed one inflates up to there
            view = out.reshape(-1).view(host.uint8)
            got = 0
            while got < len(view):
                chunk = member.read(min(len(view) - got, 16 << 20))
                if not chunk:
                    raise EOFError(f"{len(view) - got} bytes missing")
                view[got : got + len(chunk)] = host.frombuffer(chunk, dtype=host.uint8)
                got += len(chunk)
            if c_order and part.stop == shape[0]:
                member.read()  # the rest is empty; reading to the end checks the CRC
    except Exception as exc:  # zlib.error, BadZipFile (a CRC mismatch), EOFError, OSError: a damaged archive
        raise GpubpError(f"{where} cannot be read, the file is corrupt ({one_line(exc)})") from None
    if head.fortran_order and len(shape) > 1:
        out = out.reshape(shape[::-1]).T[part]
    if not head.dtype.isnative:
        out = out.astype(head.dtype.newbyteorder("="))
    return out


def _finite(path: str, key: str, a: Any, start: int) -> Any:
    """``a`` if every value is finite; otherwise an error naming the first bad index (rows counted from 0)."""
    bad = ~host.isfinite(a)
    if host.any(bad):
        index = [int(i) for i in host.argwhere(bad)[0]]
        value = a[tuple(index)]
        index[0] += start
        raise GpubpError(f"{path}: {key}[{', '.join(map(str, index))}] is {value} (values must be finite numbers)")
    return a
