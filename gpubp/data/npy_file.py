""".npy arrays: a 2-D numeric array whose last column is the target, memory-mapped and judged from its header.

Nothing is read before the header says what the file holds: its dtype (numbers,
never Python objects: nothing is unpickled), its shape, its order, and that the
file is as long as the header promises. The data is then mapped, not read:
only the rows asked for (``rows=(start, stop)``, one process's shard) are
copied into memory, as float64, and checked finite.

:func:`npy_header` is shared with :mod:`.npz_file`, which judges each member of
an archive the same way before inflating it.
"""

from __future__ import annotations

import math
import mmap
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..backend import host
from ..errors import GpubpError, one_line
from .dataset import Dataset
from .files import int64_labels, open_binary, row_slice

#: The largest .npy header read (NumPy writes a few hundred bytes; its own limit is 10,000).
MAX_HEADER = 10_000

#: Rows converted to float64 at a time, so checking a shard needs little more memory than the shard.
_ROWS_AT_ONCE = 1 << 16


@dataclass(frozen=True)
class NpyHeader:
    """What a .npy header says: dtype, shape, order, and where the data starts in its stream."""

    dtype: Any
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def npy_header(f: BinaryIO, where: str, kinds: str = "biuf") -> NpyHeader:
    """Read and judge a .npy header from ``f`` (at its start) without reading any data.

    ``where`` names the array in messages (``"data.npy"``, ``"data.npz: array 'X'"``);
    ``kinds`` are the dtype kinds accepted (NumPy's letters: b bool, i/u integers, f floats, U text).
    """
    lib = host.lib.format
    try:
        version = lib.read_magic(f)
    except (ValueError, OSError, EOFError) as exc:
        raise GpubpError(f"{where}: not a .npy array ({one_line(exc)})") from None
    if version not in ((1, 0), (2, 0)):
        raise GpubpError(f"{where}: .npy format version {version[0]}.{version[1]}; gpubp reads versions 1.0 and 2.0")
    read = lib.read_array_header_1_0 if version == (1, 0) else lib.read_array_header_2_0
    try:
        shape, fortran_order, dtype = read(f, max_header_size=MAX_HEADER)
    except Exception as exc:  # ValueError, SyntaxError, tokenize.TokenError, EOFError...: a crafted or cut header
        raise GpubpError(f"{where}: not a valid .npy header ({one_line(exc)})") from None
    if dtype.hasobject:
        raise GpubpError(
            f"{where}: holds Python objects (dtype object); only numeric arrays are read "
            "and pickled data is never loaded"
        )
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in kinds:
        what = "numbers" if kinds == "biuf" else "numbers or text"
        raise GpubpError(f"{where}: has dtype {dtype}; expected {what}")
    return NpyHeader(dtype, tuple(int(n) for n in shape), bool(fortran_order), f.tell())


def read_npy(path: str, rows: tuple[int, int] | None = None) -> Any:
    """The rows ``rows`` of a 2-D numeric .npy file as a read-only memory map, judged from its header.

    Returns
    -------
    numpy.memmap, shape (stop - start, columns)
        Nothing is read from disk until the caller reads it.
    """
    with open_binary(path) as f:
        if not f.read(1):
            raise GpubpError(f"{path}: the file is empty")
        f.seek(0)
        head = npy_header(f, path)
        size = os.fstat(f.fileno()).st_size
    if len(head.shape) != 2 or 0 in head.shape:
        raise GpubpError(f"{path}: array of shape {head.shape}; expected 2-D (samples, columns), neither empty")
    if head.offset + head.nbytes != size:
        raise GpubpError(
            f"{path}: the header promises {head.nbytes} bytes of data, the file holds {size - head.offset}; "
            "it is cut short or damaged"
        )
    part = row_slice(path, rows, head.shape[0]) if rows is not None else slice(0, head.shape[0])
    order = "F" if head.fortran_order else "C"
    try:
        whole = host.memmap(path, dtype=head.dtype, mode="r", offset=head.offset, shape=head.shape, order=order)
    except (OSError, ValueError) as exc:
        raise GpubpError(f"{path}: cannot map it ({one_line(exc)})") from None
    return whole[part]


