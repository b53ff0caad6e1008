"""Reading a model file: its header alone (:func:`read_header`), or the whole file (:func:`load_model_file`),
each tensor read straight into its own array only after the header has been judged."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, BinaryIO, NamedTuple

from ..backend import host
from ..errors import GpubpError
from .header import DTYPES, _header, _open, _Tensor


class TensorInfo(NamedTuple):
    """What a model file's header says of one tensor, before any of it is read."""

    dtype: str  # the NumPy dtype name, e.g. "float32"
    shape: tuple[int, ...]
    nbytes: int


def read_header(
    path: str | os.PathLike, *, max_bytes: int | None = None
) -> tuple[dict[str, TensorInfo], dict[str, Any]]:
    """Each tensor's dtype, shape and size, and the metadata, from a model file's header alone.

    Reads the 8-byte header length and the JSON header (at most
    :data:`MAX_HEADER_BYTES`), checks them as :func:`load_model_file` does, and
    reads no tensor: a caller can judge the shapes (against the network the
    metadata describes, against a size it will allocate) before loading.

    Returns
    -------
    tensors : dict of str -> TensorInfo
        In the order of their bytes in the file.
    metadata : dict
        The gpubp metadata dict.

    Raises
    ------
    GpubpError
        As :func:`load_model_file`.
    """
    path = os.fspath(path)
    with _open(path) as (f, size):
        header = _header(path, f, size, max_bytes)
    return {name: TensorInfo(DTYPES[t.code], t.shape, t.nbytes) for name, t in header.tensors.items()}, header.metadata


def load_model_file(
    path: str | os.PathLike, *, max_bytes: int | None = None, allowed_dtypes: Iterable[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a model file written by :func:`save_model_file`, judging it from its header first.

    The header is read and checked before any tensor: its size, duplicate
    names (the format forbids them), each tensor's dtype, shape and byte range
    (contiguous, non-overlapping, inside the file, shape x itemsize = extent),
    the total size against ``max_bytes``, and the gpubp metadata. Only then is
    each tensor read, straight into its own array.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file with gpubp metadata.
    max_bytes : int or None
        The most tensor data to read. Default :func:`default_max_bytes`: 4 GiB,
        or half the memory available if that is less.
    allowed_dtypes : iterable of str or None
        NumPy dtype names a tensor may have (e.g. ``{"float32", "float64"}``);
        default: any in :data:`DTYPES`. A tensor of another dtype is refused, not cast.

    Returns
    -------
    tensors : dict of str -> numpy.ndarray
        Writeable host arrays owned by the caller, in their stored dtypes.
    metadata : dict
        The metadata dict, as saved (tuples come back as lists).

    Raises
    ------
    GpubpError
        One line, ``<path>: <what is wrong>``: missing or unreadable file, not a
        safetensors file (empty, truncated, corrupted, a pickle or zip), not a
        gpubp model, another format version, metadata that is not JSON, a
        tensor dtype that is not allowed, or more data than ``max_bytes``.
    """
    path = os.fspath(path)
    allowed = None if allowed_dtypes is None else set(allowed_dtypes)
    with _open(path) as (f, size):
        header = _header(path, f, size, max_bytes)
        if allowed is not None:
            for name, t in header.tensors.items():
                if DTYPES[t.code] not in allowed:
                    raise GpubpError(
                        f"{path}: tensor {name!r} has dtype {DTYPES[t.code]}; expected {', '.join(sorted(allowed))}"
                    )
        tensors = {name: _read_tensor(path, f, header.start + t.begin, t) for name, t in header.tensors.items()}
    return tensors, header.metadata


def _read_tensor(path: str, f: BinaryIO, offset: int, t: _Tensor) -> Any:
    """One tensor read straight into a new native-order array the caller owns."""
    dtype = host.dtype(DTYPES[t.code])
    out = host.empty(t.shape, dtype=dtype.newbyteorder("<"))  # the stored layout
    f.seek(offset)
    if f.readinto(out.reshape(-1).view(host.uint8)) != t.nbytes:  # type: ignore[attr-defined]
        raise GpubpError(f"{path}: not a safetensors file (truncated while reading: the file changed?)")
    return out.astype(dtype, copy=False)  # native byte order: no copy on a little-endian machine