def load_npy(path: str, *, rows: tuple[int, int] | None = None) -> Dataset:
    """Features (every column but the last) and target (the last) of a 2-D numeric .npy array.

    Like a numeric CSV file without a header: ``X`` float64 (n, columns - 1),
    ``y`` int64 for integer or boolean arrays, float64 for floats. Only the rows
    ``rows = (start, stop)`` are read (default all); every value read is checked finite.
    """
    data = read_npy(path, rows)
    if data.shape[1] < 2:
        raise GpubpError(f"{path}: one column; a .npy data set needs feature columns and a target column (the last)")
    start = 0 if rows is None else int(rows[0])
    X = finite_float(path, data, range(data.shape[1] - 1), start)
    features = [f"x{j}" for j in range(X.shape[1])]
    return Dataset(X, npy_targets(path, data, start), features, "y", path, npy_cell(path, data, start))


def npy_cell(path: str, data: Any, start: int = 0) -> Any:
    """``cell(i)``: where the target of row ``i`` (counted from ``start``) is in the file, for messages."""
    last = data.shape[1] - 1
    return lambda i: f"{path}: [{i + start}, {last}] (row, column)"


def npy_targets(path: str, data: Any, start: int = 0) -> Any:
    """The last column of a 2-D .npy array as targets: int64 labels (integer or boolean arrays; one beyond
    int64's range is an error, never wrapped) or finite float64 values, copied in blocks of rows."""
    if data.dtype.kind in "biu":
        return _integers(data, -1, npy_cell(path, data, start))
    return finite_float(path, data, [-1], start)[:, 0]


def finite_float(path: str, data: Any, columns: Any, start: int = 0) -> Any:
    """``data[:, columns]`` as a new float64 array, converted in blocks of rows; a non-finite value is an error."""
    columns = list(columns)
    contiguous = columns == list(range(len(columns)))
    out = host.empty((data.shape[0], len(columns)), dtype=host.float64)
    release = _releaser(data)
    for i in range(0, data.shape[0], _ROWS_AT_ONCE):
        block = data[i : i + _ROWS_AT_ONCE, : len(columns)] if contiguous else data[i : i + _ROWS_AT_ONCE][:, columns]
        out[i : i + len(block)] = block
        release(data[i : i + _ROWS_AT_ONCE])
        finite = host.isfinite(out[i : i + len(block)])
        if not finite.all():
            r, c = (int(k) for k in host.argwhere(~finite)[0])
            column = columns[c] % data.shape[1]
            value = out[i + r, c]
            raise GpubpError(f"{path}: [{start + i + r}, {column}] is {value} (values must be finite numbers)")
    return out


def _integers(data: Any, column: int, cell: Any) -> Any:
    """``data[:, column]`` as a new int64 array, copied in blocks of rows as :func:`finite_float` copies;
    a uint64 label past int64's range is an error naming ``cell(row)``."""
    out = host.empty(data.shape[0], dtype=host.int64)
    release = _releaser(data)
    for i in range(0, data.shape[0], _ROWS_AT_ONCE):
        out[i : i + _ROWS_AT_ONCE] = int64_labels(data[i : i + _ROWS_AT_ONCE, column], lambda r: cell(i + r))  # noqa: B023
        release(data[i : i + _ROWS_AT_ONCE])
    return out


def _releaser(data: Any) -> Any:
    """A function that drops the pages of a block of ``data`` (a C-ordered view of a read-only map) from memory.

    Reading a mapped file puts its pages in the process's resident memory,
    so copying a 2 GB .npy would peak at the file plus the copy; each block's
    pages are let go once copied (the file stays in the system's cache, and a
    later read maps it again). Anything else (an array in memory, an older
    Python) gets a function that does nothing.
    """
    view = getattr(data, "_mmap", None)  # numpy.memmap's map, shared by its slices
    if view is None or not hasattr(view, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return lambda block: None
    start = host.frombuffer(view, dtype=host.uint8, count=1).ctypes.data
    page = mmap.PAGESIZE

    def release(block: Any) -> None:
        if not block.flags.c_contiguous:
            return
        first = block.ctypes.data - start
        low, high = -(-first // page) * page, (first + block.nbytes) // page * page  # whole pages only
        if high > low:
            try:
                view.madvise(mmap.MADV_DONTNEED, low, high - low)
            except (OSError, ValueError):
                pass

    return release
